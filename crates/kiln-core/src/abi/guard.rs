//! Panic guards around plugin objects.
//!
//! A guard is created where the plugin's factory runs — inside the plugin's own copy of this
//! crate when the plugin is a shared library — so the `catch_unwind` that stops a panic runs
//! in the same standard library that started it. A caught panic becomes an
//! [`Error::Plugin`] naming the plugin and the message. Methods that cannot return an error
//! return a neutral value after a panic (a NaN learning rate, which the trainer reports as a
//! divergence; an empty state).

use crate::{
    Augmenter, DatasetSource, Ensembler, Error, EvalStats, Family, FrozenTrial, ModelFactory,
    ModelSpec, OptimizerConfig, Predictions, PruneDecision, Pruner, Result, Rng, ScheduleContext,
    Scheduler, SearchSpace, SearchStrategy, Splits, Stage, StageContext, StepStats, StudyView,
    Suggestion, TrainableModel,
};
use burn::Tensor;
use burn::prelude::{Device, Int};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// The message of a panic payload.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `f`, turning a panic into an error of plugin `name`.
pub fn run<T>(family: Family, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(Error::Plugin {
            family,
            name: name.to_string(),
            message: format!("panicked: {}", panic_text(p.as_ref())),
        })
    })
}

fn quiet<T>(f: impl FnOnce() -> T, fallback: T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// A guarded object: the plugin's object and its registered name.
pub struct Guarded<T: ?Sized> {
    inner: Box<T>,
    name: String,
}

impl<T: ?Sized> Guarded<T> {
    /// Wraps `inner`, built by plugin `name`.
    pub fn new(inner: Box<T>, name: &str) -> Self {
        Guarded {
            inner,
            name: name.to_string(),
        }
    }
}

impl DatasetSource for Guarded<dyn DatasetSource> {
    fn load(&self) -> Result<Splits> {
        run(Family::Dataset, &self.name, || self.inner.load())
    }
}

impl Augmenter for Guarded<dyn Augmenter> {
    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        run(Family::Augmenter, &self.name, || {
            self.inner.augment(images, rng)
        })
    }
    fn augment_batch(&self, batch: crate::Batch, rng: &mut Rng) -> Result<crate::Batch> {
        run(Family::Augmenter, &self.name, || {
            self.inner.augment_batch(batch, rng)
        })
    }
    fn has_host_path(&self) -> bool {
        quiet(|| self.inner.has_host_path(), false)
    }
    fn augment_host(&self, images: &mut crate::HostImages, rng: &mut Rng) -> Result<()> {
        run(Family::Augmenter, &self.name, || {
            self.inner.augment_host(images, rng)
        })
    }
}

impl ModelFactory for Guarded<dyn ModelFactory> {
    fn build(
        &self,
        spec: &ModelSpec,
        optimizer: &OptimizerConfig,
        device: &Device,
    ) -> Result<Box<dyn TrainableModel>> {
        let model = run(Family::Model, &self.name, || {
            self.inner.build(spec, optimizer, device)
        })?;
        Ok(Box::new(Guarded::new(model, &self.name)))
    }
}

