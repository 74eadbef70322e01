//! The IDX reader (MNIST's format): the bytes as a file, raw or gzip, through `idx::parse`
//! and `idx::read`. A result of 3 dimensions is then the images file, and one of 1
//! dimension the labels file, of an MNIST folder (with a generated partner of the matching
//! count) read by `MnistSource` (`mnist::read_pair`, then the validation split).

#![no_main]

#[path = "common.rs"]
mod common;

use kiln_core::{BuildContext, DatasetSource};
use kiln_datasets::{idx, mnist::MnistSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = common::write("data-idx-ubyte", data);
    let _ = idx::parse(data, &path);
    let Ok(a) = idx::read(&path) else {
        return;
    };
    let (images, labels) = match a.dims.as_slice() {
        [n, _, _] if *n <= 4096 => (data.to_vec(), idx::encode(&[*n], &vec![3; *n])),
        [n] if *n <= 4096 => (idx::encode(&[*n, 2, 2], &vec![128; *n * 4]), data.to_vec()),
        _ => return,
    };
    let dir = common::scratch().join("mnist");
    std::fs::create_dir_all(&dir).expect("create the MNIST folder");
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).expect("write images");
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels).expect("write labels");
    let ctx = BuildContext::new(1).with_key("dataset");
    let params = serde_json::json!({ "path": dir.to_string_lossy(), "valid_fraction": 0.5 });
    if let Ok(source) = MnistSource::from_params(&params, &ctx) {
        let _ = source.load();
    }
});
