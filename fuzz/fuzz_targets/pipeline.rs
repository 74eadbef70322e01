//! The pipeline parser: a pipeline file's bytes → TOML → `PipelineConfig` → a validated
//! `Pipeline`, against every built-in plugin (what `kiln run` does before it runs anything,
//! less loading the `plugins = [...]` libraries). Lines `#set key=value` (TOML comments)
//! are also given as `--set` overrides, so the override parser is fuzzed too.

#![no_main]

#[path = "common.rs"]
mod common;

use kiln_core::Registry;
use kiln_engine::config::{self, Pipeline};
use libfuzzer_sys::fuzz_target;

// Link every built-in plugin crate, so `with_static_plugins` sees them (as the CLI does).
use kiln_augment as _;
use kiln_datasets as _;
use kiln_ensemble as _;
use kiln_models as _;
use kiln_pruners as _;
use kiln_schedulers as _;
use kiln_search as _;
use kiln_stages as _;

thread_local! {
    static REGISTRY: Registry =
        Registry::with_static_plugins().expect("the built-in plugins register");
}

fuzz_target!(|data: &[u8]| {
    let sets: Vec<String> = String::from_utf8_lossy(data)
        .lines()
        .filter_map(|l| l.strip_prefix("#set "))
        .map(str::to_string)
        .collect();
    let path = common::write("pipeline.toml", data);
    if let Ok((raw, source)) = config::load(&path, &sets) {
        REGISTRY.with(|r| {
            let _ = Pipeline::validate(raw, &source, r);
        });
    }
});
