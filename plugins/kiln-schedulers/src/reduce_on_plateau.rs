use crate::util;
use kiln_core::{BuildContext, EpochMetrics, Error, Result, ScheduleContext, Scheduler};
use serde::{Deserialize, Serialize};

/// Which validation metric [`ReduceOnPlateau`] watches; the mode follows from it.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Validation loss: lower is better.
    #[default]
    ValLoss,
    /// Validation accuracy: higher is better.
    ValAccuracy,
}

/// Parameters of [`ReduceOnPlateau`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReduceOnPlateauConfig {
    /// The metric watched. Default `val_loss`.
    #[serde(default)]
    pub monitor: Monitor,
    /// Factor applied at each reduction, in (0, 1). Default 0.1.
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// Epochs without improvement tolerated; the next one reduces the rate. Default 10.
    #[serde(default = "default_patience")]
    pub patience: u64,
    /// Relative improvement needed to count as better (PyTorch's `threshold_mode = "rel"`).
    /// Default 1e-4.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Epochs after a reduction during which bad epochs are not counted. Default 0.
    #[serde(default)]
    pub cooldown: u64,
    /// The rate is never reduced below this (at most the base rate). Default 0.
    #[serde(default)]
    pub min_lr: f64,
}

fn default_factor() -> f64 {
    0.1
}
fn default_patience() -> u64 {
    10
}
fn default_threshold() -> f64 {
    1e-4
}

/// Everything a resumed run needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlateauState {
    /// Reductions so far (the rate is recomputed from them, exactly).
    reductions: u32,
    /// The best metric so far (none before the first finite one).
    best: Option<f64>,
    /// Consecutive epochs without improvement.
    bad_epochs: u64,
    /// Cooldown epochs left.
    cooldown_left: u64,
}

/// Reduces the rate by `factor` when the monitored metric stops improving, as PyTorch's
/// `ReduceLROnPlateau` (relative threshold): once more than `patience` epochs in a row fail
/// to improve on the best by the relative `threshold`, `lr ← max(lr · factor, min_lr)`,
/// then `cooldown` epochs are not counted. A NaN metric never improves.
#[derive(Debug, Clone)]
pub struct ReduceOnPlateau {
    config: ReduceOnPlateauConfig,
    key: String,
    base_lr: Option<f64>,
    lr: f64,
    state: PlateauState,
}

