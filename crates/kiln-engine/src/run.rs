//! A pipeline run: its directory, its database, its stages in order.

use crate::config::{Pipeline, Recipe, StageSpec};
use crate::error::{EngineError, Result};
use crate::progress::Progress;
use crate::storage::Storage;
use crate::{stages, tune};
use burn::prelude::Device;
use kiln_core::{Augmenter, BuildContext, Registry, Rng, Splits, TrainableModel};

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
    /// Outputs of finished stages.
    pub outputs: serde_json::Map<String, serde_json::Value>,
    /// Progress printer.
    pub progress: Progress,
}

/// The database file of a run directory.
pub fn db_path(run_dir: &Path) -> PathBuf {
    run_dir.join("kiln.db")
}

/// The study name of a tune stage.
pub fn study_name(pipeline: &str, stage: &str) -> String {
    format!("{pipeline}.{stage}")
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

    /// A fresh model for `recipe`, initialised from `seed`.
    pub fn build_model(
        &self,
        recipe: &Recipe,
        seed: u64,
    ) -> kiln_core::Result<Box<dyn TrainableModel>> {
        let factory = self
            .registry
            .build_model(&recipe.model, &self.build_ctx("model", seed))?;
        let device = self.device.clone().autodiff();
        kiln_core::with_seed(&device, seed, || {
            factory.build(&self.splits.spec, &recipe.optimizer, &device)
        })
    }

    /// The model of `recipe` with the weights of `checkpoint`.
    pub fn load_model(
        &self,
        recipe: &Recipe,
        checkpoint: &Path,
    ) -> kiln_core::Result<Box<dyn TrainableModel>> {
        let mut model = self.build_model(recipe, 0)?;
        model.load(checkpoint)?;
        Ok(model)
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
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run directory.
    pub run_dir: PathBuf,
    /// No progress lines.
    pub quiet: bool,
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

/// Runs `pipeline`: loads the data, runs each stage not yet finished in this run directory,
/// records outputs in the database and `summary.json`. Returns the summary.
pub fn run(
    pipeline: Pipeline,
    registry: Registry,
    options: &RunOptions,
) -> Result<serde_json::Value> {
    let progress = Progress::new(options.quiet);
    let device = crate::device::parse(&pipeline.device)
        .map_err(|m| EngineError::Core(kiln_core::Error::config("device", m)))?;
    progress.line(&format!("loading dataset `{}`", pipeline.dataset.kind));
    let data_ctx = BuildContext {
        seed: pipeline.seed,
        base_dir: pipeline.base_dir.clone(),
        key: "dataset".into(),
    };
    let splits = registry
        .build_dataset(&pipeline.dataset, &data_ctx)?
        .load()?;
    progress.line(&format!(
        "data: {} train, {} valid, {} test images of {}×{}×{}, {} classes",
        splits.train.len(),
        splits.valid.len(),
        splits.test.as_ref().map_or(0, |t| t.len()),
        splits.spec.shape.channels,
        splits.spec.shape.height,
        splits.spec.shape.width,
        splits.spec.num_classes
    ));
    let augmenters = pipeline
        .augment
        .iter()
        .enumerate()
        .map(|(i, a)| registry.build_augmenter(a, &data_ctx.with_key(format!("augment[{i}]"))))
        .collect::<kiln_core::Result<Vec<_>>>()?;
    // Only now that the data loaded is anything written.
    std::fs::create_dir_all(&options.run_dir).map_err(|e| EngineError::File {
        path: options.run_dir.clone(),
        message: format!("cannot create run directory: {e}"),
    })?;
    let storage = Storage::open(&db_path(&options.run_dir))?;
    let mut ctx = RunContext {
        pipeline,
        registry,
        splits,
        storage,
        run_dir: options.run_dir.clone(),
        device,
        augmenters,
        outputs: serde_json::Map::new(),
        progress,
    };
    let stages = ctx.pipeline.stages.clone();
    for (index, stage) in stages.iter().enumerate() {
        let name = stage.name().to_string();
        let done = ctx.storage.stage_output(&ctx.pipeline.name, &name)?;
        let output = match (done, stage) {
            (Some(out), s) if !matches!(s, StageSpec::Tune { .. }) => {
                ctx.progress.line(&format!(
                    "[{name}] already finished in this run directory; kept"
                ));
                out
            }
            (_, StageSpec::Tune { .. }) => tune::run(&ctx, index, stage)?,
            _ => stages::run(&ctx, index, stage)?,
        };
        ctx.storage
            .set_stage_output(&ctx.pipeline.name, &name, &output)?;
        ctx.outputs.insert(name, output);
    }
    let summary = serde_json::json!({
        "pipeline": ctx.pipeline.name,
        "run_dir": ctx.run_dir,
        "stages": ctx.outputs,
    });
    write_json_atomic(&ctx.run_dir.join("summary.json"), &summary)?;
    Ok(summary)
}
