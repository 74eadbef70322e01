//! GP search: the strategy contract, configuration errors, and quality against random
//! search and TPE on branin.

use super::{GpConfig, GpSearch};
use crate::search::RandomSearch;
use crate::search::test_support::{assert_config_errors_name_the_key, best_value, run_trials};
use kiln_core::bench::{box_space, branin};
use kiln_core::testing::check_search_strategy;
use kiln_core::{Direction, FrozenTrial, SearchSpace, SearchStrategy, StudyView, TrialState};
use serde_json::json;

fn gp(seed: u64) -> GpSearch {
    let config = GpConfig {
        n_startup_trials: 5,
        n_candidates: 128,
        ..GpConfig::default()
    };
    GpSearch::new(config, seed)
}

#[test]
fn conforms() {
    check_search_strategy(|seed| Box::new(gp(seed)));
}

#[test]
fn bad_config_names_the_key() {
    assert_config_errors_name_the_key(&[
        (json!({"kind": "gp", "n_candidates": 3}), "n_candidates"),
        (
            json!({"kind": "gp", "max_observations": 1}),
            "max_observations",
        ),
        (json!({"kind": "gp", "kernel": "rbf"}), "kernel"),
    ]);
}

/// The best value of `n` sequential trials minimising `f`.
fn best_of(s: &mut dyn SearchStrategy, space: &SearchSpace, f: fn(&[f64]) -> f64, n: u64) -> f64 {
    best_value(&run_trials(
        s,
        space,
        &[Direction::Minimize],
        &|x| vec![f(x)],
        n,
    ))
}

#[test]
fn finds_branin_minimum_faster_than_random_search() {
    let space = box_space(&[(-5.0, 10.0), (0.0, 15.0)]);
    let optimum = 0.397887;
    let mut gp_regrets = Vec::new();
    let mut random_regrets = Vec::new();
    for seed in 0..5 {
        gp_regrets.push(best_of(&mut gp(seed), &space, branin, 30) - optimum);
        random_regrets.push(best_of(&mut RandomSearch::new(seed), &space, branin, 30) - optimum);
    }
    gp_regrets.sort_by(f64::total_cmp);
    random_regrets.sort_by(f64::total_cmp);
    println!(
        "median regret at 30 trials: GP {:.4}, random {:.4}",
        gp_regrets[2], random_regrets[2]
    );
    assert!(
        gp_regrets[2] < 0.05,
        "GP median regret {:.4}",
        gp_regrets[2]
    );
    assert!(gp_regrets[2] < 0.1 * random_regrets[2]);
}

#[test]
fn maximising_is_minimising_the_negation() {
    let space = box_space(&[(-5.0, 10.0), (0.0, 15.0)]);
    let ask_all = |direction: Direction, sign: f64| {
        let mut s = gp(2);
        let mut trials: Vec<FrozenTrial> = Vec::new();
        for number in 0..15 {
            let view = StudyView {
                directions: &[direction],
                trials: &trials,
            };
            let sug = s.ask(&space, &view, number).expect("ask");
            let x: Vec<f64> = (0..2)
                .map(|i| sug.params[&format!("x{i}")].as_f64().expect("a float"))
                .collect();
            let mut t = FrozenTrial::running(number, sug.params);
            t.state = TrialState::Complete;
            t.values = Some(vec![sign * branin(&x)]);
            trials.push(t);
        }
        trials.into_iter().map(|t| t.params).collect::<Vec<_>>()
    };
    assert_eq!(
        ask_all(Direction::Minimize, 1.0),
        ask_all(Direction::Maximize, -1.0)
    );
}
