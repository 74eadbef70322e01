use crate::util;
use kiln_core::{BuildContext, EpochMetrics, PluginSpec, Result, ScheduleContext, Scheduler};
use serde::{Deserialize, Serialize};

/// Parameters of [`Warmup`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    /// Iterations of warm-up.
    pub steps: Option<u64>,
    /// The same in epochs (converted to iterations when training starts).
    pub epochs: Option<u64>,
    /// The first step's rate is `start_factor · base`, in (0, 1]. Default 0.01.
    #[serde(default = "default_start_factor")]
    pub start_factor: f64,
    /// The schedule after the warm-up, a table like `{ kind = "cosine", ... }` naming one of
    /// this crate's schedulers. Default `{ kind = "constant" }`.
    pub then: Option<serde_json::Value>,
}

fn default_start_factor() -> f64 {
    0.01
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarmupState {
    /// Optimiser steps taken (warm-up and inner together).
    iteration: u64,
    /// Epochs the inner schedule has been told about.
    inner_epochs: usize,
    /// The inner schedule's state.
    inner: serde_json::Value,
}

/// Linear warm-up in front of any schedule: for the first `W` iterations
/// `lr = base · (start_factor + (1 − start_factor) · t / W)` (PyTorch's `LinearLR`), so the
/// rate climbs from `start_factor · base` towards `base`; then the inner schedule takes over
/// with its own iteration counter starting at 0.
///
/// The inner schedule is started with the run's context less the warm-up: the same base rate
/// and steps per epoch, and the epochs left after the ones the warm-up touches (a warm-up of
/// `steps` that is not a whole number of epochs rounds up, so "the whole run" of an inner
/// schedule ends a few steps early and holds its final rate). It is told only the epochs it
/// took steps in.
pub struct Warmup {
    steps: Option<u64>,
    epochs: Option<u64>,
    start_factor: f64,
    then_kind: String,
    inner: Box<dyn Scheduler>,
    /// `(base_lr, warm-up iterations)`, once started.
    plan: Option<(f64, u64)>,
    iteration: u64,
    inner_epochs: usize,
}

impl std::fmt::Debug for Warmup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warmup")
            .field("steps", &self.steps)
            .field("epochs", &self.epochs)
            .field("start_factor", &self.start_factor)
            .field("then", &self.then_kind)
            .field("iteration", &self.iteration)
            .finish()
    }
}

