use super::*;
use crate::search::RandomSearch;
use kiln_core::{Direction, Distribution, ParamSpec};

fn config(sequence: Sequence, scramble: bool) -> QmcConfig {
    QmcConfig {
        seed: None,
        sequence,
        scramble,
    }
}

#[test]
fn conforms() {
    for sequence in [Sequence::Sobol, Sequence::Halton] {
        for scramble in [true, false] {
            kiln_core::testing::check_search_strategy(|seed| {
                Box::new(QmcSearch::new(&config(sequence, scramble), seed))
            });
        }
    }
}

#[test]
fn parses_its_config() {
    let ctx = kiln_core::testing::context(5);
    let h = QmcSearch::from_params(
        &serde_json::json!({"sequence": "halton", "scramble": false}),
        &ctx,
    )
    .expect("valid config");
    assert!(matches!(h.generator, Generator::Halton(_)));
    assert_eq!(h.offset, 1);
    let s = QmcSearch::from_params(&serde_json::json!({"seed": 3}), &ctx).expect("defaults");
    assert!(matches!(s.generator, Generator::Sobol(_)));
    assert_eq!((s.seed, s.offset), (3, 0));
    for bad in [
        serde_json::json!({"sequence": "lattice"}),
        serde_json::json!({"scrambled": true}),
    ] {
        assert!(QmcSearch::from_params(&bad, &ctx).is_err(), "{bad}");
    }
}

/// `d` floats on `[0, 1]`.
fn cube(d: usize) -> SearchSpace {
    SearchSpace::new(
        (0..d)
            .map(|i| ParamSpec {
                name: format!("x{i}"),
                distribution: Distribution::Float {
                    low: 0.0,
                    high: 1.0,
                    log: false,
                    step: None,
                },
                condition: None,
            })
            .collect(),
    )
    .expect("valid space")
}

fn points(s: &mut dyn SearchStrategy, space: &SearchSpace, n: u64) -> Vec<Vec<f64>> {
    let view = StudyView {
        directions: &[Direction::Minimize],
        trials: &[],
    };
    (0..n)
        .map(|i| {
            let p = s.ask(space, &view, i).expect("ask").params;
            space.check(&p).expect("in the space");
            p.values().filter_map(|v| v.as_f64()).collect()
        })
        .collect()
}

/// Sum over axes of the chi-square statistic of an 8-bin histogram.
fn chi_square(pts: &[Vec<f64>]) -> f64 {
    let d = pts[0].len();
    let expected = pts.len() as f64 / 8.0;
    (0..d)
        .map(|k| {
            let mut bins = [0.0f64; 8];
            for p in pts {
                bins[((p[k] * 8.0) as usize).min(7)] += 1.0;
            }
            bins.iter()
                .map(|b| (b - expected).powi(2) / expected)
                .sum::<f64>()
        })
        .sum()
}

fn min_distance(pts: &[Vec<f64>]) -> f64 {
    let mut best = f64::INFINITY;
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[..i] {
            let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
            best = best.min(d.sqrt());
        }
    }
    best
}

/// Warnock's closed form of the L2-star discrepancy.
fn l2_star(pts: &[Vec<f64>]) -> f64 {
    let n = pts.len() as f64;
    let d = pts[0].len() as i32;
    let a: f64 = pts
        .iter()
        .map(|p| p.iter().map(|x| 1.0 - x * x).product::<f64>())
        .sum();
    let mut b = 0.0;
    for p in pts {
        for q in pts {
            b += p
                .iter()
                .zip(q)
                .map(|(x, y)| 1.0 - x.max(*y))
                .product::<f64>();
        }
    }
    (3f64.powi(-d) - 2f64.powi(1 - d) / n * a + b / (n * n)).sqrt()
}

#[test]
fn points_are_in_range_and_spread_better_than_random() {
    let space = cube(5);
    let seeds = 0..10u64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut random = (Vec::new(), Vec::new(), Vec::new());
    for seed in seeds.clone() {
        let pts = points(&mut RandomSearch::new(seed), &space, 64);
        random.0.push(chi_square(&pts));
        random.1.push(min_distance(&pts));
        random.2.push(l2_star(&pts));
    }
    for sequence in [Sequence::Sobol, Sequence::Halton] {
        let mut q = (Vec::new(), Vec::new(), Vec::new());
        for seed in seeds.clone() {
            let mut s = QmcSearch::new(&config(sequence, true), seed);
            let pts = points(&mut s, &space, 64);
            assert!(pts.iter().flatten().all(|x| (0.0..=1.0).contains(x)));
            q.0.push(chi_square(&pts));
            q.1.push(min_distance(&pts));
            q.2.push(l2_star(&pts));
        }
        eprintln!(
            "{sequence:?} vs random, 64 points in 5-d, mean of 10 seeds: chi2 {:.2} vs {:.2}, \
             min distance {:.4} vs {:.4}, L2-star discrepancy {:.5} vs {:.5}",
            mean(&q.0),
            mean(&random.0),
            mean(&q.1),
            mean(&random.1),
            mean(&q.2),
            mean(&random.2)
        );
        if sequence == Sequence::Sobol {
            // 64 = 2^6 Sobol' points: every axis has exactly 8 points per 1/8 bin.
            assert!(q.0.iter().all(|c| *c == 0.0), "{:?}", q.0);
        }
        assert!(mean(&q.0) < mean(&random.0) / 2.0);
        assert!(mean(&q.1) > mean(&random.1));
        assert!(mean(&q.2) < mean(&random.2));
    }
}

#[test]
fn inactive_parameters_are_left_out_and_categoricals_use_every_bin() {
    let space = kiln_core::testing::mixed_space();
    let mut s = QmcSearch::new(&QmcConfig::default(), 1);
    let pts: Vec<Params> = {
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &[],
        };
        (0..64)
            .map(|i| s.ask(&space, &view, i).expect("ask").params)
            .collect()
    };
    let acts: Vec<_> = pts.iter().map(|p| p["act"].to_string()).collect();
    for a in ["relu", "leaky_relu", "gelu"] {
        // 64 points, one per 1/64 interval: each third holds 21 or 22 of them.
        let n = acts.iter().filter(|x| *x == a).count();
        assert!(n == 21 || n == 22, "{a}: {n}");
    }
    for p in &pts {
        assert_eq!(
            p.contains_key("slope"),
            p["act"].to_string() == "leaky_relu"
        );
    }
}

#[test]
fn large_spaces_fall_back_past_the_table() {
    let space = cube(sobol::MAX_DIMS + 3);
    let mut s = QmcSearch::new(&QmcConfig::default(), 2);
    let pts = points(&mut s, &space, 4);
    assert_eq!(pts[0].len(), sobol::MAX_DIMS + 3);
    let mut h = QmcSearch::new(&config(Sequence::Halton, true), 2);
    assert_eq!(points(&mut h, &space, 2)[1].len(), sobol::MAX_DIMS + 3);
}

#[test]
fn registers_as_qmc() {
    let registry = kiln_core::testing::registry_of(crate::register);
    let ctx = kiln_core::testing::context(1);
    let spec = kiln_core::testing::spec(serde_json::json!({"kind": "qmc", "sequence": "halton"}));
    assert!(registry.build_search(&spec, &ctx).is_ok());
    let bad = kiln_core::testing::spec(serde_json::json!({"kind": "qmc", "sequence": "faure"}));
    assert!(registry.build_search(&bad, &ctx).is_err());
}
