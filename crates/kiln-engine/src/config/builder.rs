//! The typed Rust builder: the same pipelines as TOML, composed in code.
//!
//! ```ignore
//! let pipeline = PipelineBuilder::new("quick")
//!     .seed(7)
//!     .workers(2)
//!     .dataset(plugin("glyphs", json!({ "train": 600, "valid": 200 })))
//!     .model(plugin("cnn", json!({ "filters": 8 })))
//!     .optimizer(json!({ "kind": "adam", "lr": 1e-3 }))
//!     .tune(TuneBuilder::new(8).epochs(2).param("optimizer.lr", json!({
//!         "type": "float", "low": 1e-4, "high": 1e-1, "log": true })))
//!     .train_best("tune", 4)
//!     .evaluate("train")
//!     .build(&registry)?;
//! ```
//! `build` runs exactly the validation a pipeline file gets; errors name the key.

use super::{Pipeline, PipelineConfig, Source};
use crate::error::{EngineError, Result};
use kiln_core::{PluginSpec, Registry};
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// A plugin table `{ kind, ...params }` from a name and a JSON object of parameters.
pub fn plugin(kind: &str, params: Value) -> PluginSpec {
    PluginSpec {
        kind: kind.to_string(),
        params,
    }
}

fn table(spec: &PluginSpec) -> Value {
    let mut m = spec.params.as_object().cloned().unwrap_or_default();
    m.insert("kind".into(), Value::String(spec.kind.clone()));
    Value::Object(m)
}

/// Builds a `tune` stage.
#[derive(Debug, Clone)]
pub struct TuneBuilder {
    stage: Map<String, Value>,
    space: Map<String, Value>,
}

impl TuneBuilder {
    /// A tune stage that runs `trials` trials with random search.
    pub fn new(trials: usize) -> Self {
        let mut stage = Map::new();
        stage.insert("kind".into(), json!("tune"));
        stage.insert("trials".into(), json!(trials));
        TuneBuilder {
            stage,
            space: Map::new(),
        }
    }

    /// Names the stage (default `tune`).
    pub fn name(mut self, name: &str) -> Self {
        self.stage.insert("name".into(), json!(name));
        self
    }

    /// Epochs per trial.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.stage.insert("epochs".into(), json!(epochs));
        self
    }

    /// Trials at once.
    pub fn workers(mut self, workers: usize) -> Self {
        self.stage.insert("workers".into(), json!(workers));
        self
    }

    /// The search strategy.
    pub fn search(mut self, spec: PluginSpec) -> Self {
        self.stage.insert("search".into(), table(&spec));
        self
    }

    /// The pruner.
    pub fn pruner(mut self, spec: PluginSpec) -> Self {
        self.stage.insert("pruner".into(), table(&spec));
        self
    }

    /// A searched parameter, in the config form (`{ type, low, high, log, step, choices, when }`).
    pub fn param(mut self, name: &str, config: Value) -> Self {
        self.space.insert(name.to_string(), config);
        self
    }

    fn into_value(mut self) -> Value {
        self.stage.insert("space".into(), Value::Object(self.space));
        Value::Object(self.stage)
    }
}

/// Builds a [`Pipeline`] in code.
#[derive(Debug, Clone)]
pub struct PipelineBuilder {
    root: Map<String, Value>,
    stages: Vec<Value>,
    base_dir: PathBuf,
}

impl PipelineBuilder {
    /// A pipeline called `name`.
    pub fn new(name: &str) -> Self {
        let mut root = Map::new();
        root.insert("name".into(), json!(name));
        PipelineBuilder {
            root,
            stages: Vec::new(),
            base_dir: PathBuf::from("."),
        }
    }

    fn set(mut self, key: &str, v: Value) -> Self {
        self.root.insert(key.into(), v);
        self
    }

    /// The root seed.
    pub fn seed(self, seed: u64) -> Self {
        self.set("seed", json!(seed))
    }

    /// The device (`cpu`, `cuda:0`, …).
    pub fn device(self, device: &str) -> Self {
        self.set("device", json!(device))
    }

    /// Trials at once.
    pub fn workers(self, workers: usize) -> Self {
        self.set("workers", json!(workers))
    }

    /// The devices a study's trials are spread over (`["cuda:0", "cuda:1"]`).
    pub fn devices(self, devices: &[&str]) -> Self {
        self.set("devices", json!(devices))
    }

    /// Trials each of `devices` trains at once.
    pub fn slots_per_device(self, slots: usize) -> Self {
        self.set("slots_per_device", json!(slots))
    }

    /// The dataset plugin.
    pub fn dataset(self, spec: PluginSpec) -> Self {
        self.set("dataset", table(&spec))
    }

    /// The model plugin.
    pub fn model(self, spec: PluginSpec) -> Self {
        self.set("model", table(&spec))
    }

    /// The optimiser fields (`{ kind, lr, ... }`).
    pub fn optimizer(self, fields: Value) -> Self {
        self.set("optimizer", fields)
    }

    /// The scheduler plugin.
    pub fn scheduler(self, spec: PluginSpec) -> Self {
        self.set("scheduler", table(&spec))
    }

    /// Adds an augmenter.
    pub fn augment(mut self, spec: PluginSpec) -> Self {
        let list = self.root.entry("augment").or_insert_with(|| json!([]));
        if let Value::Array(a) = list {
            a.push(table(&spec));
        }
        self
    }

    /// Trainer settings (`{ batch_size, epochs, objective, eval_batch_size }`).
    pub fn trainer(self, fields: Value) -> Self {
        self.set("trainer", fields)
    }

    /// Folder that relative paths in parameters start from.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = dir.into();
        self
    }

    /// Adds a tune stage.
    pub fn tune(mut self, stage: TuneBuilder) -> Self {
        self.stages.push(stage.into_value());
        self
    }

    /// Adds a train stage using the best parameters of tune stage `from`.
    pub fn train_best(mut self, from: &str, epochs: usize) -> Self {
        self.stages
            .push(json!({ "kind": "train", "from": from, "epochs": epochs }));
        self
    }

    /// Adds an evaluate stage of stage `from`.
    pub fn evaluate(mut self, from: &str) -> Self {
        self.stages
            .push(json!({ "kind": "evaluate", "from": from }));
        self
    }

    /// Adds any stage as a raw table (`ensemble`, plugin stages).
    pub fn stage(mut self, table: Value) -> Self {
        self.stages.push(table);
        self
    }

    /// Validates into a pipeline, exactly as a file would be.
    pub fn build(mut self, registry: &Registry) -> Result<Pipeline> {
        self.root.insert("stages".into(), Value::Array(self.stages));
        let source = Source {
            path: self.base_dir.join("<builder>"),
            text: String::new(),
            overridden: Vec::new(),
        };
        let value = Value::Object(self.root);
        let config: PipelineConfig = serde_path_to_error::deserialize(&value).map_err(|e| {
            let key = e.path().to_string();
            source.error(&key, e.into_inner())
        })?;
        Pipeline::validate(config, &source, registry).map_err(|e| match e {
            EngineError::Pipeline { path, message, .. } => EngineError::Pipeline {
                path,
                line: None,
                message,
            },
            other => other,
        })
    }
}
