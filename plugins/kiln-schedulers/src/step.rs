use kiln_core::burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use kiln_core::burn::lr_scheduler::step::StepLrSchedulerConfig;
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
/// Wraps Burn's `StepLrScheduler`; its state is the number of steps taken, replayed on restore.
pub struct StepDecay {
    config: StepConfig,
    inner: Option<ModuleLrScheduler>,
    ctx: Option<ScheduleContext>,
    steps: u64,
}

impl std::fmt::Debug for StepDecay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepDecay")
            .field("config", &self.config)
            .field("steps", &self.steps)
            .finish()
    }
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
            inner: None,
            ctx: None,
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
            (Some(s), _) => s,
            (_, Some(e)) => e * ctx.steps_per_epoch.max(1),
            _ => 1,
        };
        let inner = StepLrSchedulerConfig::new(ctx.base_lr, step_size)
            .with_gamma(self.config.gamma)
            .init()
            .map_err(|e| Error::config("scheduler", e))?;
        self.inner = Some(inner);
        self.ctx = Some(*ctx);
        self.steps = 0;
        Ok(())
    }

    fn step(&mut self) -> f64 {
        self.steps += 1;
        match &mut self.inner {
            Some(s) => s.step().base(),
            None => 0.0,
        }
    }

    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "steps": self.steps })
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let steps = state
            .get("steps")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| Error::config("scheduler.state", "expected { steps = N }"))?;
        let ctx = self
            .ctx
            .ok_or_else(|| Error::config("scheduler.state", "restore before start"))?;
        self.start(&ctx)?;
        for _ in 0..steps {
            self.step();
        }
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
