//! Behaviour of the TPE strategy: the conformance suite (determinism, save/restore) in
//! both modes, configuration errors, start-up trials, the constant liar, categorical,
//! log, int and stepped parameters, conditional parameters, directions, and the
//! multi-objective split.

use super::axis::Axis;
use super::benchmarks::{box_space, minimise};
use super::observe::Observations;
use super::{TpeConfig, TpeSearch};
use crate::search::test_support::assert_config_errors_name_the_key;
use kiln_core::space::SearchSpaceConfig;
use kiln_core::testing::{check_search_strategy, context, registry_of, spec};
use kiln_core::{
    Direction, FrozenTrial, ParamValue, Params, SearchSpace, SearchStrategy, StudyView, TrialState,
};
use serde_json::json;

const MIN: &[Direction] = &[Direction::Minimize];

/// A TPE search with the default config, changed by `change`.
fn tpe_with(seed: u64, change: impl FnOnce(&mut TpeConfig)) -> TpeSearch {
    let mut config = TpeConfig::default();
    change(&mut config);
    TpeSearch::new(config, seed)
}

fn tpe(multivariate: bool, seed: u64) -> TpeSearch {
    tpe_with(seed, |c| c.multivariate = multivariate)
}

fn complete(number: u64, params: Params, values: Vec<f64>) -> FrozenTrial {
    let mut t = FrozenTrial::running(number, params);
    t.state = TrialState::Complete;
    t.values = Some(values);
    t
}

/// A space from its config form, e.g. `{"x": {"type": "float", "low": 0, "high": 1}}`.
fn space(config: serde_json::Value) -> SearchSpace {
    let config: SearchSpaceConfig = serde_json::from_value(config).expect("a space config");
    SearchSpace::from_config(&config, "space").expect("a valid space")
}

/// `n` sequential trials of `score` by `strategy`, every suggestion checked.
fn run(
    strategy: &mut TpeSearch,
    space: &SearchSpace,
    directions: &[Direction],
    score: impl Fn(&Params) -> Vec<f64>,
    n: u64,
) -> Vec<FrozenTrial> {
    let mut trials: Vec<FrozenTrial> = Vec::new();
    for number in 0..n {
        let view = StudyView {
            directions,
            trials: &trials,
        };
        let p = strategy.ask(space, &view, number).expect("ask").params;
        space.check(&p).expect("a valid suggestion");
        let values = score(&p);
        trials.push(complete(number, p, values));
    }
    trials
}

/// The split of `trials` for an ask: the number of rows, and those (in study order) that
/// are "below".
fn split(
    space: &SearchSpace,
    directions: &[Direction],
    trials: &[FrozenTrial],
) -> (usize, Vec<usize>) {
    let axes: Vec<Axis<'_>> = space
        .params()
        .iter()
        .map(|s| Axis::new(&s.distribution))
        .collect();
    let view = StudyView { directions, trials };
    let obs = Observations::collect(space, &axes, &view, 99, &TpeConfig::default());
    (
        obs.rows(),
        (0..obs.rows()).filter(|&r| obs.below[r]).collect(),
    )
}

#[test]
fn conforms_in_both_modes_and_without_startup() {
    check_search_strategy(|seed| Box::new(tpe(true, seed)));
    check_search_strategy(|seed| Box::new(tpe(false, seed)));
    // TPE from the second trial on: the estimators see few, mixed observations.
    check_search_strategy(|seed| Box::new(tpe_with(seed, |c| c.n_startup_trials = 1)));
}

#[test]
fn builds_from_the_registry_and_bad_config_names_the_key() {
    let reg = registry_of(crate::register);
    let ok = json!({"kind": "tpe", "multivariate": false, "seed": 3});
    assert!(reg.build_search(&spec(ok), &context(1)).is_ok());
    assert_config_errors_name_the_key(&[
        (
            json!({"kind": "tpe", "n_ei_candidates": 0}),
            "n_ei_candidates",
        ),
        (json!({"kind": "tpe", "gamma": 0.0}), "gamma"),
        (json!({"kind": "tpe", "gamma": 1.5}), "gamma"),
        (json!({"kind": "tpe", "prior_weight": -1.0}), "prior_weight"),
        (json!({"kind": "tpe", "max_below": 0}), "max_below"),
        (json!({"kind": "tpe", "unknown": 1}), "unknown"),
    ]);
}

