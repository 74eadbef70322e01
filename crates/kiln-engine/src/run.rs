//! A pipeline run: its directory, its database, its stages in order.
//!
//! A stage already finished in this run directory is kept (not run again) when its
//! configuration hash — its own table and everything before it — is unchanged; otherwise
//! it runs again. Tune stages always re-enter their study, which is resumable by itself.

use crate::config::{Pipeline, PipelineStage};
use crate::context::{RunContext, StageView, write_json_atomic};
use crate::error::{EngineError, Result};
use crate::progress::Progress;
use crate::storage::Storage;
use kiln_core::{BuildContext, Registry, Splits, StageOutput};
use std::path::{Path, PathBuf};

pub use crate::context::study_name;

/// The database file of a run directory.
pub fn db_path(run_dir: &Path) -> PathBuf {
    run_dir.join("kiln.db")
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run directory.
    pub run_dir: PathBuf,
    /// No progress lines.
    pub quiet: bool,
    /// Where the studies and stage outputs live: a `postgresql://` URL (shared by workers
    /// on several hosts) or a SQLite file; `None` is `RUN_DIR/kiln.db`.
    pub storage: Option<String>,
}

impl RunOptions {
    /// Options for `run_dir` with its own SQLite database.
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            run_dir: run_dir.into(),
            quiet: false,
            storage: None,
        }
    }

    /// The storage location: [`RunOptions::storage`], or the run directory's database file.
    pub fn storage_location(&self) -> String {
        self.storage
            .clone()
            .unwrap_or_else(|| db_path(&self.run_dir).to_string_lossy().into_owned())
    }
}

/// Runs one stage (without the skip check or recording its output).
pub fn run_stage(ctx: &RunContext, index: usize, stage: &PipelineStage) -> Result<StageOutput> {
    if let Some(plan) = &stage.study {
        return crate::tune::run(ctx, index, stage, plan);
    }
    let seed = ctx.seed(&[index as u64]);
    let plugin = ctx
        .registry
        .build_stage(&stage.spec, &ctx.build_ctx(&stage.key, seed))?;
    let view = StageView::new(ctx, stage, seed);
    Ok(plugin.run(&view)?)
}

/// Runs `pipeline`: loads the data, runs each stage not yet finished in this run directory,
/// records outputs in the database and `summary.json`. Returns the summary.
pub fn run(
    pipeline: Pipeline,
    registry: Registry,
    options: &RunOptions,
) -> Result<serde_json::Value> {
    let mut ctx = open(pipeline, registry, options)?;
    run_stages(&mut ctx)
}

