use super::*;
use kiln_core::{Direction, ParamSpec, ParamValue};

fn lr_space() -> SearchSpace {
    SearchSpace::new(vec![ParamSpec {
        name: "lr".into(),
        distribution: Distribution::Float {
            low: 1e-6,
            high: 1.0,
            log: true,
            step: None,
        },
        condition: None,
    }])
    .expect("space")
}

fn config(rounds: Option<Vec<RoundConfig>>) -> LogMeshConfig {
    LogMeshConfig {
        rounds,
        factor: 10.0,
        points: 3,
        epochs: None,
        linear_steps: 8,
        jitter: true,
        expand: true,
        max_expansions: 8,
        seed: None,
    }
}

/// Runs the strategy to exhaustion on `f`; returns the trials.
fn drive(s: &mut LogMesh, space: &SearchSpace, f: impl Fn(&Params) -> f64) -> Vec<FrozenTrial> {
    let mut trials: Vec<FrozenTrial> = Vec::new();
    for n in 0..200 {
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        match s.ask(space, &view, n) {
            Ok(sug) => {
                let mut t = FrozenTrial::running(n, sug.params);
                t.state = TrialState::Complete;
                t.values = Some(vec![f(&t.params)]);
                s.tell(&t).expect("tell");
                trials.push(t);
            }
            Err(Error::Exhausted(_)) => return trials,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the mesh never finished");
}

fn lr(p: &Params) -> f64 {
    p["lr"].as_f64().expect("lr")
}

#[test]
fn conforms() {
    kiln_core::testing::check_search_strategy(|seed| {
        Box::new(LogMesh::new(config(None), seed, "s").expect("valid"))
    });
    kiln_core::testing::check_search_strategy(|seed| {
        let ctx = BuildContext::new(seed);
        Box::new(LogMesh::coarse_to_fine(&serde_json::json!({}), &ctx).expect("valid"))
    });
}

#[test]
fn border_expansion_finds_an_optimum_outside_the_first_mesh() {
    let space = lr_space();
    let mut s = LogMesh::new(config(None), 1, "s").expect("valid");
    // The first mesh is 1e-4, 1e-3, 1e-2 (the log-centre of [1e-6, 1] ± one decade);
    // the optimum is at 0.3, two decades beyond its upper border.
    let f = |p: &Params| (lr(p).log10() - 0.3f64.log10()).powi(2);
    let trials = drive(&mut s, &space, f);
    let first: Vec<f64> = trials.iter().take(3).map(|t| lr(&t.params)).collect();
    assert!(first.iter().all(|&x| x < 0.04), "first mesh {first:?}");
    let best = trials
        .iter()
        .min_by(|a, b| {
            a.value()
                .unwrap_or(f64::MAX)
                .total_cmp(&b.value().unwrap_or(f64::MAX))
        })
        .expect("best");
    let found = lr(&best.params);
    assert!(
        (0.3 / 4.0..=0.3 * 4.0).contains(&found),
        "best lr {found}, trials {:?}",
        trials.iter().map(|t| lr(&t.params)).collect::<Vec<_>>()
    );
    assert!(
        trials.len() > 3 && trials.len() <= 8,
        "{} trials",
        trials.len()
    );
}

#[test]
fn expansion_stops_at_the_hard_bound() {
    let space = lr_space();
    let mut s = LogMesh::new(config(None), 2, "s").expect("valid");
    let trials = drive(&mut s, &space, |p| -lr(p)); // best is always the largest lr
    let max = trials.iter().map(|t| lr(&t.params)).fold(0.0, f64::max);
    assert!(max <= 1.0, "went past the bound: {max}");
    assert!(max > 0.3, "did not reach the bound: {max}");
}

#[test]
fn coarse_to_fine_refines_around_the_best_with_its_own_budget() {
    let space = lr_space();
    let rounds = vec![
        RoundConfig {
            factor: 10.0,
            points: 3,
            epochs: Some(1),
        },
        RoundConfig {
            factor: 3.0,
            points: 3,
            epochs: Some(5),
        },
    ];
    let mut s = LogMesh::new(config(Some(rounds)), 3, "s").expect("valid");
    let mut trials: Vec<FrozenTrial> = Vec::new();
    let mut budgets = Vec::new();
    let f = |p: &Params| (lr(p).log10() - 2e-3f64.log10()).powi(2);
    for n in 0..200 {
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        let Ok(sug) = s.ask(&space, &view, n) else {
            break;
        };
        budgets.push(sug.epochs);
        let mut t = FrozenTrial::running(n, sug.params);
        t.state = TrialState::Complete;
        t.values = Some(vec![f(&t.params)]);
        s.tell(&t).expect("tell");
        trials.push(t);
    }
    assert_eq!(budgets.first(), Some(&Some(1)));
    assert_eq!(budgets.last(), Some(&Some(5)));
    let fine: Vec<f64> = trials
        .iter()
        .zip(&budgets)
        .filter(|(_, b)| **b == Some(5))
        .map(|(t, _)| lr(&t.params))
        .collect();
    assert!(
        fine.iter()
            .all(|&x| (2e-3 / 10.0..2e-3 * 10.0).contains(&x)),
        "fine round strayed: {fine:?}"
    );
}

#[test]
fn linear_and_categorical_axes_mesh_too() {
    let space = SearchSpace::new(vec![
        ParamSpec {
            name: "d".into(),
            distribution: Distribution::Float {
                low: 0.0,
                high: 0.5,
                log: false,
                step: None,
            },
            condition: None,
        },
        ParamSpec {
            name: "a".into(),
            distribution: Distribution::Categorical {
                choices: vec![ParamValue::Str("x".into()), ParamValue::Str("y".into())],
            },
            condition: None,
        },
    ])
    .expect("space");
    let mut s = LogMesh::new(config(None), 4, "s").expect("valid");
    let trials = drive(&mut s, &space, |p| {
        (p["d"].as_f64().expect("d") - 0.05).abs()
    });
    assert!(trials.len() >= 6, "{}", trials.len());
    for t in &trials {
        space.check(&t.params).expect("inside the space");
    }
}

#[test]
fn bad_config_names_the_key() {
    let ctx = BuildContext::new(0).with_key("stages[0].search");
    let err =
        LogMesh::from_params(&serde_json::json!({"factor": 1.0}), &ctx).expect_err("factor 1");
    assert!(
        err.to_string()
            .contains("stages[0].search.rounds[0].factor"),
        "{err}"
    );
}