/// A study of `n` complete trials on `space`, by random search.
fn seeded_study(space: &SearchSpace, n: u64) -> Vec<FrozenTrial> {
    let mut random = crate::search::RandomSearch::new(11);
    let f = |x: &[f64]| x.iter().map(|v| (v - 0.3).powi(2)).sum();
    minimise(&mut random, space, f, n)
}

#[test]
fn draws_uniformly_until_the_startup_trials_are_complete() {
    // Until `n_startup_trials` trials are complete an ask is the space's uniform draw from
    // the trial's own stream; running and failed trials do not count.
    let space = box_space(&[(0.0, 1.0); 2]);
    let mut trials = seeded_study(&space, 4);
    trials.push(FrozenTrial::running(4, trials[0].params.clone()));
    let mut failed = FrozenTrial::running(5, trials[1].params.clone());
    failed.state = TrialState::Fail;
    trials.push(failed);
    let view = StudyView {
        directions: MIN,
        trials: &trials,
    };
    let ask = |n| {
        let mut s = tpe_with(6, |c| c.n_startup_trials = n);
        s.ask(&space, &view, 9).expect("ask").params
    };
    let uniform = space.sample_uniform(&mut kiln_core::Rng::derive(6, &[9]));
    assert_eq!(ask(5), uniform);
    assert_ne!(ask(4), uniform, "4 complete trials: the model takes over");
}

#[test]
fn constant_liar_avoids_repeating_a_running_point() {
    let space = box_space(&[(0.0, 1.0); 2]);
    let mut trials = seeded_study(&space, 20);
    for liar in [true, false] {
        let mut s = tpe_with(4, |c| c.constant_liar = liar);
        let mut ask = |trials: &[FrozenTrial]| {
            let view = StudyView {
                directions: MIN,
                trials,
            };
            s.ask(&space, &view, 21).expect("ask").params
        };
        let first = ask(&trials);
        // A parallel worker already runs that very point as trial 20.
        trials.push(FrozenTrial::running(20, first.clone()));
        let again = ask(&trials);
        trials.pop();
        if liar {
            assert_ne!(first, again, "the running point was proposed again");
        } else {
            assert_eq!(first, again, "without the liar running trials are ignored");
        }
    }
}

#[test]
fn categorical_only_space_concentrates_on_the_best_choice() {
    let abcd = json!({"type": "categorical", "choices": ["a", "b", "c", "d"]});
    let space = space(json!({"p": abcd, "q": abcd}));
    let miss = |p: &Params, k: &str, v: &str| f64::from(p[k] != ParamValue::Str(v.into()));
    let score = |p: &Params| vec![miss(p, "p", "c") + miss(p, "q", "a")];
    for multivariate in [true, false] {
        let trials = run(&mut tpe(multivariate, 9), &space, MIN, score, 60);
        let late_hits = trials[30..].iter().filter(|t| t.value() == Some(0.0));
        let late_hits = late_hits.count();
        assert!(
            late_hits >= 15,
            "multivariate={multivariate}: {late_hits}/30 optimal"
        );
    }
}

#[test]
fn log_int_and_stepped_parameters_concentrate_near_the_optimum() {
    let space = space(json!({
        "lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": true},
        "width": {"type": "int", "low": 8, "high": 256, "log": true},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
        "layers": {"type": "int", "low": 1, "high": 9, "step": 2},
    }));
    // Best at lr 1e-3, width 64, dropout 0.2, layers 5.
    let score = |p: &Params| {
        let get = |k: &str| p[k].as_f64().expect("a number");
        let lr_width = (get("lr").log10() + 3.0).powi(2) + (get("width").log2() - 6.0).powi(2);
        vec![lr_width + (get("dropout") - 0.2).abs() * 10.0 + (get("layers") - 5.0).abs()]
    };
    for multivariate in [true, false] {
        let trials = run(&mut tpe(multivariate, 3), &space, MIN, score, 80);
        let mut late: Vec<f64> = trials[40..].iter().filter_map(FrozenTrial::value).collect();
        late.sort_by(f64::total_cmp);
        let median = late[late.len() / 2];
        assert!(
            median < 3.0,
            "multivariate={multivariate}: late median {median}"
        );
    }
}

