use super::*;
use crate::Rng;

fn space() -> SearchSpace {
    SearchSpace::new(vec![
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
                values: vec![ParamValue::Str("leaky".into())],
            }),
        },
        ParamSpec {
            name: "act".into(),
            distribution: Distribution::Categorical {
                choices: vec![
                    ParamValue::Str("relu".into()),
                    ParamValue::Str("leaky".into()),
                ],
            },
            condition: None,
        },
        ParamSpec {
            name: "depth".into(),
            distribution: Distribution::Int {
                low: 1,
                high: 4,
                log: false,
                step: 1,
            },
            condition: None,
        },
        ParamSpec {
            name: "drop".into(),
            distribution: Distribution::Float {
                low: 0.0,
                high: 0.5,
                log: false,
                step: Some(0.1),
            },
            condition: None,
        },
    ])
    .expect("valid space")
}

#[test]
fn parents_are_ordered_first_and_samples_are_valid() {
    let s = space();
    assert_eq!(s.params()[0].name, "act");
    let mut rng = Rng::new(1);
    let mut saw_slope = false;
    for _ in 0..200 {
        let p = s.sample_uniform(&mut rng);
        s.check(&p).expect("sample inside the space");
        saw_slope |= p.contains_key("slope");
    }
    assert!(saw_slope);
}

#[test]
fn bad_spaces_are_rejected_with_the_key() {
    let bad = Distribution::Float {
        low: 0.0,
        high: 1.0,
        log: true,
        step: None,
    };
    let err = bad.validate("optimizer.lr").expect_err("log with low 0");
    assert!(err.to_string().contains("optimizer.lr"), "{err}");
    let cyc = SearchSpace::new(vec![ParamSpec {
        name: "a".into(),
        distribution: Distribution::Categorical {
            choices: vec![ParamValue::Int(1)],
        },
        condition: Some(Condition {
            parent: "b".into(),
            values: vec![],
        }),
    }]);
    assert!(cyc.is_err());
}

#[test]
fn internal_representation_round_trips() {
    let s = space();
    let mut rng = Rng::new(9);
    for _ in 0..50 {
        let p = s.sample_uniform(&mut rng);
        for (name, v) in &p {
            let d = &s.get(name).expect("known").distribution;
            let x = d.to_internal(v).expect("internal");
            assert_eq!(&d.from_internal(x).expect("back"), v);
            let back = Distribution::from_optuna_json(&d.to_optuna_json()).expect("json");
            assert_eq!(&back, d);
        }
    }
}

#[test]
fn unit_mapping_covers_every_integer_and_respects_steps() {
    let d = Distribution::Int {
        low: 1,
        high: 3,
        log: false,
        step: 1,
    };
    let vals: Vec<_> = [0.0, 0.2, 0.5, 0.8, 1.0]
        .iter()
        .map(|&u| d.from_unit(u))
        .collect();
    assert_eq!(vals.first(), Some(&ParamValue::Int(1)));
    assert_eq!(vals.last(), Some(&ParamValue::Int(3)));
    let f = Distribution::Float {
        low: 0.0,
        high: 0.5,
        log: false,
        step: Some(0.1),
    };
    assert!(f.contains(&f.from_unit(0.33)));
}

#[test]
fn config_form_is_validated() {
    let toml_like: SearchSpaceConfig = serde_json::from_value(serde_json::json!({
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": true},
        "depth": {"type": "int", "low": 1, "high": 3},
    }))
    .expect("parse");
    let s = SearchSpace::from_config(&toml_like, "tune.space").expect("valid");
    assert_eq!(s.params().len(), 2);
    let bad: SearchSpaceConfig = serde_json::from_value(serde_json::json!({
        "depth": {"type": "int", "low": 1.5, "high": 3},
    }))
    .expect("parse");
    let err = SearchSpace::from_config(&bad, "tune.space").expect_err("non-integer bound");
    assert!(
        err.to_string().contains("tune.space.\"depth\".low"),
        "{err}"
    );
}
