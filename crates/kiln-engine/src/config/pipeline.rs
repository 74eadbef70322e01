//! The pipeline's config types and their validation.

use super::Source;
use crate::error::Result;
use kiln_core::space::SearchSpaceConfig;
use kiln_core::{
    BuildContext, Direction, Error, OptimizerConfig, ParamValue, Params, PluginSpec, Registry,
    SearchSpace,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a trial is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Validation accuracy, maximised.
    #[default]
    ValAccuracy,
    /// Validation loss, minimised.
    ValLoss,
    /// Trainable parameters, minimised (a multi-objective companion).
    NumParams,
    /// Training wall time in seconds, minimised (a multi-objective companion).
    TrainSeconds,
}

impl Objective {
    /// The study direction.
    pub fn direction(self) -> Direction {
        match self {
            Objective::ValAccuracy => Direction::Maximize,
            Objective::ValLoss | Objective::NumParams | Objective::TrainSeconds => {
                Direction::Minimize
            }
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Objective::ValAccuracy => "val_accuracy",
            Objective::ValLoss => "val_loss",
            Objective::NumParams => "num_params",
            Objective::TrainSeconds => "train_seconds",
        }
    }

    /// Whether the trainer reports it every epoch (what pruners and checkpoints use).
    pub fn per_epoch(self) -> bool {
        matches!(self, Objective::ValAccuracy | Objective::ValLoss)
    }
}

/// How trials train (searchable: `trainer.batch_size`, `trainer.epochs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainerConfig {
    /// Training batch size.
    pub batch_size: usize,
    /// Epochs per trial unless a stage or strategy says otherwise.
    pub epochs: usize,
    /// What trials are judged and checkpoints chosen by.
    pub objective: Objective,
    /// Batch size for evaluation (no gradients, so larger).
    pub eval_batch_size: usize,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            batch_size: 64,
            epochs: 5,
            objective: Objective::ValAccuracy,
            eval_batch_size: 500,
        }
    }
}

fn default_device() -> String {
    "cpu".into()
}

fn one() -> usize {
    1
}

/// A pipeline file as written (structure checked, meaning not yet).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Names the run and its studies.
    pub name: String,
    /// Every random draw derives from it.
    #[serde(default)]
    pub seed: u64,
    /// `cpu`, `cuda:N`, `tch:cpu` or `tch:cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Trials trained at once.
    #[serde(default = "one")]
    pub workers: usize,
    /// `{ kind = "...", ... }`
    pub dataset: serde_json::Value,
    /// `{ kind = "...", ... }`
    pub model: serde_json::Value,
    /// The optimiser ([`OptimizerConfig`] fields).
    #[serde(default)]
    pub optimizer: serde_json::Map<String, serde_json::Value>,
    /// `{ kind = "...", ... }`; constant if absent.
    pub scheduler: Option<serde_json::Value>,
    /// Augmenters applied in order to training batches.
    #[serde(default)]
    pub augment: Vec<serde_json::Value>,
    /// Training settings.
    #[serde(default)]
    pub trainer: TrainerConfig,
    /// The stages, in order.
    #[serde(default)]
    pub stages: Vec<serde_json::Value>,
    /// Plugin libraries to load before the pipeline is checked (relative to the file).
    #[serde(default)]
    pub plugins: Vec<String>,
}

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
    /// The search space.
    #[serde(default)]
    pub space: SearchSpaceConfig,
}

/// `kind = "train"`: one longer run, from the best parameters of a tune stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainStage {
    /// `train`.
    pub kind: String,
    /// Stage name (default: `train`).
    pub name: Option<String>,
    /// The tune stage whose best parameters to use; none trains the base config.
    pub from: Option<String>,
    /// Epochs (default: the trainer's).
    pub epochs: Option<usize>,
}

/// `kind = "evaluate"`: test-set metrics of an earlier stage's model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateStage {
    /// `evaluate`.
    pub kind: String,
    /// Stage name (default: `evaluate`).
    pub name: Option<String>,
    /// The stage whose model to evaluate (default: the last train or ensemble stage).
    pub from: Option<String>,
}

