//! The checkpoint reader, as the engine loads a checkpoint (`checkpoint::verify`, then
//! `TrainableModel::load`):
//! - the bytes as a `*.safetensors` file (no sidecar) checked and loaded into kiln's MLP
//!   (Burn's safetensors store behind it), once without and once with batch norm (whose
//!   running statistics are buffers, not parameters); a checkpoint that loads is then used
//!   (probabilities, one training step), so one that loads with the wrong shapes cannot
//!   hide;
//! - the bytes as the `*.state.json` sidecar of a valid weights file: `checkpoint::verify`
//!   (JSON, its `sha256` against the file's), then as `RunContext::train` reads it for
//!   `resume_schedule`: its `scheduler_state` given to every built-in scheduler's
//!   `load_state` after `start`, then a few steps and epochs.

#![no_main]

#[path = "common.rs"]
mod common;

use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::{Device, Int, TensorData};
use kiln_core::{
    BuildContext, DataSpec, EpochMetrics, ImageShape, ModelFactory, OptimizerConfig, PluginSpec,
    Registry, ScheduleContext, TrainableModel,
};
use kiln_engine::checkpoint;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

use kiln_models as _;
use kiln_schedulers as _;

/// The data the seed checkpoints were trained on: 1×8×8 glyphs, 10 classes.
const SPEC: DataSpec = DataSpec {
    shape: ImageShape {
        channels: 1,
        height: 8,
        width: 8,
    },
    num_classes: 10,
};

/// Schedulers and parameters that build (checked at start-up).
const SCHEDULERS: &[(&str, &str)] = &[
    ("constant", "{}"),
    ("step", r#"{"step_size": 3}"#),
    ("step", r#"{"step_epochs": 1}"#),
    ("multi_step", r#"{"milestones": [2, 5]}"#),
    ("multi_step", r#"{"milestone_epochs": [1, 3]}"#),
    ("exponential", r#"{"gamma": 0.9}"#),
    ("cosine", "{}"),
    ("cosine", r#"{"period": 4, "restarts": true, "t_mult": 2}"#),
    ("warmup", r#"{"steps": 4}"#),
    ("warmup", r#"{"epochs": 1, "then": {"kind": "cosine"}}"#),
    ("one_cycle", "{}"),
    ("reduce_on_plateau", "{}"),
    (
        "reduce_on_plateau",
        r#"{"monitor": "val_accuracy", "patience": 0}"#,
    ),
];

struct Fixture {
    registry: Registry,
    models: Vec<Box<dyn ModelFactory>>,
    /// A fresh model of each factory; one is rebuilt only after a checkpoint loaded into it
    /// (a refused load leaves the model as it was: `TrainableModel::load`'s contract).
    fresh: RefCell<Vec<Option<Box<dyn TrainableModel>>>>,
    schedulers: Vec<PluginSpec>,
    device: Device,
}

fn fixture() -> Fixture {
    let registry = Registry::with_static_plugins().expect("the built-in plugins register");
    let ctx = BuildContext::new(1).with_key("model");
    let models: Vec<Box<dyn ModelFactory>> = [
        r#"{"kind": "mlp", "layers": 1, "width": 4}"#,
        r#"{"kind": "mlp", "layers": 1, "width": 4, "batch_norm": true}"#,
    ]
    .iter()
    .map(|s| {
        let spec = PluginSpec::from_value(&serde_json::from_str(s).expect("json"), "model")
            .expect("model spec");
        registry.build_model(&spec, &ctx).expect("model builds")
    })
    .collect();
    let schedulers = SCHEDULERS
        .iter()
        .map(|(kind, params)| {
            let spec = PluginSpec {
                kind: kind.to_string(),
                params: serde_json::from_str(params).expect("json"),
            };
            registry
                .build_scheduler(&spec, &ctx.with_key("scheduler"))
                .unwrap_or_else(|e| panic!("scheduler {kind} {params}: {e}"));
            spec
        })
        .collect();
    let fresh = RefCell::new((0..models.len()).map(|_| None).collect());
    Fixture {
        registry,
        models,
        fresh,
        schedulers,
        device: Device::flex().autodiff(),
    }
}

thread_local! {
    static FIXTURE: Fixture = fixture();
}

/// A valid checkpoint of the first model (written by kiln), for the sidecar half.
const WEIGHTS: &[u8] = include_bytes!("../corpus/checkpoint/mlp.safetensors");

fn weights(f: &Fixture, data: &[u8]) {
    let path = common::write("model.safetensors", data);
    let _ = std::fs::remove_file(path.with_extension("state.json"));
    if checkpoint::verify(&path).is_err() {
        return;
    }
    let mut fresh = f.fresh.borrow_mut();
    for (factory, slot) in f.models.iter().zip(fresh.iter_mut()) {
        let model = match slot {
            Some(m) => m,
            None => slot.insert(
                kiln_core::with_seed(&f.device, 1, || {
                    factory.build(&SPEC, &OptimizerConfig::default(), &f.device)
                })
                .expect("the model builds"),
            ),
        };
        if model.load(&path).is_err() {
            continue;
        }
        let Some(mut model) = slot.take() else {
            continue;
        };
        let pixels: Vec<f32> = (0..2 * 64).map(|i| (i % 7) as f32 / 7.0).collect();
        let images = Tensor::<4>::from_data(TensorData::new(pixels, [2, 1, 8, 8]), &f.device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 7], [2]), &f.device);
        let _ = model.predict_proba(images.clone());
        let _ = model.train_step(images, labels, 0.01);
    }
}

fn sidecar(f: &Fixture, data: &[u8]) {
    let weights = common::write("valid.safetensors", WEIGHTS);
    common::write("valid.state.json", data);
    let _ = checkpoint::verify(&weights);
    // As `RunContext::train`: UTF-8 text, JSON, its `scheduler_state`.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(state) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let Some(state) = state.get("scheduler_state") else {
        return;
    };
    let ctx = BuildContext::new(1).with_key("scheduler");
    let run = ScheduleContext {
        base_lr: 0.1,
        steps_per_epoch: 3,
        epochs: 4,
    };
    for spec in &f.schedulers {
        let Ok(mut s) = f.registry.build_scheduler(spec, &ctx) else {
            continue;
        };
        if s.start(&run).is_err() || s.load_state(state).is_err() {
            continue;
        }
        for epoch in 0..3 {
            for _ in 0..3 {
                let _ = s.step();
            }
            let metrics = EpochMetrics {
                val_loss: 1.0 / (epoch + 1) as f64,
                val_accuracy: 0.5,
            };
            s.end_epoch(epoch, &metrics);
        }
        let _ = s.state();
    }
}

fuzz_target!(|data: &[u8]| {
    FIXTURE.with(|f| {
        weights(f, data);
        sidecar(f, data);
    });
});
