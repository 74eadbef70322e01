//! The config form of a search space, as written in a pipeline file.
//!
//! ```toml
//! [tune.space]
//! "optimizer.lr"   = { type = "float", low = 1e-4, high = 1e-1, log = true }
//! "model.depth"    = { type = "int", low = 1, high = 3 }
//! "model.dropout"  = { type = "float", low = 0.0, high = 0.5, step = 0.1 }
//! "model.activation" = { type = "categorical", choices = ["relu", "leaky_relu", "gelu"] }
//! "model.negative_slope" = { type = "float", low = 0.01, high = 0.3, log = true,
//!                            when = { param = "model.activation", in = ["leaky_relu"] } }
//! ```

use super::{Condition, Distribution, ParamSpec, ParamValue, SearchSpace};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The condition of a parameter as written in config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenConfig {
    /// The parent parameter.
    pub param: String,
    /// The parent's values that activate this parameter.
    #[serde(rename = "in")]
    pub values: Vec<ParamValue>,
}

/// One parameter as written in config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamConfig {
    /// `float`, `log_float`, `int`, `log_int` or `categorical`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Lower bound (numeric types).
    pub low: Option<f64>,
    /// Upper bound (numeric types).
    pub high: Option<f64>,
    /// Log scale (numeric types).
    #[serde(default)]
    pub log: bool,
    /// Grid step (numeric types).
    pub step: Option<f64>,
    /// Choices (categorical).
    pub choices: Option<Vec<ParamValue>>,
    /// Condition under which the parameter is active.
    pub when: Option<WhenConfig>,
}

/// A search space as written in config: parameter name → its config.
pub type SearchSpaceConfig = BTreeMap<String, ParamConfig>;

impl ParamConfig {
    /// Validates into a [`ParamSpec`]; `key` is the config path used in errors.
    pub fn to_spec(&self, name: &str, key: &str) -> Result<ParamSpec> {
        let need = |v: Option<f64>, what: &str| {
            v.ok_or_else(|| Error::config(format!("{key}.{what}"), "missing"))
        };
        let distribution = match self.kind.as_str() {
            "float" | "log_float" => Distribution::Float {
                low: need(self.low, "low")?,
                high: need(self.high, "high")?,
                log: self.log || self.kind == "log_float",
                step: self.step,
            },
            "int" | "log_int" => {
                let as_int = |v: f64, what: &str| {
                    if v.fract() == 0.0 {
                        Ok(v as i64)
                    } else {
                        Err(Error::config(
                            format!("{key}.{what}"),
                            format!("{v} is not an integer"),
                        ))
                    }
                };
                Distribution::Int {
                    low: as_int(need(self.low, "low")?, "low")?,
                    high: as_int(need(self.high, "high")?, "high")?,
                    log: self.log || self.kind == "log_int",
                    step: as_int(self.step.unwrap_or(1.0), "step")?,
                }
            }
            "categorical" => Distribution::Categorical {
                choices: self
                    .choices
                    .clone()
                    .ok_or_else(|| Error::config(format!("{key}.choices"), "missing"))?,
            },
            other => {
                return Err(Error::config(
                    format!("{key}.type"),
                    format!(
                        "unknown parameter type `{other}`; expected float, log_float, int, log_int or categorical"
                    ),
                ));
            }
        };
        distribution.validate(key)?;
        Ok(ParamSpec {
            name: name.to_string(),
            distribution,
            condition: self.when.as_ref().map(|w| Condition {
                parent: w.param.clone(),
                values: w.values.clone(),
            }),
        })
    }
}

impl SearchSpace {
    /// Validates a config-form space; `key` is its config path (e.g. `tune.space`).
    pub fn from_config(config: &SearchSpaceConfig, key: &str) -> Result<Self> {
        let specs = config
            .iter()
            .map(|(name, c)| c.to_spec(name, &format!("{key}.\"{name}\"")))
            .collect::<Result<Vec<_>>>()?;
        SearchSpace::new(specs)
    }
}
