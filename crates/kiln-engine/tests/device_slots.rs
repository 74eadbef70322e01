//! `devices` and `slots_per_device`: a study's workers are pinned to device slots, each
//! trial records the slot it ran on, a device that runs out of memory fails the trial with
//! the device's name (the study goes on), and bad device lists are refused by key.
//!
//! CI has no GPU, so the slots here are CPU slots and the device's out-of-memory is the
//! panic a backend raises (CubeCL and LibTorch both panic on a failed device allocation);
//! `scripts/gpu-check.sh` runs a real study on each visible GPU.

use kiln_core::{
    BuildContext, ModelFactory, ModelSpec, OptimizerConfig, ParamValue, Registry, TrainableModel,
    TrialState,
};
use kiln_engine::config::{PipelineBuilder, plugin};
use kiln_engine::run::{RunOptions, run};
use kiln_engine::storage::Storage;
use serde_json::json;
use std::collections::BTreeSet;

use kiln_datasets as _;
use kiln_models as _;
use kiln_schedulers as _;
use kiln_search as _;

/// An MLP whose width-16 build fails the way a full GPU does.
struct Greedy {
    width: u64,
    inner: kiln_models::MlpConfig,
}

impl ModelFactory for Greedy {
    fn build(
        &self,
        spec: &ModelSpec,
        opt: &OptimizerConfig,
        device: &kiln_core::burn::prelude::Device,
    ) -> kiln_core::Result<Box<dyn TrainableModel>> {
        if self.width == 16 {
            panic!("CUDA_ERROR_OUT_OF_MEMORY: out of memory allocating 4096 MiB");
        }
        self.inner.build(spec, opt, device)
    }
}

fn registry() -> Registry {
    let mut r = Registry::with_static_plugins().expect("built-ins");
    r.registrar("test")
        .model(
            "greedy",
            "an MLP that runs out of device memory at width 16",
            |params, ctx: &BuildContext| {
                let width = params
                    .get("width")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(64);
                let inner = kiln_models::MlpConfig::from_params(params, ctx)?;
                Ok(Box::new(Greedy { width, inner }))
            },
        )
        .expect("register");
    r
}

fn base(name: &str) -> PipelineBuilder {
    PipelineBuilder::new(name)
        .seed(5)
        .dataset(plugin(
            "glyphs",
            json!({ "train": 300, "valid": 60, "test": 60, "size": 12 }),
        ))
        .model(plugin("greedy", json!({ "layers": 1 })))
        .trainer(json!({ "epochs": 1, "batch_size": 30 }))
}

fn study(trials: usize) -> serde_json::Value {
    json!({ "kind": "tune", "trials": trials,
            "search": { "kind": "grid", "values": { "model.width": [16, 24, 32, 40, 48, 56] } },
            "space": { "model.width": { "type": "int", "low": 16, "high": 56, "step": 8 } } })
}

#[test]
fn trials_run_on_their_slots_and_a_device_out_of_memory_fails_only_its_trial() {
    let registry = registry();
    let pipeline = base("slots")
        .devices(&["cpu"])
        .slots_per_device(2)
        .stage(study(6))
        .build(&registry)
        .expect("valid");
    assert_eq!(pipeline.workers, 2, "one worker per slot");
    let dir = tempfile::tempdir().expect("tmp");
    let options = RunOptions {
        run_dir: dir.path().join("run"),
        quiet: true,
        storage: None,
    };
    run(pipeline, registry, &options).expect("the study finishes");
    let storage = Storage::open(&dir.path().join("run/kiln.db")).expect("db");
    let (study, _) = storage.studies().expect("studies")[0].clone();
    let trials = storage.trials(study).expect("trials");
    assert_eq!(trials.len(), 6);
    let mut slots = BTreeSet::new();
    for t in &trials {
        let at = t
            .attrs
            .get("system:kiln:device")
            .unwrap_or_else(|| panic!("trial {} has no slot: {:?}", t.number, t.attrs));
        assert_eq!(at["device"], "cpu");
        let slot = at["slot"].as_u64().expect("slot number");
        slots.insert(slot);
        if t.params.get("model.width") == Some(&ParamValue::Int(16)) {
            assert_eq!(t.state, TrialState::Fail);
            let reason = t.reason.as_deref().unwrap_or_default();
            assert!(
                reason.starts_with(&format!("out of memory on cpu slot {slot}: "))
                    && reason.contains("CUDA_ERROR_OUT_OF_MEMORY"),
                "{reason}"
            );
        } else {
            assert_eq!(t.state, TrialState::Complete, "{:?}", t.reason);
        }
    }
    assert!(slots.iter().all(|s| *s < 2), "{slots:?}");
}

#[test]
fn device_lists_are_checked_by_key() {
    let registry = registry();
    let err = |b: PipelineBuilder| b.build(&registry).expect_err("refused").to_string();
    let e = err(base("dup").devices(&["cpu", "flex"]).stage(study(1)));
    assert!(
        e.contains("devices[1]") && e.contains("same device as devices[0]"),
        "{e}"
    );
    let e = err(base("zero")
        .devices(&["cpu"])
        .slots_per_device(0)
        .stage(study(1)));
    assert!(
        e.contains("slots_per_device") && e.contains("1 to 64"),
        "{e}"
    );
    let e = err(base("many")
        .devices(&["cpu"])
        .slots_per_device(2)
        .workers(3)
        .stage(study(1)));
    assert!(
        e.contains("workers") && e.contains("only 2 device slots"),
        "{e}"
    );
    let mut stage = study(1);
    stage["workers"] = json!(3);
    let e = err(base("stage")
        .devices(&["cpu"])
        .slots_per_device(2)
        .stage(stage));
    assert!(e.contains("stages[0].workers"), "{e}");
    let e = err(base("gpu").devices(&["cpu", "gpu:0"]).stage(study(1)));
    assert!(
        e.contains("devices[1]") && e.contains("unknown device"),
        "{e}"
    );
    #[cfg(not(feature = "cuda"))]
    {
        let e = err(base("cuda").devices(&["cpu", "cuda:0"]).stage(study(1)));
        assert!(
            e.contains("devices[1]") && e.contains("--features cuda"),
            "{e}"
        );
    }
    // Without `devices`, `workers` trials share `device`, as before.
    let p = base("plain")
        .workers(3)
        .stage(study(1))
        .build(&registry)
        .expect("valid");
    let slots = p.study_slots(None);
    assert_eq!(slots.len(), 3);
    assert!(slots.iter().all(|s| s.device == "cpu"));
}
