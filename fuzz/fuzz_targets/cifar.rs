//! The CIFAR-10 binary reader: the bytes as one batch file, through `cifar10::parse` (all
//! records, and a limit of one), `cifar10::read_batch`, and `Cifar10Source` over a folder
//! holding it as `data_batch_1.bin` (then the validation split).

#![no_main]

#[path = "common.rs"]
mod common;

use kiln_core::{BuildContext, DatasetSource};
use kiln_datasets::cifar10::{self, Cifar10Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch().join("cifar");
    std::fs::create_dir_all(&dir).expect("create the CIFAR folder");
    let path = dir.join("data_batch_1.bin");
    std::fs::write(&path, data).expect("write the batch");
    for max in [None, Some(1)] {
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        let _ = cifar10::parse(data, &path, max, &mut pixels, &mut labels);
    }
    let _ = cifar10::read_batch(&path, None);
    let ctx = BuildContext::new(1).with_key("dataset");
    let params = serde_json::json!({ "path": dir.to_string_lossy(), "valid_fraction": 0.5 });
    if let Ok(source) = Cifar10Source::from_params(&params, &ctx) {
        let _ = source.load();
    }
});