/// Joins the tune stages of a run that `kiln run` (the owner) drives in the same run
/// directory: each tune stage's study is shared through heartbeats (the budget is split,
/// no trial repeated), and every other stage before the last tune stage is waited for
/// until the owner records it (tune stages may read it, as `from_lr_find` does), for at
/// most `patience`. A worker records no stage output and stops after the last tune
/// stage. Returns how many tune stages it joined.
pub fn work(
    pipeline: Pipeline,
    registry: Registry,
    options: &RunOptions,
    patience: std::time::Duration,
) -> Result<usize> {
    let Some(last_tune) = pipeline.stages.iter().rposition(|s| s.study.is_some()) else {
        return Err(EngineError::Core(kiln_core::Error::config(
            "stages",
            "the pipeline has no tune stage for a worker to join",
        )));
    };
    let mut ctx = open(pipeline, registry, options)?;
    let stages = ctx.pipeline.stages.clone();
    let mut joined = 0;
    for (index, stage) in stages.iter().enumerate().take(last_tune + 1) {
        if stage.study.is_some() {
            let out = run_stage(&ctx, index, stage)?;
            ctx.outputs.push((stage.name.clone(), out));
            joined += 1;
            continue;
        }
        let started = std::time::Instant::now();
        let mut said = false;
        let out = loop {
            if let Some(stored) = ctx.storage.stage_output(&ctx.pipeline.name, &stage.name)?
                && stored.config_hash.as_deref() == Some(stage.config_hash.as_str())
                && let Ok(out) = serde_json::from_value::<StageOutput>(stored.output)
            {
                break out;
            }
            if started.elapsed() >= patience {
                return Err(EngineError::File {
                    path: ctx.storage.path().to_path_buf(),
                    message: format!(
                        "stage `{}` did not finish within {}s; a worker runs only tune stages, so start `kiln run` on this run directory",
                        stage.name,
                        patience.as_secs_f64()
                    ),
                });
            }
            if !said {
                said = true;
                ctx.progress.line(&format!(
                    "[{}] waiting for `kiln run` to finish this stage",
                    stage.name
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        ctx.outputs.push((stage.name.clone(), out));
    }
    Ok(joined)
}

/// The build context of the pipeline's dataset (and of its run-wide augmenters).
fn data_context(pipeline: &Pipeline) -> BuildContext {
    BuildContext {
        seed: pipeline.seed,
        base_dir: pipeline.base_dir.clone(),
        key: "dataset".into(),
    }
}

/// Builds the pipeline's dataset and loads its splits, as a run does (so a preview of the
/// training images shows exactly what training sees).
pub fn load_splits(pipeline: &Pipeline, registry: &Registry) -> Result<Splits> {
    Ok(registry
        .build_dataset(&pipeline.dataset, &data_context(pipeline))?
        .load()?)
}

/// Loads the data and opens the run directory and its database: the context the stages
/// run in. Nothing is written before the data loaded.
pub fn open(pipeline: Pipeline, registry: Registry, options: &RunOptions) -> Result<RunContext> {
    let progress = Progress::new(options.quiet);
    let device = crate::device::parse(&pipeline.device)
        .map_err(|m| EngineError::Core(kiln_core::Error::config("device", m)))?;
    progress.line(&format!("loading dataset `{}`", pipeline.dataset.kind));
    let data_ctx = data_context(&pipeline);
    let splits = load_splits(&pipeline, &registry)?;
    progress.line(&format!(
        "data: {} train, {} valid, {} test, {} unlabelled images of {}×{}×{}, {} classes",
        splits.train.len(),
        splits.valid.len(),
        splits.test.as_ref().map_or(0, |t| t.len()),
        splits.unlabelled.as_ref().map_or(0, |t| t.len()),
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
    let storage = Storage::open_location(&options.storage_location())?;
    Ok(RunContext {
        pipeline,
        registry,
        splits,
        storage,
        run_dir: options.run_dir.clone(),
        device,
        augmenters,
        outputs: Vec::new(),
        progress,
    })
}

/// Runs every stage of an opened run in order (keeping those finished with an unchanged
/// configuration), then writes `summary.json`. Returns the summary.
pub fn run_stages(ctx: &mut RunContext) -> Result<serde_json::Value> {
    let stages = ctx.pipeline.stages.clone();
    for (index, stage) in stages.iter().enumerate() {
        let name = &stage.name;
        let done = ctx.storage.stage_output(&ctx.pipeline.name, name)?;
        let kept = match done {
            Some(stored)
                if stage.study.is_none()
                    && stored.config_hash.as_deref() == Some(stage.config_hash.as_str()) =>
            {
                match serde_json::from_value::<StageOutput>(stored.output) {
                    Ok(out) => Some(out),
                    Err(e) => {
                        ctx.progress.line(&format!(
                            "[{name}] recorded output is unreadable ({e}); running it again"
                        ));
                        None
                    }
                }
            }
            Some(_) if stage.study.is_none() => {
                ctx.progress.line(&format!(
                    "[{name}] configuration changed since it last finished; running it again"
                ));
                None
            }
            _ => None,
        };
        let output = match kept {
            Some(out) => {
                ctx.progress.line(&format!(
                    "[{name}] already finished in this run directory with this configuration; kept"
                ));
                out
            }
            None => run_stage(ctx, index, stage)?,
        };
        let json = serde_json::to_value(&output).map_err(|e| EngineError::File {
            path: db_path(&ctx.run_dir),
            message: format!("stage `{name}` output: {e}"),
        })?;
        ctx.storage
            .set_stage_output(&ctx.pipeline.name, name, &json, &stage.config_hash)?;
        ctx.outputs.push((name.clone(), output));
    }
    let stages_json: serde_json::Map<String, serde_json::Value> = ctx
        .outputs
        .iter()
        .map(|(n, o)| (n.clone(), serde_json::to_value(o).unwrap_or_default()))
        .collect();
    let summary = serde_json::json!({
        "pipeline": ctx.pipeline.name,
        "run_dir": ctx.run_dir,
        "stages": stages_json,
    });
    write_json_atomic(&ctx.run_dir.join("summary.json"), &summary)?;
    Ok(summary)
}
