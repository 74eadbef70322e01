use crate::{Params, PluginSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A trained model: the parameters that rebuild its architecture and its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Parameters merged into the pipeline's base config (and earlier locks) to rebuild it.
    #[serde(default)]
    pub params: Params,
    /// The safetensors file, relative to the run directory.
    pub checkpoint: PathBuf,
    /// The epoch the weights were taken at, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<usize>,
    /// The tune trial it comes from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<u64>,
    /// Validation accuracy when it was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    /// Validation loss when it was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
}

/// A learning-rate range test's finding.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSuggestion {
    /// The suggested learning rate.
    pub suggested: f64,
    /// The low end of the range worth searching.
    pub low: f64,
    /// The high end of the range worth searching.
    pub high: f64,
}

/// What a stage hands to the stages after it, typed, and what `kiln show` prints.
///
/// Every field but `kind` is optional; a stage fills what it produces. `locks` is how a
/// finding becomes the default of everything after it: each later stage's recipe is the
/// base config, then every earlier stage's locks in order, then its own parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StageOutput {
    /// The stage's kind (`train`, `tune`, `lr_find`, …).
    pub kind: String,
    /// Parameters that later stages use unless they set their own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub locks: Params,
    /// The best parameters found (a tune stage's best trial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Params>,
    /// The model the stage produced (a train stage's best checkpoint, a tune stage's best
    /// trial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// Several models: an ensemble's members, a run's top-k checkpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<ModelRef>,
    /// The members' weights, as the ensembler fitted them (empty: equal weights).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<f64>,
    /// How `members` are combined, for an ensemble.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensembler: Option<PluginSpec>,
    /// A learning-rate range test's finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<LrSuggestion>,
    /// Headline numbers (`val_accuracy`, `test_accuracy`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// Everything else the stage reports (curves, histories, tables), as JSON.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl StageOutput {
    /// An empty output of `kind`.
    pub fn new(kind: &str) -> Self {
        StageOutput {
            kind: kind.to_string(),
            ..StageOutput::default()
        }
    }

    /// Sets a headline number.
    pub fn metric(mut self, name: &str, value: f64) -> Self {
        self.metrics.insert(name.to_string(), value);
        self
    }

    /// The models this output offers, for evaluation: its ensemble members if it has any,
    /// else its model.
    pub fn models(&self) -> Vec<&ModelRef> {
        if self.members.is_empty() {
            self.model.iter().collect()
        } else {
            self.members.iter().collect()
        }
    }

    /// One weight per model of [`StageOutput::models`]: the fitted weights, or equal ones.
    pub fn model_weights(&self) -> Vec<f64> {
        let n = self.models().len();
        if self.weights.len() == n {
            self.weights.clone()
        } else {
            vec![1.0; n]
        }
    }
}
