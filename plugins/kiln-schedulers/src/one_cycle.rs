use crate::util::{self, IterState};
use kiln_core::{BuildContext, Error, Result, ScheduleContext, Scheduler};
use serde::Deserialize;

/// Parameters of [`OneCycle`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OneCycleConfig {
    /// The peak rate. Default: the optimiser's base rate.
    pub max_lr: Option<f64>,
    /// Fraction of the cycle spent rising, in (0, 1). Default 0.3.
    #[serde(default = "default_pct_start")]
    pub pct_start: f64,
    /// The initial rate is `max_lr / div_factor`. Default 25.
    #[serde(default = "default_div_factor")]
    pub div_factor: f64,
    /// The final rate is `max_lr / (div_factor · final_div_factor)`. Default 1e4.
    #[serde(default = "default_final_div_factor")]
    pub final_div_factor: f64,
    /// Iterations of the cycle. Default: the whole run (`steps_per_epoch · epochs`).
    pub total_steps: Option<u64>,
}

fn default_pct_start() -> f64 {
    0.3
}
fn default_div_factor() -> f64 {
    25.0
}
fn default_final_div_factor() -> f64 {
    1e4
}

/// Smith's one-cycle policy with cosine annealing, as PyTorch's `OneCycleLR` (two phases):
/// from `max_lr / div_factor` up to `max_lr` at iteration `pct_start · total − 1`, then down
/// to `max_lr / (div_factor · final_div_factor)` at iteration `total − 1`, where it stays.
#[derive(Debug, Clone)]
pub struct OneCycle {
    config: OneCycleConfig,
    key: String,
    plan: Option<Plan>,
    iteration: u64,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    initial: f64,
    max: f64,
    last: f64,
    /// Iteration of the peak (PyTorch's `pct_start · total − 1`).
    peak_at: f64,
    /// Iteration of the final rate (`total − 1`).
    end_at: f64,
}

/// PyTorch's `_annealing_cos`: `end + (start − end)/2 · (1 + cos(π·pct))`.
fn anneal(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * (1.0 + (std::f64::consts::PI * pct).cos())
}

