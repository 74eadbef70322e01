//! `capacity`: grow the model step by step until the gain stops paying for the cost.
//!
//! `dims` lists, per model hyperparameter, its values in growth order (more layers, more
//! units, a smaller filter). The sweep starts at every dimension's first value. Each step
//! tries advancing each dimension by one value (a brief run each), and takes the candidate
//! with the best *gain per cost*: validation-accuracy gain per million added parameters
//! (`per = "param"`) or per added second of training (`per = "second"`). A candidate that
//! gains while costing nothing (a smaller filter) counts as infinitely efficient. The sweep
//! stops when no candidate's gain per cost reaches `threshold` (or no candidate gains at
//! least `min_gain`), or the dimensions run out. The best size found is locked for later
//! stages and the whole curve is in the output.

use crate::common::describe;
use kiln_core::train::{Control, EpochReport, TrainSpec};
use kiln_core::{
    BuildContext, Error, ParamValue, Params, Result, Stage, StageContext, StageOutput,
};
use serde::{Deserialize, Serialize};

/// What the gain is divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cost {
    /// Million added trainable parameters.
    Param,
    /// Added seconds of training.
    Second,
}

/// Parameters of the `capacity` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityConfig {
    /// Per hyperparameter (`model.X`), its values in growth order.
    pub dims: serde_json::Map<String, serde_json::Value>,
    /// Epochs of each brief run.
    #[serde(default = "two")]
    pub epochs: usize,
    /// What the gain is divided by.
    #[serde(default = "per_param")]
    pub per: Cost,
    /// The least gain per cost that justifies a step.
    #[serde(default)]
    pub threshold: f64,
    /// The least absolute validation-accuracy gain that counts.
    #[serde(default = "min_gain")]
    pub min_gain: f64,
    /// Lock the best size for later stages.
    #[serde(default = "yes")]
    pub lock: bool,
}

fn two() -> usize {
    2
}
fn per_param() -> Cost {
    Cost::Param
}
fn min_gain() -> f64 {
    0.002
}
fn yes() -> bool {
    true
}

/// One brief run of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityPoint {
    /// The size tried.
    pub params: Params,
    /// Its trainable parameters.
    pub num_params: usize,
    /// Best validation accuracy of the brief run.
    pub val_accuracy: f64,
    /// Training seconds.
    pub seconds: f64,
    /// Gain per cost against the size it grew from (none for the start).
    pub gain_per_cost: Option<f64>,
    /// Taken as the next size.
    pub accepted: bool,
}

/// The `capacity` stage.
#[derive(Debug, Clone)]
pub struct CapacityStage {
    config: CapacityConfig,
    dims: Vec<(String, Vec<ParamValue>)>,
}

