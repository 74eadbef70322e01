//! Search spaces: what a strategy may suggest.
//!
//! A [`SearchSpace`] is an ordered list of [`ParamSpec`]s. Each has a [`Distribution`]
//! (float, int — either possibly log-scaled or stepped — or categorical) and optionally a
//! [`Condition`] that makes it active only when an earlier parameter takes given values.
//! The distributions mirror Optuna's so that a stored kiln study is an Optuna study.
//!
//! Spaces are written in config as a [`SearchSpaceConfig`] and validated once into a
//! [`SearchSpace`]: after that every bound is known to be consistent.

mod config;
mod distribution;
mod value;

pub use config::{ParamConfig, SearchSpaceConfig};
pub use distribution::Distribution;
pub use value::{ParamValue, Params, describe};

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Makes a parameter active only when `parent` takes one of `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The parameter this one depends on; it comes earlier in the space.
    pub parent: String,
    /// The parent values for which this parameter is active.
    pub values: Vec<ParamValue>,
}

/// One named parameter of a search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Dotted name, e.g. `optimizer.lr` or `model.depth`.
    pub name: String,
    /// Where its values come from.
    pub distribution: Distribution,
    /// When it is active; `None` means always.
    pub condition: Option<Condition>,
}

/// A validated search space: parents come before the parameters that depend on them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    params: Vec<ParamSpec>,
}

impl SearchSpace {
    /// Validates `params`: bounds, unique names, conditions naming earlier categorical or
    /// integer parameters. Parents are moved before their children.
    pub fn new(params: Vec<ParamSpec>) -> Result<Self> {
        let mut ordered: Vec<ParamSpec> = Vec::with_capacity(params.len());
        let mut pending = params;
        for p in &pending {
            p.distribution.validate(&p.name)?;
            if pending.iter().filter(|q| q.name == p.name).count() > 1 {
                return Err(Error::config(&p.name, "parameter is defined twice"));
            }
            if let Some(c) = &p.condition {
                let Some(parent) = pending.iter().find(|q| q.name == c.parent) else {
                    return Err(Error::config(
                        format!("{}.when", p.name),
                        format!("condition names unknown parameter `{}`", c.parent),
                    ));
                };
                for v in &c.values {
                    if !parent.distribution.contains(v) {
                        return Err(Error::config(
                            format!("{}.when", p.name),
                            format!("`{v}` is not a possible value of `{}`", c.parent),
                        ));
                    }
                }
            }
        }
        // Topological order: repeatedly take the parameters whose parent is placed.
        while !pending.is_empty() {
            let before = pending.len();
            let mut rest = Vec::new();
            for p in pending {
                let ready = match &p.condition {
                    None => true,
                    Some(c) => ordered.iter().any(|q| q.name == c.parent),
                };
                if ready {
                    ordered.push(p);
                } else {
                    rest.push(p);
                }
            }
            if rest.len() == before {
                let names: Vec<_> = rest.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::config(
                    names.join(", "),
                    "conditions form a cycle between these parameters",
                ));
            }
            pending = rest;
        }
        Ok(SearchSpace { params: ordered })
    }

    /// The parameters, parents first.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// Whether the space has no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Whether `spec` is active given the values chosen so far.
    pub fn is_active(spec: &ParamSpec, chosen: &Params) -> bool {
        match &spec.condition {
            None => true,
            Some(c) => chosen
                .get(&c.parent)
                .is_some_and(|v| c.values.iter().any(|w| w == v)),
        }
    }

    /// Checks that `params` holds exactly the active parameters, each inside its
    /// distribution. This is what the conformance suite asks of every strategy.
    pub fn check(&self, params: &Params) -> Result<()> {
        for spec in &self.params {
            let active = Self::is_active(spec, params);
            match (active, params.get(&spec.name)) {
                (true, None) => {
                    return Err(Error::config(
                        &spec.name,
                        "active parameter was not suggested",
                    ));
                }
                (false, Some(_)) => {
                    return Err(Error::config(
                        &spec.name,
                        "inactive parameter was suggested",
                    ));
                }
                (true, Some(v)) if !spec.distribution.contains(v) => {
                    return Err(Error::config(
                        &spec.name,
                        format!("value {v} is outside {}", spec.distribution),
                    ));
                }
                _ => {}
            }
        }
        if let Some(extra) = params.keys().find(|k| self.get(k).is_none()) {
            return Err(Error::config(extra, "not a parameter of the search space"));
        }
        Ok(())
    }

    /// Draws every active parameter independently and uniformly (log-uniformly for log
    /// distributions). The baseline that random search and strategies' start-up use.
    pub fn sample_uniform(&self, rng: &mut crate::Rng) -> Params {
        let mut chosen = Params::new();
        for spec in &self.params {
            if Self::is_active(spec, &chosen) {
                chosen.insert(spec.name.clone(), spec.distribution.sample(rng));
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests;
