use crate::util::{self, IterState};
use kiln_core::{BuildContext, Result, ScheduleContext, Scheduler};
use serde::Deserialize;

/// Parameters of [`Exponential`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExponentialConfig {
    /// Factor applied at every iteration, in (0, 1].
    pub gamma: f64,
}

/// Exponential decay per optimiser step: `lr = base · gammaᵗ` at 0-based iteration `t`
/// (PyTorch's `ExponentialLR`, stepped per iteration).
#[derive(Debug, Clone)]
pub struct Exponential {
    config: ExponentialConfig,
    base_lr: Option<f64>,
    iteration: u64,
}

impl Exponential {
    /// An exponential decay with a validated `config`; `key` names its table in errors.
    pub fn new(config: ExponentialConfig, key: &str) -> Result<Self> {
        util::unit_factor(config.gamma, key, "gamma")?;
        Ok(Exponential {
            config,
            base_lr: None,
            iteration: 0,
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        Exponential::new(ctx.parse(params)?, &ctx.key)
    }
}

impl Scheduler for Exponential {
    fn start(&mut self, ctx: &ScheduleContext) -> Result<()> {
        util::check_base_lr(ctx)?;
        self.base_lr = Some(ctx.base_lr);
        self.iteration = 0;
        Ok(())
    }

    fn step(&mut self) -> f64 {
        let Some(base) = self.base_lr else {
            return f64::NAN;
        };
        let lr = util::positive(base * self.config.gamma.powf(self.iteration as f64));
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
        kiln_core::testing::check_scheduler(|| {
            build("exponential", json!({ "gamma": 0.95 })).expect("valid")
        });
    }

    #[test]
    fn matches_the_closed_form() {
        let mut s = started("exponential", json!({ "gamma": 0.9 }), &ctx(3.0, 10, 3));
        let lrs = take(s.as_mut(), 30);
        for k in [0usize, 1, 2, 7, 29] {
            assert_close(lrs[k], 3.0 * 0.9f64.powi(k as i32));
        }
        // gamma = 1 is constant; far decays stay positive.
        let mut s = started("exponential", json!({ "gamma": 1 }), &ctx(0.5, 1, 1));
        assert!(take(s.as_mut(), 5).iter().all(|&lr| lr == 0.5));
        let mut s = started("exponential", json!({ "gamma": 0.5 }), &ctx(0.5, 1, 1));
        assert!(take(s.as_mut(), 3000).iter().all(|&lr| lr > 0.0));
    }

    #[test]
    fn resumes_mid_run() {
        resumes_identically(
            || build("exponential", json!({ "gamma": 0.99 })).expect("valid"),
            &ctx(0.1, 5, 4),
            11,
            9,
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
            (json!({ "gamma": 0.0 }), "scheduler.gamma"),
            (json!({ "gamma": -0.5 }), "scheduler.gamma"),
            (json!({ "gamma": 1.01 }), "scheduler.gamma"),
            (json!({}), "scheduler"),
            (json!({ "gamma": 0.9, "step_size": 3 }), "scheduler"),
        ] {
            assert_eq!(
                error_key("exponential", params.clone(), &c),
                key,
                "{params}"
            );
        }
        assert_eq!(
            error_key("exponential", json!({ "gamma": 0.9 }), &ctx(0.0, 10, 5)),
            "optimizer.lr"
        );
    }
}
