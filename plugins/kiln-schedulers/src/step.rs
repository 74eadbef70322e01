use kiln_core::{BuildContext, Error, Result, ScheduleContext, Scheduler};
use serde::Deserialize;

/// Parameters of [`StepDecay`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Factor applied at each decay (e.g. 0.95, or 0.1).
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// Iterations between decays.
    pub step_size: Option<usize>,
    /// Epochs between decays (converted to iterations when training starts).
    pub step_epochs: Option<usize>,
}

fn default_gamma() -> f64 {
    0.1
}

/// Step decay: the rate is multiplied by `gamma` every `step_size` iterations (e.g. ×0.95
/// every N, or ×0.1), i.e. `lr = base · gammaᵏ` with `k = ⌊iteration / step_size⌋` at
/// 0-based `iteration` (`step_epochs` converts to `step_size = step_epochs · steps_per_epoch`).
/// The rates are Burn's `StepLrScheduler`'s, computed in closed form; its state is the
/// number of steps taken, so a restore is immediate whatever the count (a replay of a
/// sidecar's `steps` through Burn's scheduler took time in proportion to it, and Burn's
/// scheduler panics past `i32::MAX` steps).
#[derive(Debug)]
pub struct StepDecay {
    config: StepConfig,
    /// The base rate and the step size in iterations, once started.
    plan: Option<(f64, u64)>,
    steps: u64,
}

impl StepDecay {
    /// A step decay with a validated `config`.
    pub fn new(config: StepConfig, key: &str) -> Result<Self> {
        if !(config.gamma > 0.0 && config.gamma <= 1.0) {
            return Err(Error::config(
                format!("{key}.gamma"),
                format!("must be in (0, 1], got {}", config.gamma),
            ));
        }
        match (config.step_size, config.step_epochs) {
            (Some(0), _) | (_, Some(0)) => {
                return Err(Error::config(
                    key,
                    "`step_size` / `step_epochs` must be at least 1",
                ));
            }
            (None, None) | (Some(_), Some(_)) => {
                return Err(Error::config(
                    key,
                    "give exactly one of `step_size` (iterations) or `step_epochs`",
                ));
            }
            _ => {}
        }
        Ok(StepDecay {
            config,
            plan: None,
            steps: 0,
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        StepDecay::new(ctx.parse(params)?, &ctx.key)
    }
}

impl Scheduler for StepDecay {
    fn start(&mut self, ctx: &ScheduleContext) -> Result<()> {
        let step_size = match (self.config.step_size, self.config.step_epochs) {
            (Some(s), _) => s as u64,
            (_, Some(e)) => (e as u64).saturating_mul(crate::util::steps_per_epoch(ctx)),
            _ => 1,
        };
        self.plan = Some((ctx.base_lr, step_size.max(1)));
        self.steps = 0;
        Ok(())
    }

    fn step(&mut self) -> f64 {
        let Some((base, step_size)) = self.plan else {
            return 0.0;
        };
        // As Burn's `StepLrScheduler`: base · gamma^⌊t / step_size⌋ at 0-based step t.
        let k = i32::try_from(self.steps / step_size).unwrap_or(i32::MAX);
        self.steps = self.steps.saturating_add(1);
        base * self.config.gamma.powi(k)
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "steps": self.steps })
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let steps = state
            .get("steps")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| Error::config("scheduler.state", "expected { steps = N }"))?;
        if self.plan.is_none() {
            return Err(Error::config("scheduler.state", "restore before start"));
        }
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conforms() {
        kiln_core::testing::check_scheduler(|| {
            let c = StepConfig {
                gamma: 0.5,
                step_size: Some(7),
                step_epochs: None,
            };
            Box::new(StepDecay::new(c, "s").expect("valid"))
        });
    }

    #[test]
    fn decays_by_gamma_every_step_size() {
        let c = StepConfig {
            gamma: 0.1,
            step_size: None,
            step_epochs: Some(2),
        };
        let mut s = StepDecay::new(c, "s").expect("valid");
        s.start(&ScheduleContext {
            base_lr: 1.0,
            steps_per_epoch: 3,
            epochs: 4,
        })
        .expect("start");
        let lrs: Vec<f64> = (0..7).map(|_| s.step()).collect();
        assert!(
            (lrs[5] - 1.0).abs() < 1e-12 && (lrs[6] - 0.1).abs() < 1e-12,
            "{lrs:?}"
        );
        assert!(
            StepDecay::new(
                StepConfig {
                    gamma: 2.0,
                    step_size: Some(1),
                    step_epochs: None
                },
                "s"
            )
            .is_err()
        );
    }

    #[test]
    fn every_n_iterations_and_resumes() {
        let c = StepConfig {
            gamma: 0.95,
            step_size: Some(4),
            step_epochs: None,
        };
        let make =
            || -> Box<dyn Scheduler> { Box::new(StepDecay::new(c.clone(), "s").expect("valid")) };
        let ctx = ScheduleContext {
            base_lr: 2.0,
            steps_per_epoch: 5,
            epochs: 4,
        };
        let mut s = make();
        s.start(&ctx).expect("start");
        let lrs: Vec<f64> = (0..12).map(|_| s.step()).collect();
        for (t, lr) in lrs.iter().enumerate() {
            let expected = 2.0 * 0.95f64.powi((t / 4) as i32);
            assert!((lr - expected).abs() < 1e-12, "{lrs:?}");
        }
        crate::util::test_support::resumes_identically(make, &ctx, 9, 9, |_| {
            kiln_core::EpochMetrics {
                val_loss: 1.0,
                val_accuracy: 0.5,
            }
        });
    }
}