#[test]
fn maximises_when_asked_to() {
    let space = box_space(&[(-3.0, 3.0)]);
    let score = |p: &Params| vec![-(p["x0"].as_f64().expect("float") - 1.0).powi(2)];
    let trials = run(&mut tpe(true, 2), &space, &[Direction::Maximize], score, 40);
    let best = trials.iter().filter_map(FrozenTrial::value);
    let best = best.fold(f64::NEG_INFINITY, f64::max);
    assert!(best > -0.01, "maximising reached only {best}");
}

#[test]
fn conditional_children_are_sampled_only_when_active() {
    let space = space(json!({
        "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 1.0,
                     "when": {"param": "opt", "in": ["sgd"]}},
    }));
    // sgd with momentum near 0.9 is best.
    let score = |p: &Params| match p.get("momentum").and_then(ParamValue::as_f64) {
        Some(m) => vec![(m - 0.9).abs()],
        None => vec![0.5],
    };
    let trials = run(&mut tpe(true, 5), &space, MIN, score, 50);
    let late_sgd = trials[30..]
        .iter()
        .filter(|t| t.params.contains_key("momentum"));
    let late_sgd = late_sgd.count();
    assert!(late_sgd >= 14, "only {late_sgd}/20 late trials chose sgd");
    let best = trials
        .iter()
        .filter_map(FrozenTrial::value)
        .fold(f64::INFINITY, f64::min);
    assert!(best < 0.02, "best {best}");
}

fn at(x: f64) -> Params {
    Params::from([("x0".to_string(), ParamValue::Float(x))])
}

#[test]
fn pruned_trials_rank_after_complete_ones_and_failures_are_ignored() {
    let space = box_space(&[(0.0, 1.0)]);
    let mut trials: Vec<FrozenTrial> = (0..20u64)
        .map(|i| complete(i, at(i as f64 / 20.0), vec![i as f64]))
        .collect();
    let mut pruned = FrozenTrial::running(20, at(0.99));
    pruned.state = TrialState::Pruned;
    pruned.intermediate.insert(3, -100.0);
    trials.push(pruned);
    let mut failed = FrozenTrial::running(21, at(0.5));
    failed.state = TrialState::Fail;
    trials.push(failed);
    trials.push(FrozenTrial::running(22, at(0.7)));
    // 20 complete + 1 pruned + 1 running rows (the failure dropped); n_below =
    // ceil(0.1 * 21) = 3: trials 0, 1, 2 despite the pruned trial's -100.
    let (rows, below) = split(&space, MIN, &trials);
    assert_eq!((rows, below), (22, vec![0, 1, 2]));
}

#[test]
fn multi_objective_split_takes_the_front() {
    // Minimise f0, maximise f1. Trials 0..4 are the front; the other 36 are dominated by
    // trial 3.
    let front = (0..4).map(|i| (i as f64, i as f64));
    let dominated = (0..36).map(|i| (3.5 + 0.5 * i as f64, 2.5 - i as f64));
    let trials: Vec<FrozenTrial> = front
        .chain(dominated)
        .enumerate()
        .map(|(i, (a, b))| complete(i as u64, at(i as f64 / 40.0), vec![a, b]))
        .collect();
    let dirs = [Direction::Minimize, Direction::Maximize];
    // n_below = ceil(0.1 * 40) = 4: exactly the front.
    let (_, below) = split(&box_space(&[(0.0, 1.0)]), &dirs, &trials);
    assert_eq!(below, vec![0, 1, 2, 3]);

    // And the strategy favours the Pareto set x in [0, 2] of a bi-objective problem.
    let space = box_space(&[(-5.0, 5.0)]);
    let score = |p: &Params| {
        let x = p["x0"].as_f64().expect("float");
        vec![x * x, (x - 2.0).powi(2)]
    };
    let dirs = [Direction::Minimize, Direction::Minimize];
    let trials = run(&mut tpe(true, 8), &space, &dirs, score, 60);
    let in_set = trials[30..]
        .iter()
        .filter(|t| (-0.1..=2.1).contains(&t.params["x0"].as_f64().unwrap_or(9.0)))
        .count();
    // Uniform sampling would put ~21% there.
    assert!(
        in_set >= 12,
        "only {in_set}/30 late trials in the Pareto set"
    );
}