impl OneCycle {
    /// A one-cycle schedule with a validated `config`; `key` names its table in errors.
    pub fn new(config: OneCycleConfig, key: &str) -> Result<Self> {
        if let Some(m) = config.max_lr {
            util::ensure(
                m > 0.0 && m.is_finite(),
                key,
                "max_lr",
                format!("must be finite and > 0, got {m}"),
            )?;
        }
        let p = config.pct_start;
        util::ensure(
            p > 0.0 && p < 1.0,
            key,
            "pct_start",
            format!("must be in (0, 1), got {p}"),
        )?;
        for (field, v) in [
            ("div_factor", config.div_factor),
            ("final_div_factor", config.final_div_factor),
        ] {
            util::ensure(
                v > 0.0 && v.is_finite(),
                key,
                field,
                format!("must be finite and > 0, got {v}"),
            )?;
        }
        if let Some(t) = config.total_steps {
            util::ensure(t >= 2, key, "total_steps", format!("must be >= 2, got {t}"))?;
        }
        Ok(OneCycle {
            config,
            key: key.to_string(),
            plan: None,
            iteration: 0,
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        OneCycle::new(ctx.parse(params)?, &ctx.key)
    }
}

impl Plan {
    fn lr_at(&self, t: u64) -> f64 {
        let t = (t as f64).min(self.end_at);
        let lr = if t <= self.peak_at {
            let span = self.peak_at;
            let pct = if span > 0.0 { t / span } else { 1.0 };
            anneal(self.initial, self.max, pct)
        } else {
            let span = self.end_at - self.peak_at;
            let pct = if span > 0.0 {
                (t - self.peak_at) / span
            } else {
                1.0
            };
            anneal(self.max, self.last, pct)
        };
        util::positive(lr)
    }
}

impl Scheduler for OneCycle {
    fn start(&mut self, ctx: &ScheduleContext) -> Result<()> {
        util::check_base_lr(ctx)?;
        let total = match self.config.total_steps {
            Some(t) => t,
            None => {
                let t = util::total_steps(ctx);
                if t < 2 {
                    return Err(Error::config(
                        format!("{}.total_steps", self.key),
                        format!(
                            "the run has {t} optimiser steps; one_cycle needs at least 2 \
                             (or give `total_steps`)"
                        ),
                    ));
                }
                t
            }
        };
        let max = self.config.max_lr.unwrap_or(ctx.base_lr);
        let initial = max / self.config.div_factor;
        self.plan = Some(Plan {
            initial,
            max,
            last: initial / self.config.final_div_factor,
            peak_at: self.config.pct_start * total as f64 - 1.0,
            end_at: total as f64 - 1.0,
        });
        self.iteration = 0;
        Ok(())
    }

    fn step(&mut self) -> f64 {
        let Some(plan) = self.plan else {
            return f64::NAN;
        };
        let lr = plan.lr_at(self.iteration);
        self.iteration = self.iteration.saturating_add(1);
        lr
    }

    fn state(&self) -> serde_json::Value {
        IterState::save(self.iteration)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        self.iteration = IterState::load(state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::util::test_support::*;
    use serde_json::json;

    #[test]
    fn conforms() {
        kiln_core::testing::check_scheduler(|| build("one_cycle", json!({})).expect("valid"));
        kiln_core::testing::check_scheduler(|| {
            build(
                "one_cycle",
                json!({ "max_lr": 0.5, "total_steps": 30, "pct_start": 0.25 }),
            )
            .expect("valid")
        });
    }

    #[test]
    fn matches_pytorch() {
        // 10 × 10 = 100 steps; peak at 0.3·100 − 1 = 29.
        let mut s = started("one_cycle", json!({}), &ctx(2.0, 10, 10));
        let lrs = take(s.as_mut(), 110);
        assert_close(lrs[0], 2.0 / 25.0);
        assert_close(lrs[29], 2.0);
        assert_close(lrs[99], 2.0 / 25.0 / 1e4);
        assert!(
            lrs[100..].iter().all(|&lr| lr == lrs[99]),
            "holds the final rate"
        );
        // Half-way up and down are the means of the ends (cosine).
        assert_close(lrs[0..30].iter().copied().fold(0.0, f64::max), 2.0);
        let mid_up = (2.0 / 25.0 + 2.0) / 2.0;
        let up = super::anneal(2.0 / 25.0, 2.0, 14.5 / 29.0);
        assert_close(up, mid_up);
        assert_close(lrs[64], super::anneal(2.0, 2.0 / 25.0 / 1e4, 35.0 / 70.0));
        assert_close(lrs[64], (2.0 + 2.0 / 25.0 / 1e4) / 2.0);
        assert!(lrs[..30].windows(2).all(|w| w[1] > w[0]));
        assert!(lrs[29..100].windows(2).all(|w| w[1] < w[0]));

        // Explicit max_lr and total_steps: the rates PyTorch's OneCycleLR formula gives for
        // (max_lr=1.0, total_steps=10, pct_start=0.5, div_factor=10, final_div_factor=100),
        // computed independently in Python.
        let params = json!({
            "max_lr": 1.0, "total_steps": 10, "pct_start": 0.5,
            "div_factor": 10, "final_div_factor": 100
        });
        let mut s = started("one_cycle", params, &ctx(0.01, 3, 3));
        let lrs = take(s.as_mut(), 10);
        let expected = [
            0.09999999999999998,
            0.23180194846605362,
            0.55,
            0.8681980515339464,
            1.0,
            0.9046039886902862,
            0.6548539886902862,
            0.3461460113097138,
            0.0963960113097138,
            0.001,
        ];
        for (a, b) in lrs.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{lrs:?}");
        }
    }

    #[test]
    fn resumes_mid_run() {
        resumes_identically(
            || build("one_cycle", json!({ "max_lr": 0.3 })).expect("valid"),
            &ctx(0.1, 5, 4),
            6,
            14,
            |_| kiln_core::EpochMetrics {
                val_loss: 1.0,
                val_accuracy: 0.5,
            },
        );
    }

    #[test]
    fn bad_configs_name_the_key() {
        let c = ctx(0.1, 10, 5);
        for (params, key) in [
            (json!({ "max_lr": 0.0 }), "scheduler.max_lr"),
            (json!({ "pct_start": 1.0 }), "scheduler.pct_start"),
            (json!({ "pct_start": 0.0 }), "scheduler.pct_start"),
            (json!({ "div_factor": -1.0 }), "scheduler.div_factor"),
            (
                json!({ "final_div_factor": 0 }),
                "scheduler.final_div_factor",
            ),
            (json!({ "total_steps": 1 }), "scheduler.total_steps"),
            (json!({ "anneal_strategy": "linear" }), "scheduler"),
        ] {
            assert_eq!(error_key("one_cycle", params.clone(), &c), key, "{params}");
        }
        assert_eq!(
            error_key("one_cycle", json!({}), &ctx(0.1, 1, 1)),
            "scheduler.total_steps"
        );
    }
}
