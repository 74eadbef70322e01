//! Helpers shared by the schedulers: validation, the positive floor and state (de)serialisation.

use kiln_core::{Error, Result, ScheduleContext};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The config key that state errors name.
pub(crate) const STATE_KEY: &str = "scheduler.state";

/// Rejects a base rate that is not finite and positive (the optimiser's `lr`).
pub(crate) fn check_base_lr(ctx: &ScheduleContext) -> Result<()> {
    if ctx.base_lr > 0.0 && ctx.base_lr.is_finite() {
        Ok(())
    } else {
        Err(Error::config(
            "optimizer.lr",
            format!("must be > 0, got {}", ctx.base_lr),
        ))
    }
}

/// `lr`, or the smallest positive normal `f64` where it underflowed to 0: a schedule decaying
/// towards 0 keeps giving a positive rate (the trait's contract).
pub(crate) fn positive(lr: f64) -> f64 {
    if lr > 0.0 { lr } else { f64::MIN_POSITIVE }
}

/// `Ok` when `ok`, else a config error naming `{key}.{field}`.
pub(crate) fn ensure(ok: bool, key: &str, field: &str, message: impl Into<String>) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!("{key}.{field}"), message))
    }
}

/// A factor in (0, 1] (`gamma`-like), named `{key}.{field}` when not.
pub(crate) fn unit_factor(value: f64, key: &str, field: &str) -> Result<()> {
    ensure(
        value > 0.0 && value <= 1.0,
        key,
        field,
        format!("must be in (0, 1], got {value}"),
    )
}

/// A finite, non-negative rate (`min_lr`-like), named `{key}.{field}` when not.
pub(crate) fn non_negative(value: f64, key: &str, field: &str) -> Result<()> {
    ensure(
        value >= 0.0 && value.is_finite(),
        key,
        field,
        format!("must be finite and >= 0, got {value}"),
    )
}

/// Exactly one of two alternative fields (`a` in iterations, `b` in epochs) is given.
pub(crate) fn exactly_one<T>(
    key: &str,
    (a, a_value): (&str, &Option<T>),
    (b, b_value): (&str, &Option<T>),
) -> Result<()> {
    match (a_value, b_value) {
        (Some(_), Some(_)) => Err(Error::config(
            format!("{key}.{b}"),
            format!("give either `{a}` (iterations) or `{b}`, not both"),
        )),
        (None, None) => Err(Error::config(
            key,
            format!("give exactly one of `{a}` (iterations) or `{b}`"),
        )),
        _ => Ok(()),
    }
}

/// Optimiser steps per epoch, at least 1 (epoch-based parameters convert through it).
pub(crate) fn steps_per_epoch(ctx: &ScheduleContext) -> u64 {
    ctx.steps_per_epoch.max(1) as u64
}

/// The run's planned optimiser steps (`steps_per_epoch · epochs`).
pub(crate) fn total_steps(ctx: &ScheduleContext) -> u64 {
    (ctx.steps_per_epoch as u64).saturating_mul(ctx.epochs as u64)
}

/// A state struct as JSON.
pub(crate) fn save<T: Serialize>(state: &T) -> serde_json::Value {
    serde_json::to_value(state).unwrap_or(serde_json::Value::Null)
}

/// A state struct from JSON; a malformed state is an error naming `scheduler.state`.
pub(crate) fn load<T: DeserializeOwned>(state: &serde_json::Value) -> Result<T> {
    serde_json::from_value(state.clone()).map_err(|e| Error::config(STATE_KEY, e.to_string()))
}

/// The state of the schedules that are a function of the iteration alone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IterState {
    /// Optimiser steps taken.
    pub iteration: u64,
}

impl IterState {
    /// The state of a schedule at `iteration`.
    pub(crate) fn save(iteration: u64) -> serde_json::Value {
        save(&IterState { iteration })
    }

    /// The iteration a saved state holds.
    pub(crate) fn load(state: &serde_json::Value) -> Result<u64> {
        Ok(load::<IterState>(state)?.iteration)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use kiln_core::{BuildContext, Error, ScheduleContext, Scheduler};

    /// A schedule context.
    pub fn ctx(base_lr: f64, steps_per_epoch: usize, epochs: usize) -> ScheduleContext {
        ScheduleContext {
            base_lr,
            steps_per_epoch,
            epochs,
        }
    }

    /// Builds `kind` from JSON parameters through the crate's factory, under key `scheduler`.
    pub fn build(kind: &str, params: serde_json::Value) -> kiln_core::Result<Box<dyn Scheduler>> {
        crate::build(kind, &params, &BuildContext::new(0).with_key("scheduler"))
    }

    /// Builds and starts `kind`.
    pub fn started(
        kind: &str,
        params: serde_json::Value,
        c: &ScheduleContext,
    ) -> Box<dyn Scheduler> {
        let mut s = build(kind, params).expect("valid config");
        s.start(c).expect("start");
        s
    }

    /// The next `n` rates.
    pub fn take(s: &mut dyn Scheduler, n: usize) -> Vec<f64> {
        (0..n).map(|_| s.step()).collect()
    }

    /// `|a - b| <= 1e-12 · max(1, |b|)`.
    pub fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    /// Asserts `close` with a message.
    #[track_caller]
    pub fn assert_close(a: f64, b: f64) {
        assert!(close(a, b), "{a} != {b}");
    }

    /// The config key of the error that building (and, if it builds, starting with `c`) gives.
    #[track_caller]
    pub fn error_key(kind: &str, params: serde_json::Value, c: &ScheduleContext) -> String {
        let result = build(kind, params).and_then(|mut s| s.start(c));
        match result {
            Err(Error::Config { key, .. }) => key,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    /// Steps a scheduler `at` times (epochs ending every `c.steps_per_epoch` with `metrics`),
    /// saves its state into a fresh one and checks both then give the same `more` rates.
    #[track_caller]
    pub fn resumes_identically(
        make: impl Fn() -> Box<dyn Scheduler>,
        c: &ScheduleContext,
        at: usize,
        more: usize,
        metrics: impl Fn(usize) -> kiln_core::EpochMetrics,
    ) {
        let spe = c.steps_per_epoch.max(1);
        let drive = |s: &mut dyn Scheduler, from: usize, n: usize| -> Vec<f64> {
            (from..from + n)
                .map(|i| {
                    let lr = s.step();
                    if (i + 1) % spe == 0 {
                        s.end_epoch(i / spe, &metrics(i / spe));
                    }
                    lr
                })
                .collect()
        };
        let mut a = make();
        a.start(c).expect("start");
        drive(a.as_mut(), 0, at);
        let state = a.state();
        let mut b = make();
        b.start(c).expect("start");
        b.load_state(&state).expect("load_state");
        assert_eq!(b.state(), state, "state after load_state");
        assert_eq!(drive(a.as_mut(), at, more), drive(b.as_mut(), at, more));
        assert!(
            matches!(
                b.load_state(&serde_json::json!({ "nonsense": true })),
                Err(Error::Config { ref key, .. }) if key == crate::util::STATE_KEY
            ),
            "a bad state must name {}",
            crate::util::STATE_KEY
        );
    }
}
