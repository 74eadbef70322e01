//! Standard test functions for search strategies (minimising), with their domains and
//! optima: what `kiln bench search` runs and what strategy tests measure themselves on.

use crate::{Distribution, ParamSpec, SearchSpace};

/// A test function with its domain and known optimum.
pub struct BenchFunction {
    /// Its name.
    pub name: &'static str,
    /// Per-dimension bounds.
    pub bounds: Vec<(f64, f64)>,
    /// The global minimum.
    pub optimum: f64,
    /// The function.
    pub f: fn(&[f64]) -> f64,
}

/// Branin on [-5, 10] × [0, 15]; minimum 0.397887.
pub fn branin(x: &[f64]) -> f64 {
    use std::f64::consts::PI;
    let (a, b, c) = (1.0, 5.1 / (4.0 * PI * PI), 5.0 / PI);
    let (r, s, t) = (6.0, 10.0, 1.0 / (8.0 * PI));
    a * (x[1] - b * x[0] * x[0] + c * x[0] - r).powi(2) + s * (1.0 - t) * x[0].cos() + s
}

/// Hartmann 6-d on [0, 1]^6; minimum -3.32237.
pub fn hartmann6(x: &[f64]) -> f64 {
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    -(0..4)
        .map(|i| {
            let inner: f64 = (0..6).map(|j| A[i][j] * (x[j] - P[i][j]).powi(2)).sum();
            ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

/// Rosenbrock on any dimension; minimum 0 at (1, …, 1).
pub fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

/// branin, hartmann6 and rosenbrock5.
pub fn functions() -> Vec<BenchFunction> {
    vec![
        BenchFunction {
            name: "branin",
            bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
            optimum: 0.397887,
            f: branin,
        },
        BenchFunction {
            name: "hartmann6",
            bounds: vec![(0.0, 1.0); 6],
            optimum: -3.32237,
            f: hartmann6,
        },
        BenchFunction {
            name: "rosenbrock5",
            bounds: vec![(-2.0, 2.0); 5],
            optimum: 0.0,
            f: rosenbrock,
        },
    ]
}

impl BenchFunction {
    /// The search space: `x0`, `x1`, … as floats over the bounds.
    pub fn space(&self) -> SearchSpace {
        box_space(&self.bounds)
    }
}

/// A space of floats `x0`, `x1`, … over `bounds`.
pub fn box_space(bounds: &[(f64, f64)]) -> SearchSpace {
    let params = bounds
        .iter()
        .enumerate()
        .map(|(i, &(low, high))| ParamSpec {
            name: format!("x{i}"),
            distribution: Distribution::Float {
                low,
                high,
                log: false,
                step: None,
            },
            condition: None,
        })
        .collect();
    // Bounds are finite and ordered by construction; an empty space is the fallback.
    SearchSpace::new(params).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_hit_their_optima() {
        let f = functions();
        assert!((branin(&[std::f64::consts::PI, 2.275]) - f[0].optimum).abs() < 1e-5);
        let h = hartmann6(&[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]);
        assert!((h - f[1].optimum).abs() < 1e-4, "{h}");
        assert_eq!(rosenbrock(&[1.0; 5]), 0.0);
    }
}
