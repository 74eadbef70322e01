use crate::util::{self, IterState};
use kiln_core::{BuildContext, Error, Result, ScheduleContext, Scheduler};
use serde::Deserialize;

/// Parameters of [`Cosine`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CosineConfig {
    /// The rate at the end of each period (at most the base rate).
    #[serde(default)]
    pub min_lr: f64,
    /// Iterations of the (first) period. Default: the whole run.
    pub period: Option<u64>,
    /// The same in epochs (converted to iterations when training starts).
    pub period_epochs: Option<u64>,
    /// Warm restarts (SGDR): at the end of a period the rate jumps back to the base rate.
    /// Without them it stays at `min_lr` once the period is over.
    #[serde(default)]
    pub restarts: bool,
    /// With `restarts`: period `i` lasts `period · t_multⁱ` (an integer ≥ 1, as PyTorch's
    /// `CosineAnnealingWarmRestarts`). Default 1.
    pub t_mult: Option<u64>,
}

/// Cosine annealing from the base rate to `min_lr`:
/// `lr = min + (base − min) · (1 + cos(π·τ/T)) / 2` at position `τ` of a period of `T`
/// iterations, so the rate never rises within a period. With `restarts`, SGDR's warm
/// restarts (periods growing by `t_mult`); without, `min_lr` after the period.
#[derive(Debug, Clone)]
pub struct Cosine {
    config: CosineConfig,
    key: String,
    /// `(base_lr, first period)`, once started.
    plan: Option<(f64, u64)>,
    iteration: u64,
}

impl Cosine {
    /// A cosine schedule with a validated `config`; `key` names its table in errors.
    pub fn new(config: CosineConfig, key: &str) -> Result<Self> {
        util::non_negative(config.min_lr, key, "min_lr")?;
        if config.period.is_some() && config.period_epochs.is_some() {
            return Err(Error::config(
                format!("{key}.period_epochs"),
                "give either `period` (iterations) or `period_epochs`, not both",
            ));
        }
        util::ensure(
            config.period != Some(0),
            key,
            "period",
            "must be at least 1",
        )?;
        util::ensure(
            config.period_epochs != Some(0),
            key,
            "period_epochs",
            "must be at least 1",
        )?;
        if let Some(m) = config.t_mult {
            util::ensure(m >= 1, key, "t_mult", format!("must be >= 1, got {m}"))?;
            util::ensure(
                config.restarts || m == 1,
                key,
                "t_mult",
                "only applies with `restarts = true`",
            )?;
        }
        Ok(Cosine {
            config,
            key: key.to_string(),
            plan: None,
            iteration: 0,
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        Cosine::new(ctx.parse(params)?, &ctx.key)
    }

    /// The rate at 0-based iteration `t`.
    fn lr_at(&self, base: f64, period: u64, t: u64) -> f64 {
        let min = self.config.min_lr;
        let mult = self.config.t_mult.unwrap_or(1);
        let (mut pos, mut len) = (t, period);
        if !self.config.restarts {
            if pos >= len {
                return util::positive(min);
            }
        } else if mult == 1 {
            pos %= len;
        } else {
            // Periods grow geometrically: O(log t) hops; a saturated length ends the loop.
            while pos >= len {
                pos -= len;
                len = len.saturating_mul(mult);
            }
        }
        let frac = pos as f64 / len as f64;
        util::positive(min + (base - min) * (1.0 + (std::f64::consts::PI * frac).cos()) / 2.0)
    }
}

impl Scheduler for Cosine {
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
        let period = match (self.config.period, self.config.period_epochs) {
            (Some(p), _) => p,
            (_, Some(e)) => e.saturating_mul(util::steps_per_epoch(ctx)),
            _ => util::total_steps(ctx).max(1),
        };
        self.plan = Some((ctx.base_lr, period));
        self.iteration = 0;
        Ok(())
    }

    fn step(&mut self) -> f64 {
        let Some((base, period)) = self.plan else {
            return f64::NAN;
        };
        let lr = self.lr_at(base, period, self.iteration);
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
        for params in [
            json!({}),
            json!({ "min_lr": 0.001, "period": 7, "restarts": true, "t_mult": 2 }),
            json!({ "period_epochs": 2, "restarts": true }),
            json!({ "period": 10 }),
        ] {
            kiln_core::testing::check_scheduler(|| build("cosine", params.clone()).expect("valid"));
        }
    }

    #[test]
    fn matches_the_closed_form() {
        // Whole run (4 × 25 = 100 iterations) by default.
        let mut s = started("cosine", json!({ "min_lr": 0.2 }), &ctx(1.0, 25, 4));
        let lrs = take(s.as_mut(), 120);
        assert_close(lrs[0], 1.0);
        assert_close(lrs[50], 0.6); // half period: (base + min) / 2
        assert_close(
            lrs[25],
            0.2 + 0.8 * (1.0 + (std::f64::consts::PI / 4.0).cos()) / 2.0,
        );
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "never rises");
        assert!(lrs[99] > 0.2 && lrs[100..].iter().all(|&lr| lr == 0.2));

        // Default min_lr = 0 stays positive, also after the period.
        let mut s = started("cosine", json!({ "period": 10 }), &ctx(0.1, 5, 4));
        let lrs = take(s.as_mut(), 20);
        assert_close(lrs[5], 0.05);
        assert!(lrs.iter().all(|&lr| lr > 0.0));
    }