impl TrainableModel for Guarded<dyn TrainableModel> {
    fn train_step(
        &mut self,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
        lr: f64,
    ) -> Result<StepStats> {
        let inner = &mut self.inner;
        run(Family::Model, &self.name, || {
            inner.train_step(images, labels, lr)
        })
    }
    fn train_step_soft(
        &mut self,
        images: Tensor<4>,
        targets: Tensor<2>,
        lr: f64,
    ) -> Result<StepStats> {
        let inner = &mut self.inner;
        run(Family::Model, &self.name, || {
            inner.train_step_soft(images, targets, lr)
        })
    }
    fn eval_batch(&self, images: Tensor<4>, labels: Tensor<1, Int>) -> Result<EvalStats> {
        run(Family::Model, &self.name, || {
            self.inner.eval_batch(images, labels)
        })
    }
    fn predict_proba(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        run(Family::Model, &self.name, || {
            self.inner.predict_proba(images)
        })
    }
    fn num_params(&self) -> usize {
        quiet(|| self.inner.num_params(), 0)
    }
    fn draws_randomly(&self) -> bool {
        quiet(|| self.inner.draws_randomly(), true)
    }
    fn device(&self) -> &Device {
        self.inner.device()
    }
    fn save(&self, path: &Path) -> Result<()> {
        run(Family::Model, &self.name, || self.inner.save(path))
    }
    fn load(&mut self, path: &Path) -> Result<()> {
        let inner = &mut self.inner;
        run(Family::Model, &self.name, || inner.load(path))
    }
    fn probe(&self, images: Tensor<4>, bins: usize) -> Result<Vec<crate::LayerHealth>> {
        run(Family::Model, &self.name, || self.inner.probe(images, bins))
    }
    fn weights(&self) -> Result<Vec<(String, Vec<f32>)>> {
        run(Family::Model, &self.name, || self.inner.weights())
    }
    fn fold_average(&mut self, decay: f64) -> Result<()> {
        let inner = &mut self.inner;
        run(Family::Model, &self.name, || inner.fold_average(decay))
    }
    fn swap_average(&mut self) -> Result<()> {
        let inner = &mut self.inner;
        run(Family::Model, &self.name, || inner.swap_average())
    }
}

impl Scheduler for Guarded<dyn Scheduler> {
    fn start(&mut self, ctx: &ScheduleContext) -> Result<()> {
        let inner = &mut self.inner;
        run(Family::Scheduler, &self.name, || inner.start(ctx))
    }
    fn step(&mut self) -> f64 {
        let inner = &mut self.inner;
        quiet(|| inner.step(), f64::NAN)
    }
    fn end_epoch(&mut self, epoch: usize, metrics: &crate::EpochMetrics) {
        let inner = &mut self.inner;
        quiet(|| inner.end_epoch(epoch, metrics), ());
    }
    fn state(&self) -> serde_json::Value {
        quiet(|| self.inner.state(), serde_json::Value::Null)
    }
    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let inner = &mut self.inner;
        run(Family::Scheduler, &self.name, || inner.load_state(state))
    }
}

impl SearchStrategy for Guarded<dyn SearchStrategy> {
    fn ask(
        &mut self,
        space: &SearchSpace,
        study: &StudyView<'_>,
        number: u64,
    ) -> Result<Suggestion> {
        let inner = &mut self.inner;
        run(Family::Search, &self.name, || {
            inner.ask(space, study, number)
        })
    }
    fn tell(&mut self, trial: &FrozenTrial) -> Result<()> {
        let inner = &mut self.inner;
        run(Family::Search, &self.name, || inner.tell(trial))
    }
    fn save_state(&self) -> Result<serde_json::Value> {
        run(Family::Search, &self.name, || self.inner.save_state())
    }
    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let inner = &mut self.inner;
        run(Family::Search, &self.name, || inner.load_state(state))
    }
}

impl Pruner for Guarded<dyn Pruner> {
    fn should_prune(&self, study: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision> {
        run(Family::Pruner, &self.name, || {
            self.inner.should_prune(study, trial)
        })
    }
}

impl Ensembler for Guarded<dyn Ensembler> {
    fn fit(&self, candidates: &[Predictions], labels: &[u32]) -> Result<Vec<f64>> {
        run(Family::Ensembler, &self.name, || {
            self.inner.fit(candidates, labels)
        })
    }
    fn combine(&self, members: &[&Predictions], weights: &[f64]) -> Result<Predictions> {
        run(Family::Ensembler, &self.name, || {
            self.inner.combine(members, weights)
        })
    }
}

impl Stage for Guarded<dyn Stage> {
    fn run(&self, ctx: &dyn StageContext) -> Result<crate::StageOutput> {
        run(Family::Stage, &self.name, || self.inner.run(ctx))
    }
    fn reads(&self) -> Vec<crate::StageInput> {
        quiet(|| self.inner.reads(), Vec::new())
    }
}