impl CapacityStage {
    /// Parses and validates.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let config: CapacityConfig = ctx.parse(params)?;
        let key = &ctx.key;
        if config.dims.is_empty() {
            return Err(Error::config(
                format!("{key}.dims"),
                "name at least one model hyperparameter, e.g. { \"model.filters\" = [4, 8, 16] }",
            ));
        }
        if config.epochs == 0 {
            return Err(Error::config(format!("{key}.epochs"), "must be at least 1"));
        }
        if !config.threshold.is_finite() || config.threshold < 0.0 {
            return Err(Error::config(format!("{key}.threshold"), "must be >= 0"));
        }
        let mut dims = Vec::new();
        for (name, values) in &config.dims {
            let k = format!("{key}.dims.\"{name}\"");
            if !name.starts_with("model.") {
                return Err(Error::config(
                    k,
                    "a capacity dimension is a model.X parameter",
                ));
            }
            let list = values
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| Error::config(&k, "expected a non-empty list of values"))?;
            let parsed = list
                .iter()
                .map(|v| {
                    ParamValue::from_json(v).ok_or_else(|| {
                        Error::config(&k, format!("{v} is not a number, string or bool"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            dims.push((name.clone(), parsed));
        }
        Ok(CapacityStage { config, dims })
    }

    fn brief_run(&self, ctx: &dyn StageContext, size: &Params, seed: u64) -> Result<CapacityPoint> {
        let recipe = ctx.recipe(size)?;
        let spec = TrainSpec::new(&recipe, self.config.epochs, seed);
        let mut quiet = |_: &EpochReport| -> Result<Control> { Ok(Control::Continue) };
        let out = ctx.train(&spec, &mut quiet)?;
        let best = out
            .best()
            .ok_or_else(|| Error::Training(format!("{}: no epoch finished", describe(size))))?;
        Ok(CapacityPoint {
            params: size.clone(),
            num_params: out.num_params,
            val_accuracy: best.val_accuracy,
            seconds: out.epochs.iter().map(|e| e.seconds).sum(),
            gain_per_cost: None,
            accepted: false,
        })
    }

    fn gain_per_cost(&self, from: &CapacityPoint, to: &CapacityPoint) -> f64 {
        let gain = to.val_accuracy - from.val_accuracy;
        if gain < self.config.min_gain {
            return f64::NEG_INFINITY;
        }
        let cost = match self.config.per {
            Cost::Param => (to.num_params as f64 - from.num_params as f64) / 1e6,
            Cost::Second => to.seconds - from.seconds,
        };
        if cost <= 0.0 {
            f64::INFINITY
        } else {
            gain / cost
        }
    }
}

impl Stage for CapacityStage {
    fn run(&self, ctx: &dyn StageContext) -> Result<StageOutput> {
        let mut at = vec![0usize; self.dims.len()];
        let size_of = |at: &[usize]| -> Params {
            self.dims
                .iter()
                .zip(at)
                .map(|((n, v), &i)| (n.clone(), v[i].clone()))
                .collect()
        };
        let seed = ctx.seed();
        let mut current = self.brief_run(ctx, &size_of(&at), seed)?;
        current.accepted = true;
        ctx.progress(&format!(
            "start {}: {} params, val acc {:.4}",
            describe(&current.params),
            current.num_params,
            current.val_accuracy
        ));
        let mut curve = vec![current.clone()];
        let mut stop_reason = "every dimension reached its last value".to_string();
        loop {
            let mut best: Option<(usize, CapacityPoint)> = None;
            for d in 0..self.dims.len() {
                if at[d] + 1 >= self.dims[d].1.len() {
                    continue;
                }
                let mut next = at.clone();
                next[d] += 1;
                let mut point = self.brief_run(ctx, &size_of(&next), seed)?;
                let score = self.gain_per_cost(&current, &point);
                point.gain_per_cost = Some(score);
                ctx.progress(&format!(
                    "  try {}: {} params, val acc {:.4}, gain per {} {:.4}",
                    describe(&point.params),
                    point.num_params,
                    point.val_accuracy,
                    match self.config.per {
                        Cost::Param => "M params",
                        Cost::Second => "second",
                    },
                    score
                ));
                if best
                    .as_ref()
                    .is_none_or(|(_, b)| score > b.gain_per_cost.unwrap_or(f64::NEG_INFINITY))
                {
                    best = Some((d, point.clone()));
                }
                curve.push(point);
            }
            let Some((d, mut point)) = best else {
                break;
            };
            let score = point.gain_per_cost.unwrap_or(f64::NEG_INFINITY);
            if !(score >= self.config.threshold && score > f64::NEG_INFINITY) {
                stop_reason = if score == f64::NEG_INFINITY {
                    format!(
                        "no step gained at least min_gain = {}",
                        self.config.min_gain
                    )
                } else {
                    format!(
                        "the best step's gain per cost {score:.4} is below the threshold {}",
                        self.config.threshold
                    )
                };
                break;
            }
            at[d] += 1;
            point.accepted = true;
            if let Some(p) = curve.iter_mut().rev().find(|p| p.params == point.params) {
                p.accepted = true;
            }
            ctx.progress(&format!("grow to {}", describe(&point.params)));
            current = point;
        }
        ctx.progress(&format!(
            "stopped: {stop_reason}; best size {} ({} params, val acc {:.4})",
            describe(&current.params),
            current.num_params,
            current.val_accuracy
        ));
        let mut out = StageOutput::new("capacity")
            .metric("val_accuracy", current.val_accuracy)
            .metric("num_params", current.num_params as f64);
        out.params = Some(current.params.clone());
        if self.config.lock {
            out.locks = current.params.clone();
        }
        out.details = serde_json::json!({
            "rule": format!("accept the step with the best val-accuracy gain per {}; stop below {}",
                match self.config.per { Cost::Param => "million added parameters", Cost::Second => "added second" },
                self.config.threshold),
            "stopped": stop_reason,
            "curve": curve,
        });
        Ok(out)
    }
}
