//! The `tune` stage's configuration: the one stage the engine runs itself, because it owns
//! the worker pool and the study database. Every other stage is a registered plugin.

use super::{Pipeline, Source, line_of};
use crate::error::{EngineError, Result};
use kiln_core::space::SearchSpaceConfig;
use kiln_core::{BuildContext, Objective, PluginSpec, Registry, SearchSpace, TrainerConfig};
use serde::Deserialize;

/// `kind = "tune"`: a study over a search space.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneStage {
    /// `tune`.
    pub kind: String,
    /// Stage name (default: `tune`), also the study's suffix.
    pub name: Option<String>,
    /// Finished trials the study should have.
    pub trials: usize,
    /// Epochs per trial (default: the trainer's).
    pub epochs: Option<usize>,
    /// Search strategy; random if absent.
    pub search: Option<serde_json::Value>,
    /// Pruner; none if absent.
    pub pruner: Option<serde_json::Value>,
    /// Trials at once (default: the pipeline's `workers`).
    pub workers: Option<usize>,
    /// The study's objectives, in order (default: the trainer's objective). The first is
    /// reported every epoch, so it is `val_accuracy` or `val_loss`; more make the study
    /// multi-objective (e.g. `["val_accuracy", "num_params"]`), which excludes pruning.
    pub objectives: Option<Vec<Objective>>,
    /// An earlier `lr_find` stage whose range replaces the space's `optimizer.lr` bounds
    /// (the dimension is added, log-scaled, if the space has none).
    pub from_lr_find: Option<String>,
    /// The search space.
    #[serde(default)]
    pub space: SearchSpaceConfig,
    /// Seconds between the heartbeats of each running trial (Optuna's
    /// `heartbeat_interval`).
    #[serde(default = "five")]
    pub heartbeat_seconds: f64,
    /// A running trial whose last heartbeat is older than this is taken for dead (killed,
    /// crashed, cut off): failed and its parameters enqueued again. Other processes'
    /// trials with fresh heartbeats are waited for, not repeated.
    #[serde(default = "thirty")]
    pub grace_seconds: f64,
    /// A trial still training after this many seconds stops at its next batch and is
    /// recorded as failed, with the reason; the study goes on.
    pub trial_timeout: Option<f64>,
    /// A trial after whose batch the process holds more than this many MiB stops and is
    /// recorded as failed ("out of memory"); the study goes on. Default: 90 % of the
    /// machine's (or cgroup's) memory, so a runaway trial fails instead of the kernel
    /// killing the whole process.
    pub memory_limit_mb: Option<f64>,
}

fn five() -> f64 {
    5.0
}

fn thirty() -> f64 {
    30.0
}

impl TuneStage {
    /// The study's objectives: the stage's, or the trainer's one.
    pub fn objectives(&self, trainer: &TrainerConfig) -> Vec<Objective> {
        self.objectives
            .clone()
            .unwrap_or_else(|| vec![trainer.objective])
    }
}

/// A validated tune stage.
#[derive(Debug, Clone)]
pub struct StudyPlan {
    /// Its config.
    pub config: TuneStage,
    /// The validated space (before an `lr_find` narrows it).
    pub space: SearchSpace,
    /// The strategy.
    pub search: PluginSpec,
    /// The pruner.
    pub pruner: Option<PluginSpec>,
}

fn at_least_one(source: &Source, key: &str, v: Option<usize>) -> Result<()> {
    if v == Some(0) {
        return Err(source.error(key, "must be at least 1"));
    }
    Ok(())
}

