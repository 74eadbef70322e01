//! The kiln trainer against a hand-written Burn loop, same model, data and batches, in one
//! process: per-epoch time (training plus validation), six interleaved rounds (the hand
//! loop first in half of them, last in the others), medians.
//!
//! ```sh
//! cargo run --release -p kiln-engine --example trainer_overhead            # glyphs
//! cargo run --release -p kiln-engine --example trainer_overhead -- ../shared/data/mnist-5k
//! ```
//! Figures are recorded in docs/benchmarks.md.

use burn::Tensor;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::{Device, Int};
use kiln_core::train::{Control, EpochReport};
use kiln_core::{
    BuildContext, Classifier, ClassifierAdapter, ImageSet, OptimizerConfig, PluginSpec, Recipe,
    Registry, Rng, TrainerConfig,
};
use kiln_engine::trainer::{self, TrainRequest};
use std::time::Instant;

use kiln_datasets as _;
use kiln_schedulers as _;

const BATCH: usize = 64;

fn hand_epoch<M: Classifier>(
    mut model: M,
    optim: &mut burn::optim::ModuleOptimizer,
    train: &ImageSet,
    valid: &ImageSet,
    epoch: u64,
    seed: u64,
    device: &Device,
) -> (M, f64, f64) {
    let started = Instant::now();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut order: Vec<usize> = (0..train.len()).collect();
    Rng::derive(seed, &[0x5EED, epoch]).shuffle(&mut order);
    for chunk in order.chunks(BATCH) {
        let (x, y) = train.batch(chunk, device);
        let loss = loss_fn.forward(model.forward(x), y);
        let _: f32 = loss.clone().into_scalar();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    // Validation on the inner module, as the trainer does.
    let inner = model.valid();
    let inner_device = device.clone().inner();
    let (mut correct, all): (i64, Vec<usize>) = (0, (0..valid.len()).collect());
    for chunk in all.chunks(500) {
        let (x, y) = valid.batch(chunk, &inner_device);
        let n = chunk.len();
        let pred: Tensor<1, Int> = inner.forward(x).argmax(1).reshape([n]);
        correct += pred.equal(y).int().sum().into_scalar::<i64>();
    }
    let acc = correct as f64 / valid.len() as f64;
    (model, started.elapsed().as_secs_f64(), acc)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

type Times = (Vec<f64>, Vec<f64>, Vec<f64>);

/// What every measurement shares.
struct Bench<'a> {
    registry: &'a Registry,
    splits: &'a kiln_core::Splits,
    device: &'a Device,
    optimizer: &'a OptimizerConfig,
    rounds: u64,
    epochs: usize,
}

impl Bench<'_> {
    /// Per-epoch times of the hand loop, kiln, and kiln with probes, on modules from `make`.
    fn measure<M: Classifier>(
        &self,
        kind: &str,
        make: impl Fn() -> kiln_core::Result<M>,
    ) -> Result<Times, Box<dyn std::error::Error>> {
        let (train, valid) = (&self.splits.train, &self.splits.valid);
        let (mut hand, mut kiln, mut probed) = (Vec::new(), Vec::new(), Vec::new());
        let hand_run = |round: u64, hand: &mut Vec<f64>| -> kiln_core::Result<()> {
            let mut optim = self.optimizer.build();
            let mut m = make()?;
            for e in 0..self.epochs as u64 {
                let (next, secs, _) =
                    hand_epoch(m, &mut optim, train, valid, e, round, self.device);
                m = next;
                hand.push(secs);
            }
            Ok(())
        };
        for round in 0..self.rounds {
            // The hand loop goes first in even rounds and last in odd ones: no position bias.
            if round % 2 == 0 {
                hand_run(round, &mut hand)?;
            }
            for (probes, sink) in [(false, &mut kiln), (true, &mut probed)] {
                let mut model = ClassifierAdapter::boxed(make()?, self.optimizer, self.device);
                let recipe = Recipe {
                    model: PluginSpec::named(kind),
                    optimizer: self.optimizer.clone(),
                    scheduler: PluginSpec::named("constant"),
                    trainer: TrainerConfig {
                        batch_size: BATCH,
                        epochs: self.epochs,
                        probes,
                        ..TrainerConfig::default()
                    },
                    augment: Vec::new(),
                };
                let mut scheduler = self.registry.build_scheduler(
                    &recipe.scheduler,
                    &BuildContext::new(1).with_key("scheduler"),
                )?;
                let run_dir = std::env::temp_dir();
                let req = TrainRequest {
                    train,
                    valid,
                    recipe: &recipe,
                    epochs: self.epochs,
                    seed: round,
                    augmenters: &[],
                    classes: self.splits.spec.num_classes,
                    checkpoints: None,
                    run_dir: &run_dir,
                    early_stopping: None,
                    scheduler_state: None,
                    time_limit: None,
                    memory_limit: None,
                };
                let mut on_epoch = |_: &EpochReport| Ok(Control::Continue);
                let out = trainer::train(model.as_mut(), scheduler.as_mut(), &req, &mut on_epoch)?;
                sink.extend(out.epochs.iter().map(|e| e.seconds));
            }
            if round % 2 == 1 {
                hand_run(round, &mut hand)?;
            }
        }
        Ok((hand, kiln, probed))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mnist = std::env::args().nth(1);
    let registry = Registry::with_static_plugins()?;
    let data = match &mnist {
        Some(path) => PluginSpec::from_value(
            &serde_json::json!({ "kind": "mnist", "path": path, "valid_fraction": 0.1 }),
            "dataset",
        )?,
        None => PluginSpec::from_value(
            &serde_json::json!({ "kind": "glyphs", "train": 3000, "valid": 500 }),
            "dataset",
        )?,
    };
    let splits = registry
        .build_dataset(&data, &BuildContext::new(1).with_key("dataset"))?
        .load()?;
    let device = Device::flex().autodiff();
    let optimizer = OptimizerConfig::default();
    let (rounds, epochs) = (6u64, 2usize);
    println!(
        "data: {} ({} train, {} valid); batch {BATCH}; {rounds} rounds × {epochs} epochs each",
        if mnist.is_some() { "mnist" } else { "glyphs" },
        splits.train.len(),
        splits.valid.len()
    );
    let ctx = BuildContext::new(1).with_key("model");
    let cfg = serde_json::json!({});
    let mlp = kiln_models::MlpConfig::from_params(&cfg, &ctx)?;
    let cnn = kiln_models::CnnConfig::from_params(&cfg, &ctx)?;
    let bench = Bench {
        registry: &registry,
        splits: &splits,
        device: &device,
        optimizer: &optimizer,
        rounds,
        epochs,
    };
    let mlp = bench.measure("mlp", || {
        kiln_core::with_seed(&device, 7, || mlp.init(&splits.spec, &device))
    })?;
    let cnn = bench.measure("cnn", || {
        kiln_core::with_seed(&device, 7, || cnn.init(&splits.spec, &device))
    })?;
    for (kind, (mut hand, mut kiln, mut probed)) in [("mlp", mlp), ("cnn", cnn)] {
        let (h, k, p) = (median(&mut hand), median(&mut kiln), median(&mut probed));
        println!(
            "{kind}: hand-written {h:.3} s/epoch, kiln {k:.3} s/epoch ({:+.1} %), kiln with probes {p:.3} s/epoch ({:+.1} %)",
            (k / h - 1.0) * 100.0,
            (p / h - 1.0) * 100.0
        );
    }
    Ok(())
}