impl ReduceOnPlateau {
    /// A plateau schedule with a validated `config`; `key` names its table in errors.
    pub fn new(config: ReduceOnPlateauConfig, key: &str) -> Result<Self> {
        let f = config.factor;
        util::ensure(
            f > 0.0 && f < 1.0,
            key,
            "factor",
            format!("must be in (0, 1), got {f}"),
        )?;
        util::non_negative(config.threshold, key, "threshold")?;
        util::non_negative(config.min_lr, key, "min_lr")?;
        Ok(ReduceOnPlateau {
            config,
            key: key.to_string(),
            base_lr: None,
            lr: f64::NAN,
            state: PlateauState::default(),
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        ReduceOnPlateau::new(ctx.parse(params)?, &ctx.key)
    }

    /// The rate after `reductions` reductions from `base`.
    fn rate(&self, base: f64, reductions: u32) -> f64 {
        let mut lr = base;
        for _ in 0..reductions {
            let next = (lr * self.config.factor).max(self.config.min_lr);
            if next == lr {
                break; // at min_lr (or underflowed): later reductions change nothing
            }
            lr = next;
        }
        lr
    }

    fn improves(&self, value: f64) -> bool {
        let t = self.config.threshold;
        match (self.state.best, self.config.monitor) {
            (_, _) if value.is_nan() => false,
            (None, _) => true,
            (Some(best), Monitor::ValLoss) => value < best * (1.0 - t),
            (Some(best), Monitor::ValAccuracy) => value > best * (1.0 + t),
        }
    }
}

impl Scheduler for ReduceOnPlateau {
    fn start(&mut self, ctx: &ScheduleContext) -> Result<()> {
        util::check_base_lr(ctx)?;
        if self.config.min_lr > ctx.base_lr {
            return Err(Error::config(
                format!("{}.min_lr", self.key),
                format!(
                    "must not exceed the base learning rate {}, got {}",
                    ctx.base_lr, self.config.min_lr
                ),
            ));
        }
        self.base_lr = Some(ctx.base_lr);
        self.lr = ctx.base_lr;
        self.state = PlateauState::default();
        Ok(())
    }

    fn step(&mut self) -> f64 {
        util::positive(self.lr)
    }

    fn end_epoch(&mut self, _epoch: usize, metrics: &EpochMetrics) {
        let value = match self.config.monitor {
            Monitor::ValLoss => metrics.val_loss,
            Monitor::ValAccuracy => metrics.val_accuracy,
        };
        if self.improves(value) {
            self.state.best = Some(value);
            self.state.bad_epochs = 0;
        } else {
            self.state.bad_epochs += 1;
        }
        if self.state.cooldown_left > 0 {
            self.state.cooldown_left -= 1;
            self.state.bad_epochs = 0;
        }
        if self.state.bad_epochs > self.config.patience {
            self.state.reductions = self.state.reductions.saturating_add(1);
            self.lr = (self.lr * self.config.factor).max(self.config.min_lr);
            self.state.cooldown_left = self.config.cooldown;
            self.state.bad_epochs = 0;
        }
    }

    fn state(&self) -> serde_json::Value {
        util::save(&self.state)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let state: PlateauState = util::load(state)?;
        if state.best.is_some_and(|b| !b.is_finite()) {
            return Err(Error::config(util::STATE_KEY, "`best` must be finite"));
        }
        if let Some(base) = self.base_lr {
            self.lr = self.rate(base, state.reductions);
        }
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test_support::*;
    use serde_json::json;

    fn loss(val_loss: f64) -> EpochMetrics {
        EpochMetrics {
            val_loss,
            val_accuracy: 0.5,
        }
    }

    fn acc(val_accuracy: f64) -> EpochMetrics {
        EpochMetrics {
            val_loss: 1.0,
            val_accuracy,
        }
    }

    #[test]
    fn conforms() {
        for params in [
            json!({}),
            json!({ "patience": 0, "factor": 0.5 }),
            json!({ "patience": 1, "monitor": "val_accuracy", "cooldown": 1 }),
        ] {
            kiln_core::testing::check_scheduler(|| {
                build("reduce_on_plateau", params.clone()).expect("valid")
            });
        }
    }

    /// Rates after each epoch of `metrics` (one step per epoch).
    fn rates(s: &mut dyn Scheduler, metrics: &[EpochMetrics]) -> Vec<f64> {
        metrics
            .iter()
            .enumerate()
            .map(|(e, m)| {
                s.step();
                s.end_epoch(e, m);
                s.step()
            })
            .collect()
    }

    #[test]
    fn reduces_after_patience_bad_epochs_on_loss() {
        let c = ctx(1.0, 1, 20);
        let mut s = started("reduce_on_plateau", json!({ "patience": 3 }), &c);
        // Improves for 2 epochs, then 3 non-improving ones (tolerated), the 4th reduces.
        let m = [1.0, 0.5, 0.5, 0.6, 0.49999, 0.7, 0.8].map(loss);
        let r = rates(s.as_mut(), &m);
        assert_eq!(r[..5], [1.0; 5], "{r:?}");
        assert_close(r[5], 0.1);
        assert_close(r[6], 0.1);
        // A real improvement resets the count.
        let mut s = started("reduce_on_plateau", json!({ "patience": 2 }), &c);
        let r = rates(s.as_mut(), &[1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6].map(loss));
        assert_eq!(r[..6], [1.0; 6], "{r:?}");
        assert_close(r[6], 0.1);
    }

    #[test]
    fn reduces_after_patience_bad_epochs_on_accuracy() {
        let c = ctx(1.0, 1, 20);
        let params = json!({ "monitor": "val_accuracy", "patience": 1, "factor": 0.5 });
        let mut s = started("reduce_on_plateau", params, &c);
        let r = rates(
            s.as_mut(),
            &[0.5, 0.6, 0.6, 0.59, 0.7, 0.7, 0.7, 0.7].map(acc),
        );
        assert_eq!(r[..3], [1.0; 3], "{r:?}");
        assert_close(r[3], 0.5);
        assert_close(r[5], 0.5);
        assert_close(r[6], 0.25);
        // The count restarts after a cut (and after an improvement).
        assert_close(r[7], 0.25);
    }

    #[test]
    fn cooldown_and_min_lr() {
        let c = ctx(1.0, 1, 20);
        let params = json!({ "patience": 0, "cooldown": 2, "min_lr": 0.005 });
        let mut s = started("reduce_on_plateau", params, &c);
        let r = rates(s.as_mut(), &[1.0; 8].map(loss));
        // Epoch 0 sets the best; 1 cuts; 2, 3 cool down; 4 cuts (to min_lr); ...
        let expected = [1.0, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.005];
        for (a, b) in r.iter().zip(expected) {
            assert_close(*a, b);
        }
        // The relative threshold: 1e-4 of the best is not enough.
        let mut s = started("reduce_on_plateau", json!({ "patience": 0 }), &c);
        let r = rates(s.as_mut(), &[1.0, 0.99995].map(loss));
        assert_close(r[1], 0.1);
        // NaN never improves.
        let mut s = started("reduce_on_plateau", json!({ "patience": 1 }), &c);
        let r = rates(s.as_mut(), &[f64::NAN, 1.0, f64::NAN, f64::NAN].map(loss));
        assert_eq!(r[..3], [1.0; 3], "{r:?}");
        assert_close(r[3], 0.1);
    }

    #[test]
    fn resumes_mid_run() {
        let params = json!({ "patience": 1, "cooldown": 1, "factor": 0.5 });
        resumes_identically(
            || build("reduce_on_plateau", params.clone()).expect("valid"),
            &ctx(0.1, 2, 20),
            9,
            20,
            |e| loss(if e < 2 { 1.0 / (e as f64 + 1.0) } else { 0.6 }),
        );
        // The state holds the best, the bad epochs, the cooldown and the reductions.
        let c = ctx(1.0, 1, 20);
        let mut s = started("reduce_on_plateau", params, &c);
        rates(s.as_mut(), &[1.0, 2.0, 2.0, 3.0, 3.0].map(loss));
        assert_eq!(
            s.state(),
            json!({ "reductions": 1, "best": 1.0, "bad_epochs": 1, "cooldown_left": 0 })
        );
        let bad = json!({ "reductions": -1, "best": 1.0, "bad_epochs": 0, "cooldown_left": 0 });
        assert!(s.load_state(&bad).is_err());
    }

    #[test]
    fn bad_configs_name_the_key() {
        let c = ctx(0.1, 10, 5);
        for (params, key) in [
            (json!({ "factor": 1.0 }), "scheduler.factor"),
            (json!({ "factor": 0.0 }), "scheduler.factor"),
            (json!({ "threshold": -0.1 }), "scheduler.threshold"),
            (json!({ "min_lr": -0.1 }), "scheduler.min_lr"),
            (json!({ "min_lr": 0.5 }), "scheduler.min_lr"),
            (json!({ "monitor": "train_loss" }), "scheduler"),
            (json!({ "patience": -1 }), "scheduler"),
            (json!({ "mode": "min" }), "scheduler"),
        ] {
            assert_eq!(
                error_key("reduce_on_plateau", params.clone(), &c),
                key,
                "{params}"
            );
        }
    }
}