/// `kind = "ensemble"`: combine the best trials' checkpoints of a tune stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleStage {
    /// `ensemble`.
    pub kind: String,
    /// Stage name (default: `ensemble`).
    pub name: Option<String>,
    /// The tune stage whose trials are candidates.
    pub from: String,
    /// Candidates: the best `top_k` complete trials.
    #[serde(default = "five")]
    pub top_k: usize,
    /// The ensembler; soft vote if absent.
    pub ensembler: Option<serde_json::Value>,
}

fn five() -> usize {
    5
}

/// A validated stage.
// A pipeline holds a handful of stages: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum StageSpec {
    /// A study.
    Tune {
        /// The stage's name.
        name: String,
        /// Its config.
        config: TuneStage,
        /// The validated space.
        space: SearchSpace,
        /// The strategy.
        search: PluginSpec,
        /// The pruner.
        pruner: Option<PluginSpec>,
        /// Its config key, e.g. `stages[0]`.
        key: String,
    },
    /// A final training run.
    Train {
        /// The stage's name.
        name: String,
        /// Its config.
        config: TrainStage,
    },
    /// Test metrics.
    Evaluate {
        /// The stage's name.
        name: String,
        /// The stage whose model is evaluated.
        from: String,
    },
    /// An ensemble.
    Ensemble {
        /// The stage's name.
        name: String,
        /// Its config.
        config: EnsembleStage,
        /// The ensembler.
        ensembler: PluginSpec,
    },
    /// A stage from a plugin.
    Plugin {
        /// The stage's name.
        name: String,
        /// The plugin.
        spec: PluginSpec,
    },
}

impl StageSpec {
    /// The stage's name.
    pub fn name(&self) -> &str {
        match self {
            StageSpec::Tune { name, .. }
            | StageSpec::Train { name, .. }
            | StageSpec::Evaluate { name, .. }
            | StageSpec::Ensemble { name, .. }
            | StageSpec::Plugin { name, .. } => name,
        }
    }
}

/// A validated pipeline: every plugin name resolves, every parameter parses.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Names the run.
    pub name: String,
    /// The root seed.
    pub seed: u64,
    /// The device string.
    pub device: String,
    /// Default trials at once.
    pub workers: usize,
    /// The dataset.
    pub dataset: PluginSpec,
    /// The model, before trial overrides.
    pub model: PluginSpec,
    /// The optimiser fields, before trial overrides.
    pub optimizer: serde_json::Map<String, serde_json::Value>,
    /// The scheduler, before trial overrides.
    pub scheduler: PluginSpec,
    /// Augmenters.
    pub augment: Vec<PluginSpec>,
    /// Training settings, before trial overrides.
    pub trainer: TrainerConfig,
    /// Stages in order.
    pub stages: Vec<StageSpec>,
    /// Folder of the pipeline file (relative paths in parameters start here).
    pub base_dir: PathBuf,
}

/// Everything one training run needs, with a trial's suggestions merged in.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The model plugin with its hyperparameters.
    pub model: PluginSpec,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// The scheduler plugin.
    pub scheduler: PluginSpec,
    /// Training settings.
    pub trainer: TrainerConfig,
}

fn spec(v: &serde_json::Value, key: &str) -> kiln_core::Result<PluginSpec> {
    PluginSpec::from_value(v, key)
}