impl Warmup {
    /// A warm-up with a validated `config`, building its inner schedule (key `{key}.then`).
    pub fn new(config: WarmupConfig, ctx: &BuildContext) -> Result<Self> {
        let key = &ctx.key;
        util::exactly_one(key, ("steps", &config.steps), ("epochs", &config.epochs))?;
        util::ensure(config.steps != Some(0), key, "steps", "must be at least 1")?;
        util::ensure(
            config.epochs != Some(0),
            key,
            "epochs",
            "must be at least 1",
        )?;
        util::unit_factor(config.start_factor, key, "start_factor")?;
        let then_key = format!("{key}.then");
        let spec = match &config.then {
            Some(v) => PluginSpec::from_value(v, &then_key)?,
            None => PluginSpec::named("constant"),
        };
        let inner = crate::build(&spec.kind, &spec.params, &ctx.with_key(then_key))?;
        Ok(Warmup {
            steps: config.steps,
            epochs: config.epochs,
            start_factor: config.start_factor,
            then_kind: spec.kind,
            inner,
            plan: None,
            iteration: 0,
            inner_epochs: 0,
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        Warmup::new(ctx.parse(params)?, ctx)
    }
}

impl Scheduler for Warmup {
    fn start(&mut self, ctx: &ScheduleContext) -> Result<()> {
        util::check_base_lr(ctx)?;
        let spe = util::steps_per_epoch(ctx);
        let (warm, warm_epochs) = match (self.steps, self.epochs) {
            (Some(s), _) => (s, s.div_ceil(spe)),
            (_, Some(e)) => (e.saturating_mul(spe), e),
            _ => (1, 1),
        };
        let left = (ctx.epochs as u64).saturating_sub(warm_epochs).max(1);
        self.inner.start(&ScheduleContext {
            base_lr: ctx.base_lr,
            steps_per_epoch: ctx.steps_per_epoch,
            epochs: usize::try_from(left).unwrap_or(usize::MAX),
        })?;
        self.plan = Some((ctx.base_lr, warm));
        self.iteration = 0;
        self.inner_epochs = 0;
        Ok(())
    }

    fn step(&mut self) -> f64 {
        let Some((base, warm)) = self.plan else {
            return f64::NAN;
        };
        let t = self.iteration;
        self.iteration = self.iteration.saturating_add(1);
        if t < warm {
            let sf = self.start_factor;
            util::positive(base * (sf + (1.0 - sf) * t as f64 / warm as f64))
        } else {
            self.inner.step()
        }
    }

    fn end_epoch(&mut self, _epoch: usize, metrics: &EpochMetrics) {
        let Some((_, warm)) = self.plan else {
            return;
        };
        if self.iteration > warm {
            self.inner.end_epoch(self.inner_epochs, metrics);
            self.inner_epochs += 1;
        }
    }

    fn state(&self) -> serde_json::Value {
        util::save(&WarmupState {
            iteration: self.iteration,
            inner_epochs: self.inner_epochs,
            inner: self.inner.state(),
        })
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let state: WarmupState = util::load(state)?;
        self.inner.load_state(&state.inner)?;
        self.iteration = state.iteration;
        self.inner_epochs = state.inner_epochs;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::util::test_support::*;
    use kiln_core::{EpochMetrics, Error};
    use serde_json::json;

    #[test]
    fn conforms() {
        for params in [
            json!({ "steps": 7 }),
            json!({ "epochs": 1, "start_factor": 0.1, "then": { "kind": "cosine" } }),
            json!({ "steps": 15, "then": { "kind": "one_cycle" } }),
            json!({ "steps": 5, "then": { "kind": "reduce_on_plateau", "patience": 0 } }),
            json!({ "steps": 5, "then": { "kind": "step", "step_size": 4 } }),
            json!({ "steps": 3, "then": { "kind": "warmup", "steps": 4 } }),
        ] {
            kiln_core::testing::check_scheduler(|| build("warmup", params.clone()).expect("valid"));
        }
    }

    #[test]
    fn ramps_then_delegates_to_cosine() {
        let params = json!({
            "steps": 10, "start_factor": 0.1, "then": { "kind": "cosine", "min_lr": 0.2 }
        });
        // 5 epochs of 10; the inner cosine spans the 4 epochs after the warm-up: period 40.
        let mut s = started("warmup", params, &ctx(1.0, 10, 5));
        let lrs = take(s.as_mut(), 50);
        for (t, lr) in lrs[..10].iter().enumerate() {
            assert_close(*lr, 0.1 + 0.9 * t as f64 / 10.0);
        }
        assert_close(lrs[10], 1.0);
        assert_close(lrs[30], 0.6); // half the inner period: (base + min) / 2
        assert_close(
            lrs[20],
            0.2 + 0.8 * (1.0 + (std::f64::consts::PI / 4.0).cos()) / 2.0,
        );
        assert!(lrs[10..].windows(2).all(|w| w[1] <= w[0]) && lrs[49] > 0.2);

        // `epochs = 1` is the same warm-up; the default inner is constant.
        let mut s = started("warmup", json!({ "epochs": 1 }), &ctx(0.5, 4, 3));
        let lrs = take(s.as_mut(), 12);
        assert_close(lrs[0], 0.005);
        assert_close(lrs[2], 0.5 * (0.01 + 0.99 * 0.5));
        assert!(lrs[4..].iter().all(|&lr| lr == 0.5), "{lrs:?}");
    }

    #[test]
    fn inner_counts_its_own_iterations_and_epochs() {
        // Multi-step milestones count from the end of the warm-up.
        let params = json!({ "steps": 5, "then": { "kind": "multi_step", "milestones": [3] } });
        let mut s = started("warmup", params, &ctx(1.0, 5, 4));
        let lrs = take(s.as_mut(), 10);
        assert_close(lrs[7], 1.0);
        assert_close(lrs[8], 0.1);

        // The plateau schedule is not told the warm-up's epochs.
        let params = json!({
            "epochs": 2, "then": { "kind": "reduce_on_plateau", "patience": 0 }
        });
        let mut s = started("warmup", params, &ctx(1.0, 2, 6));
        let same = EpochMetrics {
            val_loss: 1.0,
            val_accuracy: 0.5,
        };
        let mut last = Vec::new();
        for e in 0..5 {
            let lr = take(s.as_mut(), 2);
            last.push(lr[1]);
            s.end_epoch(e, &same);
        }
        // Epochs 0, 1 warm up; 2 sets the best; 3 is bad and cuts (patience 0).
        assert_close(last[2], 1.0);
        assert_close(last[3], 1.0);
        assert_close(last[4], 0.1);
    }

    #[test]
    fn resumes_mid_run() {
        for at in [4, 13] {
            resumes_identically(
                || {
                    build(
                        "warmup",
                        json!({ "steps": 8, "then": { "kind": "reduce_on_plateau", "patience": 1 } }),
                    )
                    .expect("valid")
                },
                &ctx(0.1, 3, 10),
                at,
                20,
                |e| EpochMetrics {
                    val_loss: if e < 3 { 1.0 / (e as f64 + 1.0) } else { 0.5 },
                    val_accuracy: 0.5,
                },
            );
        }
    }

    #[test]
    fn bad_configs_name_the_key() {
        let c = ctx(0.1, 10, 5);
        for (params, key) in [
            (json!({}), "scheduler"),
            (json!({ "steps": 1, "epochs": 1 }), "scheduler.epochs"),
            (json!({ "steps": 0 }), "scheduler.steps"),
            (
                json!({ "steps": 5, "start_factor": 0.0 }),
                "scheduler.start_factor",
            ),
            (
                json!({ "steps": 5, "start_factor": 2.0 }),
                "scheduler.start_factor",
            ),
            (json!({ "steps": 5, "warmup_steps": 2 }), "scheduler"),
            (json!({ "steps": 5, "then": 3 }), "scheduler.then"),
            (json!({ "steps": 5, "then": {} }), "scheduler.then.kind"),
            (
                json!({ "steps": 5, "then": { "kind": "cosyne" } }),
                "scheduler.then.kind",
            ),
            (
                json!({ "steps": 5, "then": { "kind": "exponential", "gamma": 0 } }),
                "scheduler.then.gamma",
            ),
            (
                json!({ "steps": 5, "then": { "kind": "cosine", "bogus": 1 } }),
                "scheduler.then",
            ),
            (
                json!({ "steps": 5, "then": { "kind": "cosine", "min_lr": 1.0 } }),
                "scheduler.then.min_lr",
            ),
        ] {
            assert_eq!(error_key("warmup", params.clone(), &c), key, "{params}");
        }
        match build(
            "warmup",
            json!({ "steps": 5, "then": { "kind": "cosyne" } }),
        ) {
            Err(Error::Config { message, .. }) => {
                assert!(
                    message.contains("cosine") && message.contains("one_cycle"),
                    "{message}"
                )
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("an unknown inner kind must fail"),
        }
    }
}
