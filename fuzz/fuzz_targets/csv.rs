//! The CSV reader: `CsvSource` on the bytes as a training file. Two optional lines steer
//! it, so that the fuzzer explores the parameters too:
//! - a first line `#params {...}`: a JSON object of `CsvSource` parameters (`header`,
//!   `delimiter`, `label`, `shape`, `scale`, `valid_fraction`); `path` and `test_path`
//!   are set by the target;
//! - a line `#test`: what follows it is the test file (`test_path`).

#![no_main]

#[path = "common.rs"]
mod common;

use kiln_core::BuildContext;
use kiln_datasets::csv::CsvSource;
use libfuzzer_sys::fuzz_target;

fn split_once<'a>(data: &'a [u8], marker: &[u8]) -> (&'a [u8], Option<&'a [u8]>) {
    match data.windows(marker.len()).position(|w| w == marker) {
        Some(i) => (&data[..i], Some(&data[i + marker.len()..])),
        None => (data, None),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut params = serde_json::Map::new();
    let mut body = data;
    if let Some(rest) = data.strip_prefix(b"#params ") {
        let (line, after) = split_once(rest, b"\n");
        if let Ok(serde_json::Value::Object(p)) = serde_json::from_slice(line) {
            params = p;
        }
        body = after.unwrap_or_default();
    }
    let (train, test) = split_once(body, b"\n#test\n");
    let train_path = common::write("train.csv", train);
    params.insert("path".into(), train_path.to_string_lossy().into());
    params.remove("test_path");
    if let Some(test) = test {
        let test_path = common::write("test.csv", test);
        params.insert("test_path".into(), test_path.to_string_lossy().into());
    }
    let ctx = BuildContext::new(1).with_key("dataset");
    if let Ok(source) = CsvSource::from_params(&serde_json::Value::Object(params), &ctx) {
        let _ = source.load_with_classes();
    }
});
