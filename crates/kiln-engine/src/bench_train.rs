//! `kiln bench train`: training throughput of the built-in CNN and MLP on each backend this
//! binary was built with, in samples per second, for a side-by-side with PyTorch
//! (`docs/scripts/bench_train_pytorch.py` trains the same networks on the same data).
//!
//! What is timed is one epoch of optimisation steps (batch assembly, upload, forward,
//! backward, Adam) after a few untimed warm-up steps: the steady state a study lives in, not
//! the first kernels' compilation. Validation is left out; PyTorch's side does the same.
//! Each step reads its loss back, so the time covers the device's work, not just its queue.

use kiln_core::{
    BuildContext, Error, ImageSet, ModelSpec, OptimizerConfig, PluginSpec, Registry, Rng,
};
use serde::Serialize;
use std::time::Instant;

/// One (device, model) measurement.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBenchRow {
    /// The device name (`cpu`, `tch:cpu`, `cuda:0`).
    pub device: String,
    /// `cnn` or `mlp`, with their default hyperparameters.
    pub model: String,
    /// Trainable parameters.
    pub num_params: usize,
    /// Samples per batch.
    pub batch: usize,
    /// Samples in one timed epoch.
    pub samples: usize,
    /// Median seconds of one epoch over the repeats.
    pub seconds: f64,
    /// `samples / seconds`.
    pub samples_per_s: f64,
}

/// The devices this build can train on: always `cpu` (Burn's Flex), then `tch:cpu` with
/// the `tch` feature and `cuda:0` with the `cuda` feature.
pub fn built_devices() -> Vec<&'static str> {
    let mut devices = vec!["cpu"];
    if cfg!(feature = "tch") {
        devices.push("tch:cpu");
    }
    if cfg!(feature = "cuda") {
        devices.push("cuda:0");
    }
    devices
}

/// What every measurement shares.
pub struct TrainBench<'a> {
    /// Plugins (the models are the registered `cnn` and `mlp`).
    pub registry: &'a Registry,
    /// Training images.
    pub train: &'a ImageSet,
    /// Their shape and classes.
    pub spec: &'a ModelSpec,
    /// Samples per batch.
    pub batch: usize,
    /// Untimed steps before each timed epoch.
    pub warmup_steps: usize,
    /// Timed epochs (each on a fresh model); the median is reported.
    pub repeats: usize,
    /// Initialisation and data order.
    pub seed: u64,
}

impl TrainBench<'_> {
    /// Whether the batch fits the data and at least one epoch is timed.
    pub fn check(&self) -> kiln_core::Result<()> {
        if self.batch == 0 || self.train.len() < self.batch {
            return Err(Error::config(
                "--batch",
                format!(
                    "must be 1 to the {} training images, not {}",
                    self.train.len(),
                    self.batch
                ),
            ));
        }
        if self.repeats == 0 {
            return Err(Error::config("--repeats", "must be at least 1"));
        }
        Ok(())
    }

    /// Times `model` (a registered model kind, default parameters) on `device`.
    pub fn run(&self, device_name: &str, model: &str) -> kiln_core::Result<TrainBenchRow> {
        self.check()?;
        let device = crate::device::parse(device_name)
            .map_err(|m| Error::config("device", m))?
            .autodiff();
        let optimizer = OptimizerConfig::default();
        let factory = self.registry.build_model(
            &PluginSpec::named(model),
            &BuildContext::new(self.seed).with_key("model"),
        )?;
        let mut times = Vec::with_capacity(self.repeats);
        let mut num_params = 0;
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        for repeat in 0..self.repeats as u64 {
            let mut m = kiln_core::with_seed(&device, self.seed + repeat, || {
                factory.build(self.spec, &optimizer, &device)
            })?;
            num_params = m.num_params();
            Rng::derive(self.seed, &[repeat]).shuffle(&mut order);
            let batches: Vec<&[usize]> = order.chunks_exact(self.batch).collect();
            for chunk in batches.iter().cycle().take(self.warmup_steps) {
                let (x, y) = self.train.batch(chunk, &device);
                m.train_step(x, y, optimizer.lr)?;
            }
            let started = Instant::now();
            for chunk in &batches {
                let (x, y) = self.train.batch(chunk, &device);
                let stats = m.train_step(x, y, optimizer.lr)?;
                if !stats.loss.is_finite() {
                    return Err(Error::Training(format!(
                        "{model} on {device_name}: loss {} during the benchmark",
                        stats.loss
                    )));
                }
            }
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let seconds = times[times.len() / 2];
        let samples = (self.train.len() / self.batch) * self.batch;
        Ok(TrainBenchRow {
            device: device_name.to_string(),
            model: model.to_string(),
            num_params,
            batch: self.batch,
            samples,
            seconds,
            samples_per_s: samples as f64 / seconds,
        })
    }
}
