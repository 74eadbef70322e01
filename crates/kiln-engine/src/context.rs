//! What a run shares with its stages: [`RunContext`] (the pipeline, registry, data,
//! storage and earlier outputs) and [`StageView`], its [`StageContext`] face for one stage.
//!
//! `run` drives the stages, `tune` runs studies, and both reach everything through here, so
//! neither imports the other's internals.

use crate::config::{Pipeline, PipelineStage};
use crate::error::{EngineError, Result};
use crate::progress::Progress;
use crate::storage::{HealthRow, Storage};
use crate::trainer::{self, TrainRequest};
use burn::prelude::Device;
use kiln_core::train::{Control, EpochReport, TrainOutcome, TrainSpec};
use kiln_core::{
    Augmenter, BuildContext, Direction, Error, FrozenTrial, ImageSet, ModelRef, Params,
    Predictions, Recipe, Registry, Rng, Split, Splits, StageContext, StageOutput, TrainableModel,
};
use std::path::{Path, PathBuf};

/// Everything stages share during a run.
pub struct RunContext {
    /// The validated pipeline.
    pub pipeline: Pipeline,
    /// Plugins.
    pub registry: Registry,
    /// The loaded data.
    pub splits: Splits,
    /// The study database.
    pub storage: Storage,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The (non-autodiff) device.
    pub device: Device,
    /// Augmenters for training batches.
    pub augmenters: Vec<Box<dyn Augmenter>>,
    /// Outputs of finished stages, in pipeline order.
    pub outputs: Vec<(String, StageOutput)>,
    /// Progress printer.
    pub progress: Progress,
}

/// The study name of a tune stage.
pub fn study_name(pipeline: &str, stage: &str) -> String {
    format!("{pipeline}.{stage}")
}

