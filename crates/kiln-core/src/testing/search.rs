use crate::{
    Condition, Direction, Distribution, Error, FrozenTrial, ParamSpec, ParamValue, SearchSpace,
    SearchStrategy, StudyView, TrialState,
};

/// A space with every kind of parameter: linear, log and stepped floats, linear, log and
/// stepped ints, categoricals, and a conditional parameter.
pub fn mixed_space() -> SearchSpace {
    let f = |name: &str, low, high, log, step| ParamSpec {
        name: name.into(),
        distribution: Distribution::Float {
            low,
            high,
            log,
            step,
        },
        condition: None,
    };
    let i = |name: &str, low, high, log, step| ParamSpec {
        name: name.into(),
        distribution: Distribution::Int {
            low,
            high,
            log,
            step,
        },
        condition: None,
    };
    SearchSpace::new(vec![
        f("x", -5.0, 10.0, false, None),
        f("lr", 1e-5, 1e-1, true, None),
        f("dropout", 0.0, 0.5, false, Some(0.1)),
        i("depth", 1, 4, false, 1),
        i("width", 8, 256, true, 1),
        i("filters", 8, 64, false, 8),
        ParamSpec {
            name: "act".into(),
            distribution: Distribution::Categorical {
                choices: vec![
                    ParamValue::Str("relu".into()),
                    ParamValue::Str("leaky_relu".into()),
                    ParamValue::Str("gelu".into()),
                ],
            },
            condition: None,
        },
        ParamSpec {
            name: "slope".into(),
            distribution: Distribution::Float {
                low: 0.01,
                high: 0.3,
                log: true,
                step: None,
            },
            condition: Some(Condition {
                parent: "act".into(),
                values: vec![ParamValue::Str("leaky_relu".into())],
            }),
        },
    ])
    .expect("the mixed space is valid")
}

fn objective(t: &FrozenTrial) -> f64 {
    t.params
        .values()
        .filter_map(ParamValue::as_f64)
        .map(|x| (x - 0.3).abs())
        .sum()
}

/// Runs `n` sequential trials; returns the trials. Fails, prunes and completes in turn so
/// strategies see every state.
fn run(strategy: &mut dyn SearchStrategy, space: &SearchSpace, n: u64) -> Vec<FrozenTrial> {
    let mut trials: Vec<FrozenTrial> = Vec::new();
    for number in 0..n {
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        let s = match strategy.ask(space, &view, number) {
            Ok(s) => s,
            Err(Error::Exhausted(_)) => break,
            Err(e) => panic!("ask #{number} failed: {e}"),
        };
        if let Err(e) = space.check(&s.params) {
            panic!("ask #{number} broke the space: {e}");
        }
        let mut t = FrozenTrial::running(number, s.params);
        for p in space.params() {
            if t.params.contains_key(&p.name) {
                t.distributions
                    .insert(p.name.clone(), p.distribution.clone());
            }
        }
        match number % 7 {
            5 => {
                t.state = TrialState::Fail;
                t.reason = Some("conformance: simulated failure".into());
            }
            6 => {
                t.state = TrialState::Pruned;
                t.intermediate.insert(0, objective(&t) + 1.0);
            }
            _ => {
                t.state = TrialState::Complete;
                t.intermediate.insert(0, objective(&t) + 1.0);
                t.values = Some(vec![objective(&t)]);
            }
        }
        strategy
            .tell(&t)
            .unwrap_or_else(|e| panic!("tell #{number} failed: {e}"));
        trials.push(t);
    }
    trials
}

/// The [`SearchStrategy`] contract: valid suggestions on a mixed, conditional space;
/// determinism under a seed; exact continuation after save/restore of its state.
/// `make(seed)` builds the strategy.
pub fn check_search_strategy(make: impl Fn(u64) -> Box<dyn SearchStrategy>) {
    let space = mixed_space();
    let n = 30;
    let a = run(make(7).as_mut(), &space, n);
    assert!(
        !a.is_empty(),
        "the strategy proposed nothing on a fresh study"
    );
    let b = run(make(7).as_mut(), &space, n);
    let pa: Vec<_> = a.iter().map(|t| &t.params).collect();
    let pb: Vec<_> = b.iter().map(|t| &t.params).collect();
    assert_eq!(pa, pb, "same seed, same study: the suggestions differ");

    // Save half-way, restore into a fresh instance, continue: same sequence.
    let half = (a.len() / 2) as u64;
    let mut first = make(7);
    let head = run(first.as_mut(), &space, half);
    let state = first.save_state().expect("save_state");
    let mut resumed = make(7);
    resumed.load_state(&state).expect("load_state");
    let mut trials = head;
    for number in half..a.len() as u64 {
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        let s = resumed
            .ask(&space, &view, number)
            .expect("ask after restore");
        assert_eq!(
            s.params, a[number as usize].params,
            "after save/restore, trial {number} differs from the uninterrupted run"
        );
        let mut t = a[number as usize].clone();
        t.params = s.params;
        resumed.tell(&t).expect("tell after restore");
        trials.push(t);
    }

    // An empty space is served with empty suggestions.
    let empty = SearchSpace::default();
    let view = StudyView {
        directions: &[Direction::Minimize],
        trials: &[],
    };
    match make(1).ask(&empty, &view, 0) {
        Ok(s) => assert!(
            s.params.is_empty(),
            "suggested parameters for an empty space"
        ),
        Err(Error::Exhausted(_)) => {}
        Err(e) => panic!("empty space: {e}"),
    }
}
