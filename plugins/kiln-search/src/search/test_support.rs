//! Running a strategy on a test function, for the strategies' tests.

use kiln_core::testing::{context, registry_of, spec};
use kiln_core::{Direction, FrozenTrial, SearchSpace, SearchStrategy, StudyView, TrialState};

/// Runs `n` sequential trials of `f` (one value per objective) on a space of floats named
/// `x0`, `x1`, ...; every suggestion is checked against the space. Returns the trials.
pub(crate) fn run_trials(
    strategy: &mut dyn SearchStrategy,
    space: &SearchSpace,
    directions: &[Direction],
    f: &dyn Fn(&[f64]) -> Vec<f64>,
    n: u64,
) -> Vec<FrozenTrial> {
    let mut trials: Vec<FrozenTrial> = Vec::new();
    for number in 0..n {
        let view = StudyView {
            directions,
            trials: &trials,
        };
        let s = strategy.ask(space, &view, number).expect("ask");
        space.check(&s.params).expect("a valid suggestion");
        let x: Vec<f64> = (0..space.params().len())
            .map(|i| s.params[&format!("x{i}")].as_f64().expect("a float"))
            .collect();
        let mut t = FrozenTrial::running(number, s.params);
        t.state = TrialState::Complete;
        t.values = Some(f(&x));
        trials.push(t);
    }
    trials
}

/// The smallest first value among `trials`.
pub(crate) fn best_value(trials: &[FrozenTrial]) -> f64 {
    trials
        .iter()
        .filter_map(FrozenTrial::value)
        .fold(f64::INFINITY, f64::min)
}

/// Asserts that building each strategy of `cases` (plugin parameters, key) fails with an
/// error naming the key.
pub(crate) fn assert_config_errors_name_the_key(cases: &[(serde_json::Value, &str)]) {
    let registry = registry_of(crate::register);
    for (params, key) in cases {
        let err = registry
            .build_search(&spec(params.clone()), &context(0).with_key("stage.search"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(key), "{key}: {err}");
    }
}