/// Writes `value` to `path` atomically (a temporary file renamed into place).
pub fn write_json_atomic(path: &Path, value: &serde_json::Value) -> Result<()> {
    let err = |e: std::io::Error| EngineError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let tmp = path.with_extension("json.partial");
    let text = serde_json::to_string_pretty(value).map_err(|e| EngineError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

pub(crate) fn core(e: EngineError) -> Error {
    match e {
        EngineError::Core(c) => c,
        other => Error::Training(other.to_string()),
    }
}

impl RunContext {
    /// A seed derived from the pipeline's for `(stage index, item)`.
    pub fn seed(&self, parts: &[u64]) -> u64 {
        Rng::derive(self.pipeline.seed, parts).next_u64()
    }

    /// A build context for plugin `key` with `seed`.
    pub fn build_ctx(&self, key: &str, seed: u64) -> BuildContext {
        BuildContext {
            seed,
            base_dir: self.pipeline.base_dir.clone(),
            key: key.to_string(),
        }
    }

    /// The locks of every finished stage, merged in order.
    pub fn locks(&self) -> Params {
        let mut all = Params::new();
        for (_, out) in &self.outputs {
            all.extend(out.locks.clone());
        }
        all
    }

    /// The recipe with `params` merged over the base config and the locks.
    pub fn recipe(&self, params: &Params) -> kiln_core::Result<Recipe> {
        let mut merged = self.locks();
        merged.extend(params.clone());
        self.pipeline.recipe(&merged)
    }

    /// An earlier stage's output.
    pub fn output(&self, stage: &str) -> Option<&StageOutput> {
        self.outputs
            .iter()
            .find(|(n, _)| n == stage)
            .map(|(_, o)| o)
    }

    /// A fresh model for `recipe`, initialised from `seed`.
    pub fn build_model(
        &self,
        recipe: &Recipe,
        seed: u64,
    ) -> kiln_core::Result<Box<dyn TrainableModel>> {
        self.build_model_on(&self.device, recipe, seed)
    }

    /// A fresh model for `recipe` on `device` (a study's slot), initialised from `seed`.
    pub fn build_model_on(
        &self,
        device: &Device,
        recipe: &Recipe,
        seed: u64,
    ) -> kiln_core::Result<Box<dyn TrainableModel>> {
        let factory = self
            .registry
            .build_model(&recipe.model, &self.build_ctx("model", seed))?;
        let device = device.clone().autodiff();
        kiln_core::with_seed(&device, seed, || {
            factory.build(&self.splits.spec, &recipe.optimizer, &device)
        })
    }

    /// The checkpoint folder, created on demand.
    pub fn checkpoint_dir(&self) -> Result<PathBuf> {
        let dir = self.run_dir.join("checkpoints");
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::File {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        Ok(dir)
    }

    /// Trains a run of `spec` through the one trainer: a fresh model (or `init_from`'s
    /// weights), the recipe's scheduler and augmenters. Health records go to the
    /// database under `stage` (and `trial`).
    pub fn train(
        &self,
        stage: &str,
        trial: Option<u64>,
        spec: &TrainSpec<'_>,
        on_epoch: &mut dyn FnMut(&EpochReport) -> kiln_core::Result<Control>,
    ) -> Result<TrainOutcome> {
        self.train_on(&self.device, stage, trial, spec, on_epoch)
    }

    /// [`RunContext::train`] on `device` instead of the run's: a study trial on its slot.
    /// Batches follow the model, so the whole run stays on `device`.
    pub fn train_on(
        &self,
        device: &Device,
        stage: &str,
        trial: Option<u64>,
        spec: &TrainSpec<'_>,
        on_epoch: &mut dyn FnMut(&EpochReport) -> kiln_core::Result<Control>,
    ) -> Result<TrainOutcome> {
        let mut model = self.build_model_on(device, spec.recipe, spec.seed)?;
        let mut scheduler_state = None;
        if let Some(init) = &spec.init_from {
            let path = self.run_dir.join(init);
            crate::checkpoint::verify(&path)?;
            model.load(&path)?;
            if spec.resume_schedule {
                let sidecar = path.with_extension("state.json");
                let bad = |message: String| {
                    EngineError::Core(Error::Checkpoint {
                        path: sidecar.clone(),
                        message,
                    })
                };
                let text = std::fs::read_to_string(&sidecar)
                    .map_err(|e| bad(format!("cannot read the scheduler state: {e}")))?;
                let state: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
                scheduler_state = Some(
                    state
                        .get("scheduler_state")
                        .cloned()
                        .ok_or_else(|| bad("no `scheduler_state`".into()))?,
                );
            }
        }
        let mut scheduler = self.registry.build_scheduler(
            &spec.recipe.scheduler,
            &self.build_ctx("scheduler", spec.seed),
        )?;
        // The recipe's augmenters: a trial may have searched their strengths.
        let augmenters = spec
            .recipe
            .augment
            .iter()
            .enumerate()
            .map(|(i, a)| {
                self.registry
                    .build_augmenter(a, &self.build_ctx(&format!("augment[{i}]"), spec.seed))
            })
            .collect::<kiln_core::Result<Vec<_>>>()?;
        let checkpoints = match &spec.checkpoints {
            Some(policy) => Some((self.checkpoint_dir()?, policy.clone())),
            None => None,
        };
        let req = TrainRequest {
            train: spec.train.unwrap_or(&self.splits.train),
            valid: spec.valid.unwrap_or(&self.splits.valid),
            recipe: spec.recipe,
            epochs: spec.epochs,
            seed: spec.seed,
            augmenters: &augmenters,
            classes: self.splits.spec.num_classes,
            checkpoints,
            run_dir: &self.run_dir,
            early_stopping: spec.early_stopping,
            scheduler_state,
            time_limit: spec.time_limit,
            memory_limit: spec.memory_limit,
        };
        let mut with_health = |r: &EpochReport| -> kiln_core::Result<Control> {
            if let Some(h) = &r.health {
                let row = HealthRow {
                    stage: stage.to_string(),
                    trial,
                    epoch: r.epoch,
                    health: serde_json::to_value(h)
                        .map_err(|e| Error::Training(format!("health record: {e}")))?,
                };
                self.storage
                    .record_health(&self.pipeline.name, &row)
                    .map_err(core)?;
            }
            on_epoch(r)
        };
        trainer::train(model.as_mut(), scheduler.as_mut(), &req, &mut with_health)
    }
}

/// One stage's view of the run.
pub struct StageView<'a> {
    /// The run.
    pub run: &'a RunContext,
    /// The stage.
    pub stage: &'a PipelineStage,
    /// Its seed.
    pub seed: u64,
    /// Training runs this stage has started (health records of the second and later runs
    /// are kept apart as `stage (run N)`).
    pub runs: std::cell::Cell<u64>,
}

impl<'a> StageView<'a> {
    /// The view of `stage`, with its seed.
    pub fn new(run: &'a RunContext, stage: &'a PipelineStage, seed: u64) -> Self {
        StageView {
            run,
            stage,
            seed,
            runs: std::cell::Cell::new(0),
        }
    }
}

impl StageContext for StageView<'_> {
    fn name(&self) -> &str {
        &self.stage.name
    }
    fn run_dir(&self) -> &Path {
        &self.run.run_dir
    }
    fn seed(&self) -> u64 {
        self.seed
    }
    fn progress(&self, message: &str) {
        self.run
            .progress
            .line(&format!("[{}] {message}", self.stage.name));
    }
    fn splits(&self) -> &Splits {
        &self.run.splits
    }
    fn augmenters(&self) -> &[Box<dyn Augmenter>] {
        &self.run.augmenters
    }
    fn registry(&self) -> &Registry {
        &self.run.registry
    }
    fn output(&self, stage: &str) -> Option<&StageOutput> {
        self.run.output(stage)
    }
    fn outputs(&self) -> Vec<(&str, &StageOutput)> {
        self.run
            .outputs
            .iter()
            .map(|(n, o)| (n.as_str(), o))
            .collect()
    }
    fn recipe(&self, params: &Params) -> kiln_core::Result<Recipe> {
        self.run.recipe(params)
    }
    fn build_model(
        &self,
        recipe: &Recipe,
        seed: u64,
    ) -> kiln_core::Result<Box<dyn TrainableModel>> {
        self.run.build_model(recipe, seed)
    }
    fn load_model(
        &self,
        params: &Params,
        checkpoint: &Path,
    ) -> kiln_core::Result<Box<dyn TrainableModel>> {
        let recipe = self.run.recipe(params)?;
        let mut model = self.run.build_model(&recipe, 0)?;
        let path = self.run.run_dir.join(checkpoint);
        crate::checkpoint::verify(&path)?;
        model.load(&path)?;
        Ok(model)
    }
    fn train(
        &self,
        spec: &TrainSpec<'_>,
        on_epoch: &mut dyn FnMut(&EpochReport) -> kiln_core::Result<Control>,
    ) -> kiln_core::Result<TrainOutcome> {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let label = if n == 1 {
            self.stage.name.clone()
        } else {
            format!("{} (run {n})", self.stage.name)
        };
        self.run.train(&label, None, spec, on_epoch).map_err(core)
    }
    fn evaluate(
        &self,
        model: &dyn TrainableModel,
        set: &ImageSet,
    ) -> kiln_core::Result<(f64, f64)> {
        trainer::evaluate(model, set, self.run.pipeline.trainer.eval_batch_size)
    }
    fn predict(
        &self,
        model: &dyn TrainableModel,
        set: &ImageSet,
    ) -> kiln_core::Result<Predictions> {
        trainer::predict(
            model,
            set,
            self.run.pipeline.trainer.eval_batch_size,
            self.run.splits.spec.num_classes,
        )
    }
    fn model_predictions(&self, model: &ModelRef, split: Split) -> kiln_core::Result<Predictions> {
        crate::prediction_cache::model_predictions(self.run, self, model, split)
    }
    fn study(&self, stage: &str) -> kiln_core::Result<(Vec<Direction>, Vec<FrozenTrial>)> {
        let name = study_name(&self.run.pipeline.name, stage);
        let storage = &self.run.storage;
        let id = storage
            .studies()
            .map_err(core)?
            .into_iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| id)
            .ok_or_else(|| Error::Training(format!("no study `{name}` in the run's database")))?;
        Ok((
            storage.directions(id).map_err(core)?,
            storage.trials(id).map_err(core)?,
        ))
    }
    fn checkpoint_dir(&self) -> kiln_core::Result<PathBuf> {
        self.run.checkpoint_dir().map_err(core)
    }
}