impl Pipeline {
    /// Validates a parsed config: plugin names, parameters, spaces, stage references. Every
    /// plugin is built once (with a sample point of each space) so that a typo fails here,
    /// before anything runs or is written.
    pub fn validate(
        config: PipelineConfig,
        source: &Source,
        registry: &Registry,
    ) -> Result<Pipeline> {
        let loc = |e: Error| source.locate(e);
        if config.workers == 0 {
            return Err(source.error("workers", "must be at least 1"));
        }
        if !config.trainer.objective.per_epoch() {
            return Err(source.error("trainer.objective", "must be val_accuracy or val_loss"));
        }
        for (k, v) in [
            ("trainer.batch_size", config.trainer.batch_size),
            ("trainer.epochs", config.trainer.epochs),
            ("trainer.eval_batch_size", config.trainer.eval_batch_size),
        ] {
            if v == 0 {
                return Err(source.error(k, "must be at least 1"));
            }
        }
        crate::device::parse(&config.device).map_err(|m| source.error("device", m))?;
        let base_dir = source
            .path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let scheduler = match &config.scheduler {
            Some(v) => spec(v, "scheduler").map_err(loc)?,
            None => PluginSpec::named("constant"),
        };
        let pipeline_base = Pipeline {
            name: config.name.clone(),
            seed: config.seed,
            device: config.device.clone(),
            workers: config.workers,
            dataset: spec(&config.dataset, "dataset").map_err(loc)?,
            model: spec(&config.model, "model").map_err(loc)?,
            optimizer: config.optimizer.clone(),
            scheduler,
            augment: config
                .augment
                .iter()
                .enumerate()
                .map(|(i, v)| spec(v, &format!("augment[{i}]")))
                .collect::<kiln_core::Result<_>>()
                .map_err(loc)?,
            trainer: config.trainer.clone(),
            stages: Vec::new(),
            base_dir,
        };
        let mut p = pipeline_base;
        let ctx = BuildContext {
            seed: p.seed,
            base_dir: p.base_dir.clone(),
            key: String::new(),
        };
        registry
            .build_dataset(&p.dataset, &ctx.with_key("dataset"))
            .map_err(loc)?;
        for (i, a) in p.augment.iter().enumerate() {
            registry
                .build_augmenter(a, &ctx.with_key(format!("augment[{i}]")))
                .map_err(loc)?;
        }
        p.check_recipe(&Params::new(), registry, source)?;

        let mut names: Vec<String> = Vec::new();
        for (i, raw) in config.stages.iter().enumerate() {
            let key = format!("stages[{i}]");
            let kind = raw
                .get("kind")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| {
                    source.error(
                        &format!("{key}.kind"),
                        "missing: tune, train, evaluate, ensemble or a stage plugin",
                    )
                })?;
            let stage = match kind {
                "tune" => {
                    let c: TuneStage = serde_path_to_error::deserialize(raw).map_err(|e| {
                        source.error(&format!("{key}.{}", e.path()), e.into_inner())
                    })?;
                    if c.trials == 0 {
                        return Err(source.error(&format!("{key}.trials"), "must be at least 1"));
                    }
                    if c.epochs == Some(0) {
                        return Err(source.error(&format!("{key}.epochs"), "must be at least 1"));
                    }
                    if c.workers == Some(0) {
                        return Err(source.error(&format!("{key}.workers"), "must be at least 1"));
                    }
                    if let Some(objs) = &c.objectives {
                        match objs.first() {
                            None => {
                                return Err(source.error(
                                    &format!("{key}.objectives"),
                                    "needs at least one objective",
                                ));
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
                            return Err(source.error(
                                &format!("{key}.pruner"),
                                "pruning needs a single objective",
                            ));
                        }
                    }
                    let space =
                        SearchSpace::from_config(&c.space, &format!("{key}.space")).map_err(loc)?;
                    for param in space.params() {
                        let prefix = param.name.split('.').next().unwrap_or_default();
                        if !["model", "optimizer", "scheduler", "trainer"].contains(&prefix)
                            || !param.name.contains('.')
                        {
                            return Err(source.error(
                                &format!("{key}.space.\"{}\"", param.name),
                                "a searched parameter is named model.X, optimizer.X, scheduler.X or trainer.X",
                            ));
                        }
                    }
                    let search = match &c.search {
                        Some(v) => spec(v, &format!("{key}.search")).map_err(loc)?,
                        None => PluginSpec::named("random"),
                    };
                    registry
                        .build_search(&search, &ctx.with_key(format!("{key}.search")))
                        .map_err(loc)?;
                    let pruner = c
                        .pruner
                        .as_ref()
                        .map(|v| spec(v, &format!("{key}.pruner")))
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
                                crate::EngineError::Pipeline {
                                    path,
                                    line,
                                    message,
                                } => crate::EngineError::Pipeline {
                                    path,
                                    line: line.or_else(|| {
                                        super::line_of(&source.text, &format!("{key}.space"))
                                    }),
                                    message: format!("{message} (with a point of {key}.space)"),
                                },
                                other => other,
                            })?;
                    }
                    StageSpec::Tune {
                        name: c.name.clone().unwrap_or_else(|| "tune".into()),
                        space,
                        search,
                        pruner,
                        config: c,
                        key: key.clone(),
                    }
                }
                "train" => {
                    let c: TrainStage = serde_path_to_error::deserialize(raw).map_err(|e| {
                        source.error(&format!("{key}.{}", e.path()), e.into_inner())
                    })?;
                    if c.epochs == Some(0) {
                        return Err(source.error(&format!("{key}.epochs"), "must be at least 1"));
                    }
                    if let Some(from) = &c.from {
                        p.require_stage(from, &["tune"], &format!("{key}.from"), source)?;
                    }
                    StageSpec::Train {
                        name: c.name.clone().unwrap_or_else(|| "train".into()),
                        config: c,
                    }
                }
                "evaluate" => {
                    let c: EvaluateStage = serde_path_to_error::deserialize(raw).map_err(|e| {
                        source.error(&format!("{key}.{}", e.path()), e.into_inner())
                    })?;
                    let from = match &c.from {
                        Some(f) => f.clone(),
                        None => p
                            .stages
                            .iter()
                            .rev()
                            .find(|s| {
                                matches!(s, StageSpec::Train { .. } | StageSpec::Ensemble { .. })
                            })
                            .map(|s| s.name().to_string())
                            .ok_or_else(|| {
                                source.error(
                                    &key,
                                    "an evaluate stage needs an earlier train or ensemble stage",
                                )
                            })?,
                    };
                    p.require_stage(
                        &from,
                        &["train", "ensemble", "tune"],
                        &format!("{key}.from"),
                        source,
                    )?;
                    StageSpec::Evaluate {
                        name: c.name.unwrap_or_else(|| "evaluate".into()),
                        from,
                    }
                }
                "ensemble" => {
                    let c: EnsembleStage = serde_path_to_error::deserialize(raw).map_err(|e| {
                        source.error(&format!("{key}.{}", e.path()), e.into_inner())
                    })?;
                    p.require_stage(&c.from, &["tune"], &format!("{key}.from"), source)?;
                    if c.top_k == 0 {
                        return Err(source.error(&format!("{key}.top_k"), "must be at least 1"));
                    }
                    let ensembler = match &c.ensembler {
                        Some(v) => spec(v, &format!("{key}.ensembler")).map_err(loc)?,
                        None => PluginSpec::named("soft_vote"),
                    };
                    registry
                        .build_ensembler(&ensembler, &ctx.with_key(format!("{key}.ensembler")))
                        .map_err(loc)?;
                    StageSpec::Ensemble {
                        name: c.name.clone().unwrap_or_else(|| "ensemble".into()),
                        config: c,
                        ensembler,
                    }
                }
                _ => {
                    let mut s = spec(raw, &key).map_err(loc)?;
                    let name = s
                        .params
                        .as_object_mut()
                        .and_then(|m| m.remove("name"))
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| s.kind.clone());
                    registry
                        .build_stage(&s, &ctx.with_key(key.clone()))
                        .map_err(loc)?;
                    StageSpec::Plugin { name, spec: s }
                }
            };
            if names.contains(&stage.name().to_string()) {
                return Err(source.error(
                    &format!("{key}.name"),
                    format!("stage name `{}` is used twice", stage.name()),
                ));
            }
            names.push(stage.name().to_string());
            p.stages.push(stage);
        }
        if p.stages.is_empty() {
            return Err(source.error("stages", "the pipeline has no [[stages]]"));
        }
        Ok(p)
    }

    fn require_stage(&self, name: &str, kinds: &[&str], key: &str, source: &Source) -> Result<()> {
        let found = self.stages.iter().find(|s| s.name() == name);
        let kind = match found {
            Some(StageSpec::Tune { .. }) => "tune",
            Some(StageSpec::Train { .. }) => "train",
            Some(StageSpec::Ensemble { .. }) => "ensemble",
            Some(_) => "other",
            None => {
                let earlier: Vec<&str> = self.stages.iter().map(|s| s.name()).collect();
                return Err(source.error(
                    key,
                    format!(
                        "no earlier stage named `{name}` (earlier: {})",
                        earlier.join(", ")
                    ),
                ));
            }
        };
        if !kinds.contains(&kind) {
            return Err(source.error(
                key,
                format!(
                    "stage `{name}` is a {kind} stage; expected {}",
                    kinds.join(" or ")
                ),
            ));
        }
        Ok(())
    }

    fn check_recipe(&self, params: &Params, registry: &Registry, source: &Source) -> Result<()> {
        let r = self.recipe(params).map_err(|e| source.locate(e))?;
        let ctx = BuildContext {
            seed: self.seed,
            base_dir: self.base_dir.clone(),
            key: "model".into(),
        };
        registry
            .build_model(&r.model, &ctx)
            .map_err(|e| source.locate(e))?;
        registry
            .build_scheduler(&r.scheduler, &ctx.with_key("scheduler"))
            .map_err(|e| source.locate(e))?;
        Ok(())
    }

    /// The training recipe with `params` (a trial's suggestions) merged in.
    pub fn recipe(&self, params: &Params) -> kiln_core::Result<Recipe> {
        let mut model = self.model.clone();
        let mut scheduler = self.scheduler.clone();
        let mut optimizer = self.optimizer.clone();
        let mut trainer = serde_json::to_value(&self.trainer)
            .map_err(|e| Error::config("trainer", e.to_string()))?;
        for (name, value) in params {
            let (prefix, field) = name.split_once('.').unwrap_or((name.as_str(), ""));
            let json = value.to_json();
            match prefix {
                "model" => model = model.with_param(field, json),
                "scheduler" => scheduler = scheduler.with_param(field, json),
                "optimizer" => {
                    optimizer.insert(field.to_string(), json);
                }
                "trainer" => {
                    if let Some(map) = trainer.as_object_mut() {
                        map.insert(field.to_string(), json);
                    }
                }
                _ => {
                    return Err(Error::config(
                        name,
                        "not a model, optimizer, scheduler or trainer parameter",
                    ));
                }
            }
        }
        let ctx = BuildContext::new(self.seed).with_key("optimizer");
        let optimizer: OptimizerConfig = ctx.parse(&serde_json::Value::Object(optimizer))?;
        optimizer.validate("optimizer")?;
        let trainer: TrainerConfig = BuildContext::new(self.seed)
            .with_key("trainer")
            .parse(&trainer)?;
        if trainer.batch_size == 0 || trainer.epochs == 0 {
            return Err(Error::config(
                "trainer",
                "batch_size and epochs must be at least 1",
            ));
        }
        Ok(Recipe {
            model,
            optimizer,
            scheduler,
            trainer,
        })
    }
}

/// A trial's parameters as `name=value` pairs for progress lines.
pub fn describe(params: &Params) -> String {
    params
        .iter()
        .map(|(k, v)| match v {
            ParamValue::Float(f) => format!("{k}={f:.4e}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl TuneStage {
    /// The study's objectives: the stage's, or the trainer's one.
    pub fn objectives(&self, trainer: &TrainerConfig) -> Vec<Objective> {
        self.objectives
            .clone()
            .unwrap_or_else(|| vec![trainer.objective])
    }
}
