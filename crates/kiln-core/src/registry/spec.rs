use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A plugin named in config: `{ kind = "tpe", n_startup = 10 }` → kind `tpe`, params
/// `{ n_startup = 10 }`.
///
/// It serialises as it is written, flat (`{ "kind": "tpe", "n_startup": 10 }`), so a stored
/// spec reads back as the same spec.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// The registered name.
    pub kind: String,
    /// Everything else in the table: the plugin's own parameters.
    pub params: serde_json::Value,
}

impl PluginSpec {
    /// A spec with no parameters.
    pub fn named(kind: &str) -> Self {
        PluginSpec {
            kind: kind.to_string(),
            params: serde_json::json!({}),
        }
    }

    /// Reads a spec from a JSON object with a `kind` key, or from a bare name (`"tpe"`,
    /// the plugin with its defaults); `key` names it in errors.
    pub fn from_value(value: &serde_json::Value, key: &str) -> Result<Self> {
        if let Some(name) = value.as_str() {
            if name.is_empty() {
                return Err(Error::config(key, "an empty plugin name"));
            }
            return Ok(PluginSpec::named(name));
        }
        let obj = value.as_object().ok_or_else(|| {
            Error::config(
                key,
                "expected a plugin name or a table like { kind = \"name\", ... }",
            )
        })?;
        let kind = obj
            .get("kind")
            .ok_or_else(|| Error::config(format!("{key}.kind"), "missing: which plugin to use"))?
            .as_str()
            .ok_or_else(|| Error::config(format!("{key}.kind"), "expected a string"))?
            .to_string();
        let mut params = obj.clone();
        params.remove("kind");
        Ok(PluginSpec {
            kind,
            params: serde_json::Value::Object(params),
        })
    }

    /// The spec with `name = value` set in its parameters (a trial's suggestion).
    pub fn with_param(mut self, name: &str, value: serde_json::Value) -> Self {
        if let serde_json::Value::Object(map) = &mut self.params {
            map.insert(name.to_string(), value);
        }
        self
    }
}

impl Serialize for PluginSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut flat = serde_json::Map::new();
        flat.insert("kind".into(), serde_json::Value::String(self.kind.clone()));
        if let serde_json::Value::Object(params) = &self.params {
            for (k, v) in params {
                flat.insert(k.clone(), v.clone());
            }
        }
        serde_json::Value::Object(flat).serialize(s)
    }
}

impl<'de> Deserialize<'de> for PluginSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        PluginSpec::from_value(&value, "plugin").map_err(serde::de::Error::custom)
    }
}

/// What every factory is given besides its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildContext {
    /// The seed this object must derive all its randomness from.
    pub seed: u64,
    /// Folder that relative paths in parameters are relative to (the pipeline file's).
    pub base_dir: PathBuf,
    /// The config path of this plugin's table, for errors (e.g. `tune.search`).
    pub key: String,
}

impl BuildContext {
    /// A context with `seed`, the current folder and key `plugin`.
    pub fn new(seed: u64) -> Self {
        BuildContext {
            seed,
            base_dir: PathBuf::from("."),
            key: "plugin".into(),
        }
    }

    /// The same context for another config key.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        BuildContext {
            key: key.into(),
            ..self.clone()
        }
    }

    /// Parses a plugin's parameters into its config type (validate it afterwards); unknown
    /// and mistyped keys are errors that name this context's key.
    pub fn parse<T: DeserializeOwned>(&self, params: &serde_json::Value) -> Result<T> {
        serde_json::from_value(params.clone()).map_err(|e| Error::config(&self.key, e.to_string()))
    }

    /// Resolves a path from parameters against [`BuildContext::base_dir`].
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.base_dir.join(p)
        }
    }
}

#[cfg(test)]
mod round_trip {
    use super::PluginSpec;

    #[test]
    fn a_stored_spec_reads_back_as_the_same_spec() {
        let spec = PluginSpec::from_value(
            &serde_json::json!({ "kind": "greedy", "bags": 3, "metric": "nll" }),
            "e",
        )
        .expect("spec");
        let text = serde_json::to_string(&spec).expect("serialise");
        assert_eq!(
            serde_json::from_str::<PluginSpec>(&text).expect("read back"),
            spec
        );
        assert!(!text.contains("params"), "{text}");
    }
}