    #[test]
    fn warm_restarts_grow_by_t_mult() {
        let params = json!({ "period": 4, "restarts": true, "t_mult": 2, "min_lr": 0.0 });
        let mut s = started("cosine", params, &ctx(1.0, 10, 3));
        let lrs = take(s.as_mut(), 28);
        // Periods 4, 8, 16 start at 0, 4, 12.
        for start in [0, 4, 12] {
            assert_close(lrs[start], 1.0);
        }
        assert_close(lrs[2], 0.5);
        assert_close(lrs[4 + 4], 0.5);
        assert_close(lrs[12 + 8], 0.5);
        for (a, b) in [(0, 4), (4, 12), (12, 28)] {
            assert!(
                lrs[a..b].windows(2).all(|w| w[1] < w[0]),
                "{:?}",
                &lrs[a..b]
            );
        }
        // t_mult = 1: a fixed period, in epochs.
        let mut s = started(
            "cosine",
            json!({ "period_epochs": 1, "restarts": true }),
            &ctx(1.0, 6, 3),
        );
        let lrs = take(s.as_mut(), 18);
        assert_eq!(lrs[0..6], lrs[6..12]);
        assert_close(lrs[3], 0.5);
    }

    #[test]
    fn resumes_mid_run() {
        resumes_identically(
            || {
                build(
                    "cosine",
                    json!({ "period": 3, "restarts": true, "t_mult": 3, "min_lr": 1e-4 }),
                )
                .expect("valid")
            },
            &ctx(0.1, 5, 4),
            8,
            12,
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
            (json!({ "min_lr": -1.0 }), "scheduler.min_lr"),
            (json!({ "min_lr": 0.5 }), "scheduler.min_lr"),
            (json!({ "period": 0 }), "scheduler.period"),
            (json!({ "period_epochs": 0 }), "scheduler.period_epochs"),
            (
                json!({ "period": 3, "period_epochs": 1 }),
                "scheduler.period_epochs",
            ),
            (json!({ "restarts": true, "t_mult": 0 }), "scheduler.t_mult"),
            (json!({ "t_mult": 2 }), "scheduler.t_mult"),
            (json!({ "t_mult": 1.5, "restarts": true }), "scheduler"),
            (json!({ "eta_min": 0.0 }), "scheduler"),
        ] {
            assert_eq!(error_key("cosine", params.clone(), &c), key, "{params}");
        }
    }
}
