//! Behaviour of the TPE strategy: the conformance suite in both modes, configuration,
//! the constant liar, categorical-only and conditional spaces, directions, and the
//! multi-objective split.

use super::axis::Axis;
use super::benchmarks::{box_space, minimise};
use super::observe::{Observations, SplitParams, TrialMemo};
use super::{TpeConfig, TpeSearch};
use kiln_core::testing::{context, registry_of, spec};
use kiln_core::{
    Condition, Direction, Distribution, FrozenTrial, ParamSpec, ParamValue, Params, SearchSpace,
    SearchStrategy, StudyView, TrialState,
};
use serde_json::json;

fn tpe(multivariate: bool, seed: u64) -> TpeSearch {
    TpeSearch::new(
        TpeConfig {
            multivariate,
            ..TpeConfig::default()
        },
        seed,
    )
}

fn complete(number: u64, params: Params, values: Vec<f64>) -> FrozenTrial {
    let mut t = FrozenTrial::running(number, params);
    t.state = TrialState::Complete;
    t.values = Some(values);
    t
}

#[test]
fn conforms_multivariate() {
    kiln_core::testing::check_search_strategy(|seed| Box::new(tpe(true, seed)));
}

#[test]
fn conforms_univariate() {
    kiln_core::testing::check_search_strategy(|seed| Box::new(tpe(false, seed)));
}

#[test]
fn conforms_without_startup_on_mixed_space() {
    // TPE from the second trial on: the estimators see few, mixed observations.
    kiln_core::testing::check_search_strategy(|seed| {
        Box::new(TpeSearch::new(
            TpeConfig {
                n_startup_trials: 1,
                ..TpeConfig::default()
            },
            seed,
        ))
    });
}

#[test]
fn builds_from_the_registry_and_rejects_bad_config() {
    let reg = registry_of(super::register);
    let ok = reg.build_search(
        &spec(json!({"kind": "tpe", "multivariate": false, "seed": 3})),
        &context(1),
    );
    assert!(ok.is_ok());
    for bad in [
        json!({"kind": "tpe", "n_ei_candidates": 0}),
        json!({"kind": "tpe", "gamma": 0.0}),
        json!({"kind": "tpe", "prior_weight": -1.0}),
        json!({"kind": "tpe", "max_below": 0}),
        json!({"kind": "tpe", "unknown": 1}),
    ] {
        let err = reg.build_search(&spec(bad.clone()), &context(1));
        assert!(err.is_err(), "{bad} was accepted");
    }
}

/// A study of `n` complete trials of `f` on `space`, by random search.
fn seeded_study(space: &SearchSpace, n: u64) -> Vec<FrozenTrial> {
    let mut random = crate::search::RandomSearch::new(11);
    minimise(
        &mut random,
        space,
        |x| x.iter().map(|v| (v - 0.3).powi(2)).sum(),
        n,
    )
}

