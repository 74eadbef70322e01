//! The pipeline's config types and their validation.

use super::{Source, StudyPlan};
use crate::error::Result;
use kiln_core::{
    BuildContext, Error, OptimizerConfig, Params, PluginSpec, Recipe, Registry, TrainerConfig,
};
use serde::Deserialize;
use std::path::PathBuf;

fn default_slots() -> usize {
    1
}

/// The most trials one device may train at once.
pub const MAX_SLOTS_PER_DEVICE: usize = 64;

/// A pipeline file as written (structure checked, meaning not yet).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Names the run and its studies.
    pub name: String,
    /// Every random draw derives from it.
    #[serde(default)]
    pub seed: u64,
    /// `cpu`, `cuda:N`, `tch:cpu` or `tch:cuda:N`; `devices[0]`, else `cpu`, if absent.
    pub device: Option<String>,
    /// Devices a study's trials are spread over, `slots_per_device` trials on each at once.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Trials one device of `devices` trains at once.
    #[serde(default = "default_slots")]
    pub slots_per_device: usize,
    /// Trials trained at once (default: one per device slot, else 1).
    pub workers: Option<usize>,
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

/// A validated stage.
#[derive(Debug, Clone)]
pub struct PipelineStage {
    /// The stage's name (unique in the pipeline).
    pub name: String,
    /// Its kind: `tune`, or a registered stage plugin.
    pub kind: String,
    /// Its config key, e.g. `stages[0]`.
    pub key: String,
    /// The plugin and its parameters (without `name`).
    pub spec: PluginSpec,
    /// Hash of this stage's table and everything before it (the base config and every
    /// earlier stage): a finished stage is kept on rerun only if it is unchanged.
    pub config_hash: String,
    /// The study a tune stage runs; `None` for a plugin stage.
    pub study: Option<Box<StudyPlan>>,
}

/// A validated pipeline: every plugin name resolves, every parameter parses.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Names the run.
    pub name: String,
    /// The root seed.
    pub seed: u64,
    /// The device of stages other than `tune`.
    pub device: String,
    /// The slots a study's workers are pinned to, one worker each, spread over the devices
    /// first (empty without `devices`): with `devices = ["cuda:0", "cuda:1"]` and two slots
    /// each, worker 0 gets
    /// `cuda:0` slot 0, worker 1 `cuda:1` slot 0, worker 2 `cuda:0` slot 1…
    pub slots: Vec<DeviceSlot>,
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
    pub stages: Vec<PipelineStage>,
    /// Folder of the pipeline file (relative paths in parameters start here).
    pub base_dir: PathBuf,
}

fn spec(v: &serde_json::Value, key: &str) -> kiln_core::Result<PluginSpec> {
    PluginSpec::from_value(v, key)
}

