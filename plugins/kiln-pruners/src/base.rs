//! What the pruners share: Optuna's interval rule, the best value of a series, and (for the
//! tests) a trial with a given curve. The [`kiln_core::Pruner`] trait itself, with its
//! contract, is in `kiln-core` (`prune/base.rs`).
use kiln_core::{Direction, FrozenTrial};

/// Optuna's `_is_first_in_interval_step`: whether `step` (the trial's last, `>= warmup`)
/// is the first report in its pruning interval. Checking "the previous report lies in an
/// earlier interval" instead of `step % interval == 0` keeps the check working when a
/// trial reports only every few steps.
pub(crate) fn first_in_interval(
    trial: &FrozenTrial,
    step: u64,
    warmup: u64,
    interval: u64,
) -> bool {
    let nearest_lower = (step - warmup) / interval * interval + warmup;
    trial
        .intermediate
        .range(..step)
        .next_back()
        .is_none_or(|(previous, _)| *previous < nearest_lower)
}

/// The best of `values` in `direction`, ignoring NaN (`None` when all are NaN or none).
pub(crate) fn best_of(values: impl IntoIterator<Item = f64>, direction: Direction) -> Option<f64> {
    values
        .into_iter()
        .filter(|v| !v.is_nan())
        .reduce(|a, b| if direction.better(b, a) { b } else { a })
}

/// A trial in `state` that reported `values` at steps 0, 1, ... (for the pruners' tests).
#[cfg(test)]
pub(crate) fn curve(number: u64, state: kiln_core::TrialState, values: &[f64]) -> FrozenTrial {
    let mut t = FrozenTrial::running(number, Default::default());
    t.state = state;
    t.intermediate = values
        .iter()
        .enumerate()
        .map(|(s, v)| (s as u64, *v))
        .collect();
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_uses_the_previous_report() {
        let mut t = FrozenTrial::running(0, Default::default());
        for s in [0, 3, 7] {
            t.intermediate.insert(s, 1.0);
        }
        // Interval 4 from warmup 0: step 7 shares [4, 8) with nothing earlier → first.
        assert!(first_in_interval(&t, 7, 0, 4));
        t.intermediate.insert(5, 1.0);
        assert!(!first_in_interval(&t, 7, 0, 4));
    }

    #[test]
    fn best_of_ignores_nan() {
        let values = [2.0, f64::NAN, 1.0, 3.0];
        assert_eq!(best_of(values, Direction::Minimize), Some(1.0));
        assert_eq!(best_of(values, Direction::Maximize), Some(3.0));
        assert_eq!(best_of([f64::NAN], Direction::Minimize), None);
    }
}