impl StudyPlan {
    /// Validates stage `key`'s table against the pipeline so far.
    pub fn validate(
        raw: &serde_json::Value,
        key: &str,
        p: &Pipeline,
        source: &Source,
        registry: &Registry,
    ) -> Result<StudyPlan> {
        let loc = |e: kiln_core::Error| source.locate(e);
        let c: TuneStage = serde_path_to_error::deserialize(raw)
            .map_err(|e| source.error(&format!("{key}.{}", e.path()), e.into_inner()))?;
        at_least_one(source, &format!("{key}.trials"), Some(c.trials))?;
        at_least_one(source, &format!("{key}.epochs"), c.epochs)?;
        at_least_one(source, &format!("{key}.workers"), c.workers)?;
        // Each is turned into a `Duration` later; one too large for it is refused here.
        for (field, seconds) in [
            ("trial_timeout", c.trial_timeout),
            ("heartbeat_seconds", Some(c.heartbeat_seconds)),
            ("grace_seconds", Some(c.grace_seconds)),
        ] {
            if seconds.is_some_and(|s| std::time::Duration::try_from_secs_f64(s).is_err()) {
                return Err(source.error(
                    &format!("{key}.{field}"),
                    "must be a number of seconds >= 0 that fits a duration",
                ));
            }
        }
        if c.memory_limit_mb
            .is_some_and(|m| !(m >= 1.0 && m < (u64::MAX >> 20) as f64))
        {
            return Err(source.error(
                &format!("{key}.memory_limit_mb"),
                "must be at least 1 (MiB)",
            ));
        }
        if c.trial_timeout.is_some_and(|t| !(t > 0.0 && t.is_finite())) {
            return Err(source.error(&format!("{key}.trial_timeout"), "must be > 0 seconds"));
        }
        if !(c.heartbeat_seconds > 0.0 && c.heartbeat_seconds.is_finite()) {
            return Err(source.error(&format!("{key}.heartbeat_seconds"), "must be > 0"));
        }
        if !(c.grace_seconds > c.heartbeat_seconds && c.grace_seconds.is_finite()) {
            return Err(source.error(
                &format!("{key}.grace_seconds"),
                format!(
                    "must exceed heartbeat_seconds ({}), or live trials would be taken for dead",
                    c.heartbeat_seconds
                ),
            ));
        }
        if let Some(objs) = &c.objectives {
            match objs.first() {
                None => {
                    return Err(
                        source.error(&format!("{key}.objectives"), "needs at least one objective")
                    );
                }
                Some(o) if !o.per_epoch() => {
                    return Err(source.error(
                        &format!("{key}.objectives"),
                        "the first objective must be val_accuracy or val_loss (it is reported every epoch)",
                    ));
                }
                _ => {}
            }
            if objs.len() > 1 && c.pruner.is_some() {
                return Err(
                    source.error(&format!("{key}.pruner"), "pruning needs a single objective")
                );
            }
        }
        if let Some(from) = &c.from_lr_find {
            p.require_stage(from, &["lr_find"], &format!("{key}.from_lr_find"), source)?;
        }
        let space = SearchSpace::from_config(&c.space, &format!("{key}.space")).map_err(loc)?;
        for param in space.params() {
            let prefix = param.name.split('.').next().unwrap_or_default();
            if !["model", "optimizer", "scheduler", "trainer", "augment"].contains(&prefix)
                || !param.name.contains('.')
            {
                return Err(source.error(
                    &format!("{key}.space.\"{}\"", param.name),
                    "a searched parameter is named model.X, optimizer.X, scheduler.X, trainer.X or augment.KIND.X",
                ));
            }
        }
        let ctx = BuildContext {
            seed: p.seed,
            base_dir: p.base_dir.clone(),
            key: String::new(),
        };
        let search = match &c.search {
            Some(v) => PluginSpec::from_value(v, &format!("{key}.search")).map_err(loc)?,
            None => PluginSpec::named("random"),
        };
        registry
            .build_search(&search, &ctx.with_key(format!("{key}.search")))
            .map_err(loc)?;
        let pruner = c
            .pruner
            .as_ref()
            .map(|v| PluginSpec::from_value(v, &format!("{key}.pruner")))
            .transpose()
            .map_err(loc)?;
        if let Some(pr) = &pruner {
            registry
                .build_pruner(pr, &ctx.with_key(format!("{key}.pruner")))
                .map_err(loc)?;
        }
        // Every plugin must accept a point of the space: catch `model.widht` now.
        let mut rng = kiln_core::Rng::new(p.seed);
        for _ in 0..3 {
            let sample = space.sample_uniform(&mut rng);
            p.check_recipe(&sample, registry, source)
                .map_err(|e| match e {
                    EngineError::Pipeline {
                        path,
                        line,
                        message,
                    } => EngineError::Pipeline {
                        path,
                        line: line.or_else(|| line_of(&source.text, &format!("{key}.space"))),
                        message: format!("{message} (with a point of {key}.space)"),
                    },
                    other => other,
                })?;
        }
        Ok(StudyPlan {
            config: c,
            space,
            search,
            pruner,
        })
    }
}