/// FNV-1a, 64 bits: a stable hash (unlike `std`'s, it never changes between releases).
fn fnv1a(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
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
        if config.workers == Some(0) {
            return Err(source.error("workers", "must be at least 1"));
        }
        let (device, slots) = device_slots(&config, source)?;
        // With `devices`, a study may not have more workers than slots.
        let slots_bounded = !slots.is_empty();
        let workers = match config.workers {
            Some(w) if slots_bounded && w > slots.len() => {
                return Err(source.error(
                    "workers",
                    format!(
                        "{w} workers but only {} device slots ({} device(s) × slots_per_device {})",
                        slots.len(),
                        config.devices.len(),
                        config.slots_per_device
                    ),
                ));
            }
            Some(w) => w,
            None => slots.len().max(1),
        };
        if !config.trainer.objective.per_epoch() {
            return Err(source.error("trainer.objective", "must be val_accuracy or val_loss"));
        }
        config
            .trainer
            .check()
            .map_err(|(key, message)| source.error(key, message))?;
        let base_dir = source
            .path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let scheduler = match &config.scheduler {
            Some(v) => spec(v, "scheduler").map_err(loc)?,
            None => PluginSpec::named("constant"),
        };
        check_path_safe(&config.name).map_err(|m| source.error("name", m))?;
        let mut p = Pipeline {
            name: config.name.clone(),
            seed: config.seed,
            device,
            slots,
            workers,
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

        let base = serde_json::json!({
            "seed": config.seed,
            // Where trials run (`devices`, slots, workers) is not hashed: moving a study to
            // more devices keeps its finished stages.
            "device": p.device,
            "dataset": config.dataset,
            "model": config.model,
            "optimizer": config.optimizer,
            "scheduler": config.scheduler,
            "augment": config.augment,
            "trainer": config.trainer,
        });
        let mut chain = fnv1a(&[&base.to_string()]);
        for (i, raw) in config.stages.iter().enumerate() {
            let key = format!("stages[{i}]");
            let kind = raw
                .get("kind")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| {
                    source.error(
                        &format!("{key}.kind"),
                        "missing: tune or a stage plugin (`kiln plugins` lists them)",
                    )
                })?
                .to_string();
            let mut s = spec(raw, &key).map_err(loc)?;
            let name = match s.params.as_object_mut().and_then(|m| m.remove("name")) {
                None => kind.clone(),
                Some(serde_json::Value::String(n)) if !n.is_empty() => n,
                Some(_) => {
                    return Err(source.error(&format!("{key}.name"), "expected a non-empty string"));
                }
            };
            check_path_safe(&name).map_err(|m| source.error(&format!("{key}.name"), m))?;
            if p.stages.iter().any(|st| st.name == name) {
                return Err(source.error(
                    &format!("{key}.name"),
                    format!("stage name `{name}` is used twice"),
                ));
            }
            let study = if kind == "tune" {
                Some(Box::new(StudyPlan::validate(
                    raw, &key, &p, source, registry,
                )?))
            } else {
                if let Err(Error::UnknownPlugin {
                    family,
                    name,
                    mut known,
                    ..
                }) = registry.get(kiln_core::Family::Stage, &kind)
                {
                    // `tune` is the engine's own stage: name it among the choices.
                    known.push("tune".into());
                    known.sort();
                    let suggestion = kiln_core::registry::closest(&known, &name);
                    let e = Error::UnknownPlugin {
                        family,
                        name,
                        known,
                        suggestion,
                    };
                    return Err(source.error(&format!("{key}.kind"), e));
                }
                let stage = registry
                    .build_stage(&s, &ctx.with_key(key.clone()))
                    .map_err(loc)?;
                for input in stage.reads() {
                    let kinds: Vec<&str> = input.kinds.iter().map(String::as_str).collect();
                    p.require_stage(
                        &input.stage,
                        &kinds,
                        &format!("{key}.{}", input.key),
                        source,
                    )?;
                }
                None
            };
            if let Some(w) = study.as_ref().and_then(|plan| plan.config.workers)
                && p.pinned()
                && w > p.slots.len()
            {
                return Err(source.error(
                    &format!("{key}.workers"),
                    format!("{w} workers but only {} device slots", p.slots.len()),
                ));
            }
            chain = fnv1a(&[&chain, &raw.to_string()]);
            p.stages.push(PipelineStage {
                name,
                kind,
                key,
                spec: s,
                config_hash: chain.clone(),
                study,
            });
        }
        if p.stages.is_empty() {
            return Err(source.error("stages", "the pipeline has no [[stages]]"));
        }
        Ok(p)
    }

    /// Whether `devices` pins a study's trials to slots.
    pub fn pinned(&self) -> bool {
        !self.slots.is_empty()
    }

    /// The slots of a study with `workers` (the stage's own, else the pipeline's): the
    /// first of the device slots, or that many on `device` where no `devices` was given.
    pub fn study_slots(&self, workers: Option<usize>) -> Vec<DeviceSlot> {
        let n = workers.unwrap_or(self.workers).max(1);
        if self.pinned() {
            return self.slots.iter().take(n).cloned().collect();
        }
        (0..n)
            .map(|slot| DeviceSlot {
                device: self.device.clone(),
                slot,
            })
            .collect()
    }

    /// Checks that `name` is an earlier stage of one of `kinds` (any if empty).
    pub(super) fn require_stage(
        &self,
        name: &str,
        kinds: &[&str],
        key: &str,
        source: &Source,
    ) -> Result<()> {
        let Some(found) = self.stages.iter().find(|s| s.name == name) else {
            let earlier: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
            return Err(source.error(
                key,
                format!(
                    "no earlier stage named `{name}` (earlier: {})",
                    if earlier.is_empty() {
                        "none".to_string()
                    } else {
                        earlier.join(", ")
                    }
                ),
            ));
        };
        if !kinds.is_empty() && !kinds.contains(&found.kind.as_str()) {
            return Err(source.error(
                key,
                format!(
                    "stage `{name}` is a {} stage; expected {}",
                    found.kind,
                    kinds.join(" or ")
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn check_recipe(
        &self,
        params: &Params,
        registry: &Registry,
        source: &Source,
    ) -> Result<()> {
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
        for (i, a) in r.augment.iter().enumerate() {
            registry
                .build_augmenter(a, &ctx.with_key(format!("augment[{i}]")))
                .map_err(|e| source.locate(e))?;
        }
        Ok(())
    }

    /// The training recipe with `params` (locks of earlier stages, then a trial's
    /// suggestions) merged in.
    pub fn recipe(&self, params: &Params) -> kiln_core::Result<Recipe> {
        let mut model = self.model.clone();
        let mut scheduler = self.scheduler.clone();
        let mut optimizer = self.optimizer.clone();
        let mut augment = self.augment.clone();
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
                "augment" => {
                    // `augment.<kind>.<param>`: the first augmenter of that kind.
                    let (kind, param) = field.split_once('.').unwrap_or((field, ""));
                    let slot = augment.iter_mut().find(|a| a.kind == kind).ok_or_else(|| {
                        Error::config(
                            name,
                            format!("the pipeline's `augment` list has no `{kind}` augmenter"),
                        )
                    })?;
                    if param.is_empty() {
                        return Err(Error::config(name, "expected augment.<kind>.<parameter>"));
                    }
                    *slot = slot.clone().with_param(param, json);
                }
                _ => {
                    return Err(Error::config(
                        name,
                        "not a model, optimizer, scheduler, trainer or augment parameter",
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
        // A searched value is checked here, where it meets the recipe.
        trainer
            .check()
            .map_err(|(key, message)| Error::config(key, message))?;
        Ok(Recipe {
            model,
            optimizer,
            scheduler,
            trainer,
            augment,
        })
    }
}

/// A trial's parameters as `name=value` pairs for progress lines.
pub use kiln_core::space::describe;

/// Pipeline and stage names become parts of file names (the default run directory, each
/// stage's checkpoints), so they must stay one path component: no separators, no control
/// characters, not `.` or `..`, not hidden. Anything else (spaces, `<`, Unicode) is fine.
/// One place a study worker trains: a device and which of its slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSlot {
    /// The device name, as written (`cuda:0`).
    pub device: String,
    /// The slot on that device, from 0.
    pub slot: usize,
}

impl std::fmt::Display for DeviceSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} slot {}", self.device, self.slot)
    }
}

/// The device of the plain stages and the slots of a study, every name checked against
/// this build (a `cuda:0` in a build without CUDA is refused here, naming its key).
fn device_slots(config: &PipelineConfig, source: &Source) -> Result<(String, Vec<DeviceSlot>)> {
    let per = config.slots_per_device;
    if per == 0 || per > MAX_SLOTS_PER_DEVICE {
        return Err(source.error(
            "slots_per_device",
            format!("must be 1 to {MAX_SLOTS_PER_DEVICE}, not {per}"),
        ));
    }
    let mut parsed = Vec::new();
    for (i, name) in config.devices.iter().enumerate() {
        let key = format!("devices[{i}]");
        let device = crate::device::parse(name).map_err(|m| source.error(&key, m))?;
        if let Some(j) = parsed.iter().position(|d| *d == device) {
            return Err(source.error(
                &key,
                format!("`{name}` is the same device as devices[{j}]; use slots_per_device for more trials on one device"),
            ));
        }
        parsed.push(device);
    }
    let device = match (&config.device, config.devices.first()) {
        (Some(d), _) => d.clone(),
        (None, Some(first)) => first.clone(),
        (None, None) => "cpu".to_string(),
    };
    crate::device::parse(&device).map_err(|m| source.error("device", m))?;
    // Spread over the devices first; none without `devices` (every worker then trains on
    // `device`, as many as `workers` says).
    let slots = (0..per)
        .flat_map(|slot| {
            config.devices.iter().map(move |d| DeviceSlot {
                device: d.clone(),
                slot,
            })
        })
        .collect();
    Ok((device, slots))
}

fn check_path_safe(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '\\') || c.is_control())
    {
        return Err(format!(
            "`{}`: {c:?} cannot be in a name that becomes part of file names",
            name.escape_debug()
        ));
    }
    if name.starts_with('.') {
        return Err(format!("`{name}`: must not start with `.`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_that_would_leave_their_folder_are_refused() {
        for bad in ["", "a/b", "..", ".hidden", "a\\b", "tab\there"] {
            assert!(super::check_path_safe(bad).is_err(), "{bad:?}");
        }
        for good in ["quickstart", "tune 2", "<script>x", "étude", "a.b-c_d"] {
            assert!(super::check_path_safe(good).is_ok(), "{good:?}");
        }
    }
}
