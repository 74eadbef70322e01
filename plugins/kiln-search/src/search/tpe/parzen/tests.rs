//! The estimator against brute-force sums, and its masses.

use super::*;
use crate::search::tpe::kernels::term;
use kiln_core::{Distribution, ParamValue};

const P: MixtureParams = MixtureParams {
    consider_endpoints: false,
    prior_weight: 1.0,
};

fn unit() -> Distribution {
    Distribution::Float {
        low: 0.0,
        high: 1.0,
        log: false,
        step: None,
    }
}

/// Columns from row-major observations with `d` coordinates each.
fn columns(obs: &[f64], d: usize) -> Vec<Vec<f64>> {
    (0..d)
        .map(|j| obs.iter().skip(j).step_by(d).copied().collect())
        .collect()
}

/// `ln p(x)` summing every kernel, for comparison (`weights` as given to `new`, prior
/// weight 1).
fn brute(m: &Mixture, weights: &[f64], x: &[f64], axes: &[&Axis<'_>]) -> f64 {
    let total: f64 = weights.iter().sum::<f64>() + 1.0;
    let mut memo = Memo::default();
    let all: Vec<f64> = (0..m.n_kernels)
        .map(|k| {
            let mut v = (weights.get(k).copied().unwrap_or(1.0) / total).ln();
            for (d, (dim, axis)) in m.dims.iter().zip(axes).enumerate() {
                v += term(dim, k, x[d], axis, &mut memo);
            }
            v
        })
        .collect();
    math::log_sum_exp(&all)
}

#[test]
fn densities_integrate_to_one() {
    let d = unit();
    let axis = Axis::new(&d);
    let m = Mixture::new(&[vec![0.1, 0.15, 0.9]], &[1.0, 1.0, 1.0], &[&axis], &P);
    let grid: Vec<f64> = (0..10_000).map(|i| (i as f64 + 0.5) / 10_000.0).collect();
    let mut out = Vec::new();
    m.log_pdf(&grid, &[&axis], &mut out, &mut EvalScratch::default());
    let integral: f64 = out.iter().map(|l| l.exp() / 10_000.0).sum();
    assert!((integral - 1.0).abs() < 1e-4, "integral {integral}");
}

#[test]
fn discrete_and_categorical_masses_sum_to_one() {
    let int = Distribution::Int {
        low: 1,
        high: 5,
        log: false,
        step: 1,
    };
    let cat = Distribution::Categorical {
        choices: vec![ParamValue::Int(0), ParamValue::Int(1), ParamValue::Int(2)],
    };
    let (ai, ac) = (Axis::new(&int), Axis::new(&cat));
    let axes = [&ai, &ac];
    let obs = [0.1, 0.0, 0.5, 2.0, 0.5, 2.0];
    let m = Mixture::new(&columns(&obs, 2), &[1.0, 1.0, 1.0], &axes, &P);
    let mut cands = Vec::new();
    for v in 0..5 {
        for c in 0..3 {
            cands.extend([(v as f64 + 0.5) / 5.0, c as f64]);
        }
    }
    let mut out = Vec::new();
    m.log_pdf(&cands, &axes, &mut out, &mut EvalScratch::default());
    let total: f64 = out.iter().map(|l| l.exp()).sum();
    assert!((total - 1.0).abs() < 1e-5, "total mass {total}");
    // Samples land on cell centres and valid choices.
    let mut rng = Rng::new(0);
    m.sample(&mut rng, 50, &axes, &mut cands);
    for pair in cands.chunks(2) {
        let k = pair[0] * 5.0 - 0.5;
        assert!((k - k.round()).abs() < 1e-9, "{}", pair[0]);
        assert!(pair[1] < 3.0);
    }
}

#[test]
fn single_precision_scores_match_the_full_sums() {
    let float = unit();
    let af = Axis::new(&float);
    let axes = [&af, &af, &af];
    let mut rng = Rng::new(7);
    let n = 600;
    let cols: Vec<Vec<f64>> = (0..3)
        .map(|_| {
            (0..n)
                .map(|i| {
                    if i % 3 == 0 {
                        rng.uniform()
                    } else {
                        (0.6 + 0.05 * rng.normal()).clamp(0.0, 1.0)
                    }
                })
                .collect()
        })
        .collect();
    let weights: Vec<f64> = (0..n).map(|i| 0.1 + i as f64 / n as f64).collect();
    let m = Mixture::new(&cols, &weights, &axes, &P);
    assert!(!m.kern32.is_empty(), "the single-precision path is taken");
    let mut s = EvalScratch::default();
    let mut out = Vec::new();
    for round in 0..40 {
        let x: Vec<f64> = (0..3)
            .map(|_| {
                if round % 2 == 0 {
                    rng.uniform()
                } else {
                    (0.6 + 0.03 * rng.normal()).clamp(0.0, 1.0)
                }
            })
            .collect();
        m.log_pdf(&x, &axes, &mut out, &mut s);
        let want = brute(&m, &weights, &x, &axes);
        // Single precision: about 1e-6 per unit of log-density.
        assert!(
            (out[0] - want).abs() < 1e-5 * want.abs().max(1.0),
            "{} vs {want}",
            out[0]
        );
    }
}

#[test]
fn pruned_sums_match_the_full_ones() {
    // Two continuous dimensions (full passes), then an int and a categorical (pruned).
    let (float, int) = (
        unit(),
        Distribution::Int {
            low: 1,
            high: 20,
            log: false,
            step: 1,
        },
    );
    let cat = Distribution::Categorical {
        choices: (0..5).map(ParamValue::Int).collect(),
    };
    let (af, ai, ac) = (Axis::new(&float), Axis::new(&int), Axis::new(&cat));
    let axes = [&ai, &af, &ac, &af];
    let mut rng = Rng::new(4);
    // Half spread out, half in a tight cluster: many kernels matter near the cluster.
    let n = 1000;
    let near = |rng: &mut Rng, spread: f64| (0.3 + spread * rng.normal()).clamp(0.0, 1.0);
    let mut cols = vec![Vec::new(); 4];
    for i in 0..n {
        let clustered = i >= n / 2;
        for (d, col) in cols.iter_mut().enumerate() {
            let u = if clustered {
                near(&mut rng, 0.03)
            } else {
                rng.uniform()
            };
            col.push(match d {
                0 => ai.cell(u).0,
                2 => (u * 5.0).floor().min(4.0),
                _ => u,
            });
        }
    }
    let weights: Vec<f64> = (0..n).map(|i| 0.2 + i as f64 / n as f64).collect();
    let m = Mixture::new(&cols, &weights, &axes, &P);
    let mut s = EvalScratch::default();
    let mut out = Vec::new();
    for round in 0..60 {
        let u: Vec<f64> = (0..4)
            .map(|_| {
                if round % 2 == 0 {
                    rng.uniform()
                } else {
                    near(&mut rng, 0.02)
                }
            })
            .collect();
        let x = [ai.cell(u[0]).0, u[1], (u[2] * 5.0).floor().min(4.0), u[3]];
        m.log_pdf(&x, &axes, &mut out, &mut s);
        let want = brute(&m, &weights, &x, &axes);
        assert!((out[0] - want).abs() < 1e-8, "{} vs {want}", out[0]);
    }
}

#[test]
fn appending_equals_refitting() {
    let float = unit();
    let af = Axis::new(&float);
    let axes = [&af, &af, &af];
    let mut rng = Rng::new(12);
    // Clustered points, uniform ones, exact repeats and points on the bounds.
    let point = |rng: &mut Rng, i: usize| -> f64 {
        match i % 5 {
            0 => rng.uniform(),
            1 => 0.0,
            2 => (0.31 + 0.01 * rng.normal()).clamp(0.0, 1.0),
            3 => (rng.uniform() * 20.0).floor() / 20.0,
            _ => (0.7 + 0.05 * rng.normal()).clamp(0.0, 1.0),
        }
    };
    let total = 220;
    let cols: Vec<Vec<f64>> = (0..3)
        .map(|_| {
            (0..total)
                .map(|i| {
                    let kind = i + rng.below(5) as usize;
                    point(&mut rng, kind)
                })
                .collect()
        })
        .collect();
    let weights_for = |n: usize| {
        let mut w = Vec::new();
        crate::search::tpe::observe::default_weights(n, &mut w);
        w
    };
    let start = 120;
    let head: Vec<Vec<f64>> = cols.iter().map(|c| c[..start].to_vec()).collect();
    let mut grown = Mixture::new(&head, &weights_for(start), &axes, &P);
    let mut n = start;
    while n < total {
        assert!(grown.can_append(), "at {n}");
        let step = (1 + rng.below(3) as usize).min(total - n);
        let new: Vec<Vec<f64>> = cols.iter().map(|c| c[n..n + step].to_vec()).collect();
        n += step;
        grown.append(&new, &weights_for(n), &P);
        let all: Vec<Vec<f64>> = cols.iter().map(|c| c[..n].to_vec()).collect();
        let fresh = Mixture::new(&all, &weights_for(n), &axes, &P);
        let bits32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits32(&grown.kern32),
            bits32(&fresh.kern32),
            "kernels at {n}"
        );
        assert_eq!(bits(&grown.cum_w), bits(&fresh.cum_w), "weights at {n}");
        for (g, f) in grown.dims.iter().zip(&fresh.dims) {
            if let (Dim::Numeric(g), Dim::Numeric(f)) = (g, f) {
                assert_eq!(bits(&g.sigma), bits(&f.sigma), "sigma at {n}");
                assert_eq!(bits(&g.log_norm), bits(&f.log_norm), "normalisers at {n}");
            }
        }
    }
    // Too few observations for a fixed floor: no appending.
    let small: Vec<Vec<f64>> = cols.iter().map(|c| c[..50].to_vec()).collect();
    assert!(!Mixture::new(&small, &weights_for(50), &axes, &P).can_append());
}

