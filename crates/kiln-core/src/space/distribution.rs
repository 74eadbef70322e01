//! Distributions, with Optuna's semantics and its JSON encoding.

use super::ParamValue;
use crate::{Error, Result, Rng};
use serde::{Deserialize, Serialize};

/// Where a parameter's values come from. Mirrors Optuna's `FloatDistribution`,
/// `IntDistribution` and `CategoricalDistribution`, including how values are stored
/// (the "internal representation": floats and ints as themselves, categories by index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Distribution {
    /// A real in `[low, high]`, log-scaled or on a grid of `step`.
    Float {
        /// Lower bound, inclusive.
        low: f64,
        /// Upper bound, inclusive.
        high: f64,
        /// Sample on a log scale (needs `low > 0`; excludes `step`).
        log: bool,
        /// Values are `low + k * step`.
        step: Option<f64>,
    },
    /// An integer in `[low, high]`, log-scaled or on a grid of `step`.
    Int {
        /// Lower bound, inclusive.
        low: i64,
        /// Upper bound, inclusive.
        high: i64,
        /// Sample on a log scale (needs `low >= 1` and `step == 1`).
        log: bool,
        /// Values are `low + k * step`.
        step: i64,
    },
    /// One of a list of choices.
    Categorical {
        /// The choices, in order; stored by index.
        choices: Vec<ParamValue>,
    },
}

