use crate::util::{self, IterState};
use kiln_core::{BuildContext, Result, ScheduleContext, Scheduler};
use serde::Deserialize;

/// Parameters of [`MultiStep`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MultiStepConfig {
    /// Factor applied at each milestone, in (0, 1].
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// Iterations at which the rate is multiplied by `gamma` (strictly increasing, ≥ 1).
    pub milestones: Option<Vec<u64>>,
    /// The same in epochs (converted to iterations when training starts).
    pub milestone_epochs: Option<Vec<u64>>,
}

fn default_gamma() -> f64 {
    0.1
}

/// Multi-step decay: `lr = base · gammaᵏ` where `k` is the number of milestones `≤` the
/// iteration (0-based), as PyTorch's `MultiStepLR`: the step at index `m` is the first one
/// at the lower rate.
#[derive(Debug, Clone)]
pub struct MultiStep {
    config: MultiStepConfig,
    /// Milestones in iterations, once started.
    milestones: Vec<u64>,
    base_lr: Option<f64>,
    iteration: u64,
}

impl MultiStep {
    /// A multi-step decay with a validated `config`; `key` names its table in errors.
    pub fn new(config: MultiStepConfig, key: &str) -> Result<Self> {
        util::unit_factor(config.gamma, key, "gamma")?;
        util::exactly_one(
            key,
            ("milestones", &config.milestones),
            ("milestone_epochs", &config.milestone_epochs),
        )?;
        for (field, list) in [
            ("milestones", &config.milestones),
            ("milestone_epochs", &config.milestone_epochs),
        ] {
            let Some(list) = list else { continue };
            util::ensure(!list.is_empty(), key, field, "give at least one milestone")?;
            util::ensure(
                list.first().is_some_and(|&m| m >= 1),
                key,
                field,
                "milestones must be >= 1",
            )?;
            util::ensure(
                list.windows(2).all(|w| w[0] < w[1]),
                key,
                field,
                format!("must be strictly increasing, got {list:?}"),
            )?;
        }
        Ok(MultiStep {
            config,
            milestones: Vec::new(),
            base_lr: None,
            iteration: 0,
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        MultiStep::new(ctx.parse(params)?, &ctx.key)
    }

    /// The rate at 0-based iteration `t`.
    fn lr_at(&self, base: f64, t: u64) -> f64 {
        let k = self.milestones.partition_point(|&m| m <= t);
        util::positive(base * self.config.gamma.powi(k as i32))
    }
}

impl Scheduler for MultiStep {
    fn start(&mut self, ctx: &ScheduleContext) -> Result<()> {
        util::check_base_lr(ctx)?;
        let spe = util::steps_per_epoch(ctx);
        self.milestones = match (&self.config.milestones, &self.config.milestone_epochs) {
            (Some(m), _) => m.clone(),
            (_, Some(e)) => e.iter().map(|&e| e.saturating_mul(spe)).collect(),
            _ => Vec::new(),
        };
        self.base_lr = Some(ctx.base_lr);
        self.iteration = 0;
        Ok(())
    }

    fn step(&mut self) -> f64 {
        let Some(base) = self.base_lr else {
            return f64::NAN;
        };
        let lr = self.lr_at(base, self.iteration);
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

    fn constant_metrics(_: usize) -> kiln_core::EpochMetrics {
        kiln_core::EpochMetrics {
            val_loss: 1.0,
            val_accuracy: 0.5,
        }
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_scheduler(|| {
            build(
                "multi_step",
                json!({ "milestones": [5, 20, 31], "gamma": 0.5 }),
            )
            .expect("valid")
        });
        kiln_core::testing::check_scheduler(|| {
            build("multi_step", json!({ "milestone_epochs": [1, 3] })).expect("valid")
        });
    }

    #[test]
    fn decays_at_each_milestone() {
        let c = ctx(2.0, 10, 10);
        let mut s = started(
            "multi_step",
            json!({ "milestones": [3, 7], "gamma": 0.5 }),
            &c,
        );
        let lrs = take(s.as_mut(), 10);
        // Just before / at each milestone.
        assert_close(lrs[2], 2.0);
        assert_close(lrs[3], 1.0);
        assert_close(lrs[6], 1.0);
        assert_close(lrs[7], 0.5);
        assert_close(lrs[9], 0.5);

        let mut s = started(
            "multi_step",
            json!({ "milestone_epochs": [2, 3] }),
            &ctx(1.0, 4, 5),
        );
        let lrs = take(s.as_mut(), 16);
        assert_close(lrs[7], 1.0);
        assert_close(lrs[8], 0.1);
        assert_close(lrs[11], 0.1);
        assert_close(lrs[12], 0.01);
    }

    #[test]
    fn resumes_mid_run() {
        resumes_identically(
            || build("multi_step", json!({ "milestones": [4, 9, 12] })).expect("valid"),
            &ctx(0.1, 5, 4),
            7,
            10,
            constant_metrics,
        );
    }

    #[test]
    fn bad_configs_name_the_key() {
        let c = ctx(0.1, 10, 5);
        let cases = [
            (json!({ "milestones": [3, 2] }), "scheduler.milestones"),
            (json!({ "milestones": [2, 2] }), "scheduler.milestones"),
            (json!({ "milestones": [] }), "scheduler.milestones"),
            (json!({ "milestones": [0, 2] }), "scheduler.milestones"),
            (
                json!({ "milestone_epochs": [2, 1] }),
                "scheduler.milestone_epochs",
            ),
            (
                json!({ "milestones": [1], "gamma": 0.0 }),
                "scheduler.gamma",
            ),
            (
                json!({ "milestones": [1], "gamma": 1.5 }),
                "scheduler.gamma",
            ),
            (
                json!({ "milestones": [1], "milestone_epochs": [1] }),
                "scheduler.milestone_epochs",
            ),
            (json!({}), "scheduler"),
            (json!({ "milestones": [1], "gama": 0.5 }), "scheduler"),
            (json!({ "milestones": [1.5] }), "scheduler"),
        ];
        for (params, key) in cases {
            assert_eq!(error_key("multi_step", params.clone(), &c), key, "{params}");
        }
    }
}