#[test]
fn scoring_a_block_matches_one_candidate_at_a_time() {
    let float = unit();
    let af = Axis::new(&float);
    let mut rng = Rng::new(11);
    // Kernel counts around the eight-way partial sums, dimension counts odd and even,
    // candidate counts around the block size.
    let cases = [
        (0, 1, 1),
        (6, 2, 3),
        (7, 5, 8),
        (8, 6, 24),
        (91, 6, 30),
        (300, 3, 9),
    ];
    for (n, d_count, rows) in cases {
        let axes = vec![&af; d_count];
        let cols: Vec<Vec<f64>> = (0..d_count)
            .map(|_| {
                (0..n)
                    .map(|_| (0.4 + 0.1 * rng.normal()).clamp(0.0, 1.0))
                    .collect()
            })
            .collect();
        let weights: Vec<f64> = (0..n).map(|i| 0.5 + i as f64 / (n + 1) as f64).collect();
        let m = Mixture::new(&cols, &weights, &axes, &P);
        assert!(!m.kern32.is_empty(), "the single-precision path is taken");
        let cands: Vec<f64> = (0..rows * d_count)
            .map(|i| {
                if i % 7 == 0 {
                    rng.uniform()
                } else {
                    (0.4 + 0.1 * rng.normal()).clamp(0.0, 1.0)
                }
            })
            .collect();
        let mut s = EvalScratch::default();
        let mut out = Vec::new();
        m.log_pdf(&cands, &axes, &mut out, &mut s);
        assert_eq!(out.len(), rows);
        for (x, got) in cands.chunks_exact(d_count).zip(&out) {
            let want = m.log_pdf_continuous(x);
            // The block leaves out terms below single precision: the same to rounding.
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{n} kernels, {d_count} dims: {got} vs {want}"
            );
        }
    }
}