#[test]
fn constant_liar_avoids_repeating_a_running_point() {
    let space = box_space(&[(0.0, 1.0); 2]);
    let mut trials = seeded_study(&space, 20);
    let dirs = [Direction::Minimize];
    for liar in [true, false] {
        let config = TpeConfig {
            constant_liar: liar,
            ..TpeConfig::default()
        };
        let mut s = TpeSearch::new(config, 4);
        let view = StudyView {
            directions: &dirs,
            trials: &trials,
        };
        let first = s.ask(&space, &view, 21).expect("ask").params;
        // A parallel worker already runs that very point as trial 20.
        trials.push(FrozenTrial::running(20, first.clone()));
        let view = StudyView {
            directions: &dirs,
            trials: &trials,
        };
        let again = s.ask(&space, &view, 21).expect("ask").params;
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
    let choices: Vec<ParamValue> = ["a", "b", "c", "d"]
        .iter()
        .map(|s| ParamValue::Str((*s).into()))
        .collect();
    let cat = |name: &str| ParamSpec {
        name: name.into(),
        distribution: Distribution::Categorical {
            choices: choices.clone(),
        },
        condition: None,
    };
    let space = SearchSpace::new(vec![cat("p"), cat("q")]).expect("space");
    let score = |p: &Params| -> f64 {
        let hit = |k: &str, v: &str| {
            if p[k] == ParamValue::Str(v.into()) {
                0.0
            } else {
                1.0
            }
        };
        hit("p", "c") + hit("q", "a")
    };
    for multivariate in [true, false] {
        let mut s = tpe(multivariate, 9);
        let mut trials: Vec<FrozenTrial> = Vec::new();
        for number in 0..60 {
            let view = StudyView {
                directions: &[Direction::Minimize],
                trials: &trials,
            };
            let p = s.ask(&space, &view, number).expect("ask").params;
            space.check(&p).expect("valid");
            let v = score(&p);
            trials.push(complete(number, p, vec![v]));
        }
        let late_hits = trials[30..]
            .iter()
            .filter(|t| t.value() == Some(0.0))
            .count();
        assert!(
            late_hits >= 15,
            "multivariate={multivariate}: {late_hits}/30 optimal"
        );
    }
}

#[test]
fn maximises_when_asked_to() {
    let space = box_space(&[(-3.0, 3.0)]);
    let mut s = tpe(true, 2);
    let mut trials: Vec<FrozenTrial> = Vec::new();
    for number in 0..40 {
        let view = StudyView {
            directions: &[Direction::Maximize],
            trials: &trials,
        };
        let p = s.ask(&space, &view, number).expect("ask").params;
        let x = p["x0"].as_f64().expect("float");
        trials.push(complete(number, p, vec![-(x - 1.0).powi(2)]));
    }
    let best = trials
        .iter()
        .filter_map(FrozenTrial::value)
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(best > -0.01, "maximising reached only {best}");
}

#[test]
fn conditional_children_are_sampled_only_when_active() {
    let space = SearchSpace::new(vec![
        ParamSpec {
            name: "opt".into(),
            distribution: Distribution::Categorical {
                choices: vec![
                    ParamValue::Str("sgd".into()),
                    ParamValue::Str("adam".into()),
                ],
            },
            condition: None,
        },
        ParamSpec {
            name: "momentum".into(),
            distribution: Distribution::Float {
                low: 0.0,
                high: 1.0,
                log: false,
                step: None,
            },
            condition: Some(Condition {
                parent: "opt".into(),
                values: vec![ParamValue::Str("sgd".into())],
            }),
        },
    ])
    .expect("space");
    let mut s = tpe(true, 5);
    let mut trials: Vec<FrozenTrial> = Vec::new();
    for number in 0..50 {
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        let p = s.ask(&space, &view, number).expect("ask").params;
        space.check(&p).expect("valid");
        // sgd with momentum near 0.9 is best.
        let v = match p.get("momentum").and_then(ParamValue::as_f64) {
            Some(m) => (m - 0.9).abs(),
            None => 0.5,
        };
        trials.push(complete(number, p, vec![v]));
    }
    let late_sgd = trials[30..]
        .iter()
        .filter(|t| t.params.contains_key("momentum"))
        .count();
    assert!(late_sgd >= 14, "only {late_sgd}/20 late trials chose sgd");
    let best = trials
        .iter()
        .filter_map(FrozenTrial::value)
        .fold(f64::INFINITY, f64::min);
    assert!(best < 0.02, "best {best}");
}

#[test]
fn pruned_trials_rank_after_complete_ones_and_failures_are_ignored() {
    let space = box_space(&[(0.0, 1.0)]);
    let p = |x: f64| Params::from([("x0".to_string(), ParamValue::Float(x))]);
    let mut trials = Vec::new();
    for i in 0..20u64 {
        trials.push(complete(i, p(i as f64 / 20.0), vec![i as f64]));
    }
    let mut pruned = FrozenTrial::running(20, p(0.99));
    pruned.state = TrialState::Pruned;
    pruned.intermediate.insert(3, -100.0);
    trials.push(pruned);
    let mut failed = FrozenTrial::running(21, p(0.5));
    failed.state = TrialState::Fail;
    trials.push(failed);
    trials.push(FrozenTrial::running(22, p(0.7)));
    let axes: Vec<Axis<'_>> = space
        .params()
        .iter()
        .map(|s| Axis::new(&s.distribution))
        .collect();
    let view = StudyView {
        directions: &[Direction::Minimize],
        trials: &trials,
    };
    let split = SplitParams {
        constant_liar: true,
        gamma: 0.1,
        max_below: 25,
    };
    let obs = Observations::collect(&mut TrialMemo::default(), &space, &axes, &view, 99, &split);
    // 20 complete + 1 pruned usable, 1 running, the failure dropped.
    assert_eq!(obs.rows(), 22);
    // n_below = ceil(0.1 * 21) = 3: trials 0, 1, 2 despite the pruned trial's -100.
    let below: Vec<usize> = (0..obs.rows()).filter(|&r| obs.below[r]).collect();
    assert_eq!(below, vec![0, 1, 2]);
}

#[test]
fn multi_objective_split_takes_the_front() {
    let space = box_space(&[(0.0, 1.0)]);
    let p = |x: f64| Params::from([("x0".to_string(), ParamValue::Float(x))]);
    // Minimise f0, maximise f1. Trials 0..4 are on the front; the others are dominated.
    let values = [
        (0.0, 0.0),
        (1.0, 1.0),
        (2.0, 2.0),
        (3.0, 3.0),
        (1.5, 0.5),
        (2.5, 1.5),
        (3.5, 2.5),
        (4.0, 0.0),
        (5.0, -1.0),
        (6.0, -2.0),
        (7.0, -3.0),
        (8.0, -4.0),
        (9.0, -5.0),
        (9.5, -5.5),
        (9.6, -5.6),
        (9.7, -5.7),
        (9.8, -5.8),
        (9.9, -5.9),
        (10.0, -6.0),
        (10.5, -6.5),
        (11.0, -7.0),
        (11.5, -7.5),
        (12.0, -8.0),
        (12.5, -8.5),
        (13.0, -9.0),
        (13.5, -9.5),
        (14.0, -10.0),
        (14.5, -10.5),
        (15.0, -11.0),
        (15.5, -11.5),
        (16.0, -12.0),
        (16.5, -12.5),
        (17.0, -13.0),
        (17.5, -13.5),
        (18.0, -14.0),
        (18.5, -14.5),
        (19.0, -15.0),
        (19.5, -15.5),
        (20.0, -16.0),
        (20.5, -16.5),
    ];
    let trials: Vec<FrozenTrial> = values
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| complete(i as u64, p(i as f64 / 40.0), vec![a, b]))
        .collect();
    let axes: Vec<Axis<'_>> = space
        .params()
        .iter()
        .map(|s| Axis::new(&s.distribution))
        .collect();
    let dirs = [Direction::Minimize, Direction::Maximize];
    let view = StudyView {
        directions: &dirs,
        trials: &trials,
    };
    let split = SplitParams {
        constant_liar: true,
        gamma: 0.1,
        max_below: 25,
    };
    let obs = Observations::collect(&mut TrialMemo::default(), &space, &axes, &view, 99, &split);
    // n_below = ceil(0.1 * 40) = 4: exactly the front.
    let below: Vec<usize> = (0..obs.rows()).filter(|&r| obs.below[r]).collect();
    assert_eq!(below, vec![0, 1, 2, 3]);
    assert!(obs.multi_objective);

    // And the strategy runs on a bi-objective problem, favouring the Pareto set x in [0, 2].
    let space = box_space(&[(-5.0, 5.0)]);
    let mut s = tpe(true, 8);
    let mut trials: Vec<FrozenTrial> = Vec::new();
    let dirs = [Direction::Minimize, Direction::Minimize];
    for number in 0..60 {
        let view = StudyView {
            directions: &dirs,
            trials: &trials,
        };
        let p = s.ask(&space, &view, number).expect("ask").params;
        let x = p["x0"].as_f64().expect("float");
        trials.push(complete(number, p, vec![x * x, (x - 2.0).powi(2)]));
    }
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

#[test]
fn caches_between_asks_never_change_a_suggestion() {
    // One strategy asked 160 times in a row (its trial memo and the extended "above"
    // estimator at work once past ~100 observations) against a fresh strategy for every
    // ask (everything read and fitted from scratch): the same suggestions.
    let space = kiln_core::bench::box_space(&[(-2.0, 2.0); 3]);
    let f = |x: &[f64]| x.iter().map(|v| (v - 0.3) * (v - 0.3)).sum::<f64>();
    let mut kept = tpe(true, 5);
    let mut trials: Vec<FrozenTrial> = Vec::new();
    for number in 0..160 {
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        let a = kept.ask(&space, &view, number).expect("ask");
        let b = tpe(true, 5).ask(&space, &view, number).expect("ask");
        assert_eq!(a.params, b.params, "trial {number}");
        let x: Vec<f64> = (0..3)
            .map(|i| a.params[&format!("x{i}")].as_f64().expect("a float"))
            .collect();
        let mut t = FrozenTrial::running(number, a.params);
        t.state = TrialState::Complete;
        t.values = Some(vec![f(&x)]);
        trials.push(t);
    }
}
