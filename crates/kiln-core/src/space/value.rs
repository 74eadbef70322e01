//! Parameter values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The value of one hyperparameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A boolean choice.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A string choice, e.g. an activation name.
    Str(String),
}

impl ParamValue {
    /// The value as a float, for numeric values.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(i) => Some(*i as f64),
            ParamValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as JSON, to merge into a plugin's parameters.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Bool(b) => serde_json::Value::Bool(*b),
            ParamValue::Int(i) => serde_json::Value::from(*i),
            ParamValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            ParamValue::Str(s) => serde_json::Value::String(s.clone()),
        }
    }

    /// A value from JSON; `None` for arrays, objects and null.
    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        match v {
            serde_json::Value::Bool(b) => Some(ParamValue::Bool(*b)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(ParamValue::Int)
                .or_else(|| n.as_f64().map(ParamValue::Float)),
            serde_json::Value::String(s) => Some(ParamValue::Str(s.clone())),
            _ => None,
        }
    }
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Str(s) => write!(f, "{s}"),
        }
    }
}

/// A trial's parameters by name. Ordered, so that iteration and hashing are stable.
pub type Params = BTreeMap<String, ParamValue>;

/// Parameters as `name=value` pairs, for progress lines (floats in scientific notation).
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