impl Distribution {
    /// Checks the bounds; `name` is used in the error.
    pub fn validate(&self, name: &str) -> Result<()> {
        match self {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => {
                if !low.is_finite() || !high.is_finite() {
                    return Err(Error::config(name, "bounds must be finite"));
                }
                if low > high {
                    return Err(Error::config(name, format!("low ({low}) > high ({high})")));
                }
                if *log && *low <= 0.0 {
                    return Err(Error::config(
                        name,
                        format!("log scale needs low > 0, got {low}"),
                    ));
                }
                if let Some(s) = step {
                    if *log {
                        return Err(Error::config(name, "`step` and `log` cannot be combined"));
                    }
                    if !(*s > 0.0 && s.is_finite()) {
                        return Err(Error::config(name, format!("step must be > 0, got {s}")));
                    }
                }
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                if low > high {
                    return Err(Error::config(name, format!("low ({low}) > high ({high})")));
                }
                if *step < 1 {
                    return Err(Error::config(
                        name,
                        format!("step must be >= 1, got {step}"),
                    ));
                }
                if *log && (*low < 1 || *step != 1) {
                    return Err(Error::config(name, "log scale needs low >= 1 and step = 1"));
                }
            }
            Distribution::Categorical { choices } => {
                if choices.is_empty() {
                    return Err(Error::config(name, "categorical needs at least one choice"));
                }
                for (i, c) in choices.iter().enumerate() {
                    if choices[..i].contains(c) {
                        return Err(Error::config(name, format!("choice `{c}` is listed twice")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `value` is a possible value.
    pub fn contains(&self, value: &ParamValue) -> bool {
        match (self, value) {
            (Distribution::Categorical { choices }, v) => choices.contains(v),
            (
                Distribution::Float {
                    low, high, step, ..
                },
                v,
            ) => match v.as_f64() {
                Some(x) => {
                    let on_grid = step.is_none_or(|s| {
                        let k = (x - low) / s;
                        (k - k.round()).abs() < 1e-6
                    });
                    x >= *low && x <= *high && on_grid
                }
                None => false,
            },
            (
                Distribution::Int {
                    low, high, step, ..
                },
                ParamValue::Int(i),
            ) => i >= low && i <= high && (i - low) % step == 0,
            _ => false,
        }
    }

    /// The single value of a distribution with one possible value.
    pub fn single(&self) -> Option<ParamValue> {
        match self {
            Distribution::Float { low, high, .. } if low == high => Some(ParamValue::Float(*low)),
            Distribution::Int { low, high, .. } if low == high => Some(ParamValue::Int(*low)),
            Distribution::Categorical { choices } if choices.len() == 1 => Some(choices[0].clone()),
            _ => None,
        }
    }

    /// Optuna's internal representation: the number stored in `trial_params.param_value`.
    pub fn to_internal(&self, value: &ParamValue) -> Option<f64> {
        match self {
            Distribution::Categorical { choices } => {
                choices.iter().position(|c| c == value).map(|i| i as f64)
            }
            _ => value.as_f64(),
        }
    }

    /// The value from its internal representation (the inverse of [`Self::to_internal`]).
    pub fn from_internal(&self, x: f64) -> Option<ParamValue> {
        match self {
            Distribution::Float { .. } => Some(ParamValue::Float(x)),
            Distribution::Int { .. } => Some(ParamValue::Int(x.round() as i64)),
            Distribution::Categorical { choices } => {
                if x >= 0.0 && x.fract() == 0.0 {
                    choices.get(x as usize).cloned()
                } else {
                    None
                }
            }
        }
    }

    /// Maps a numeric value to `[0, 1]` (log-aware). `None` for categoricals.
    pub fn to_unit(&self, value: &ParamValue) -> Option<f64> {
        let x = value.as_f64()?;
        let (lo, hi, log) = self.numeric_bounds()?;
        if hi == lo {
            return Some(0.5);
        }
        Some(if log {
            (x.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (x - lo) / (hi - lo)
        })
    }

    /// Maps `u` in `[0, 1]` to a valid value (log-aware, rounded to the step or integer).
    /// For a categorical, `u` picks a choice by equal-width bins.
    pub fn from_unit(&self, u: f64) -> ParamValue {
        let u = u.clamp(0.0, 1.0);
        match self {
            Distribution::Categorical { choices } => {
                let i = ((u * choices.len() as f64) as usize).min(choices.len() - 1);
                choices[i].clone()
            }
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => {
                let x = if *log {
                    (low.ln() + u * (high.ln() - low.ln())).exp()
                } else {
                    low + u * (high - low)
                };
                ParamValue::Float(self.round_float(x, *low, *high, *step))
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                // Widen by half a step each side so every integer has an equal share.
                let (lo, hi) = (*low as f64 - 0.5, *high as f64 + 0.5);
                let x = if *log {
                    (lo.max(0.5).ln() + u * (hi.ln() - lo.max(0.5).ln())).exp()
                } else {
                    lo + u * (hi - lo)
                };
                let k = ((x - *low as f64) / *step as f64).round() as i64;
                let max_k = (high - low) / step;
                ParamValue::Int(low + k.clamp(0, max_k) * step)
            }
        }
    }

    fn round_float(&self, x: f64, low: f64, high: f64, step: Option<f64>) -> f64 {
        match step {
            Some(s) => {
                let max_k = ((high - low) / s + 1e-9).floor();
                let k = ((x - low) / s).round().clamp(0.0, max_k);
                // Round away the float noise of `low + k·step` (0.30000000000000004 → 0.3).
                let decimals = (-s.log10()).ceil().max(0.0) as i32 + 6;
                let p = 10f64.powi(decimals.min(15));
                ((low + k * s) * p).round() / p
            }
            None => x.clamp(low, high),
        }
    }

    /// `(low, high, log)` for numeric distributions.
    pub fn numeric_bounds(&self) -> Option<(f64, f64, bool)> {
        match self {
            Distribution::Float { low, high, log, .. } => Some((*low, *high, *log)),
            Distribution::Int { low, high, log, .. } => Some((*low as f64, *high as f64, *log)),
            Distribution::Categorical { .. } => None,
        }
    }

    /// One independent draw: uniform, or log-uniform for log distributions.
    pub fn sample(&self, rng: &mut Rng) -> ParamValue {
        match self {
            Distribution::Categorical { choices } => {
                choices[rng.below(choices.len() as u64) as usize].clone()
            }
            _ => self.from_unit(rng.uniform()),
        }
    }

    /// Optuna's `distribution_json`, as `optuna.distributions.json_to_distribution` reads it.
    pub fn to_optuna_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => json!({"name": "FloatDistribution",
                "attributes": {"step": step, "low": low, "high": high, "log": log}}),
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => json!({"name": "IntDistribution",
                "attributes": {"log": log, "step": step, "low": low, "high": high}}),
            Distribution::Categorical { choices } => {
                let c: Vec<_> = choices.iter().map(ParamValue::to_json).collect();
                json!({"name": "CategoricalDistribution", "attributes": {"choices": c}})
            }
        }
    }

    /// Reads Optuna's `distribution_json` back (also the older `UniformDistribution` family).
    pub fn from_optuna_json(v: &serde_json::Value) -> Option<Self> {
        let attrs = v.get("attributes")?;
        let f = |k: &str| attrs.get(k).and_then(serde_json::Value::as_f64);
        let b = |k: &str| {
            attrs
                .get(k)
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        };
        match v.get("name")?.as_str()? {
            "FloatDistribution" => Some(Distribution::Float {
                low: f("low")?,
                high: f("high")?,
                log: b("log"),
                step: f("step"),
            }),
            "IntDistribution" => Some(Distribution::Int {
                low: f("low")? as i64,
                high: f("high")? as i64,
                log: b("log"),
                step: f("step").unwrap_or(1.0) as i64,
            }),
            "CategoricalDistribution" => Some(Distribution::Categorical {
                choices: attrs
                    .get("choices")?
                    .as_array()?
                    .iter()
                    .map(ParamValue::from_json)
                    .collect::<Option<Vec<_>>>()?,
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => {
                write!(f, "float [{low}, {high}]")?;
                if *log {
                    write!(f, " log")?;
                }
                if let Some(s) = step {
                    write!(f, " step {s}")?;
                }
                Ok(())
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                write!(f, "int [{low}, {high}]")?;
                if *log {
                    write!(f, " log")?;
                }
                if *step != 1 {
                    write!(f, " step {step}")?;
                }
                Ok(())
            }
            Distribution::Categorical { choices } => {
                let c: Vec<_> = choices.iter().map(|c| c.to_string()).collect();
                write!(f, "one of [{}]", c.join(", "))
            }
        }
    }
}
