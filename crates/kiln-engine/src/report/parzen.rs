//! The one-dimensional density PED-ANOVA compares: parameter values counted on a grid, then
//! smoothed by a Parzen estimator whose bandwidth follows Scott's rule, plus one wide prior
//! kernel so that no cell has zero density.
//!
//! This follows the method of Watanabe et al. (2023) as Optuna's `PedAnovaImportanceEvaluator`
//! applies it, so that kiln's importances read like Optuna's: numeric domains (log ones in
//! log space) are cut into at most 50 cells, categorical ones into one cell per choice.

use kiln_core::{Distribution, ParamValue};

/// Cells a numeric domain is cut into at most.
const MAX_STEPS: usize = 50;
/// The prior kernel's weight, against one per observed trial.
const PRIOR_WEIGHT: f64 = 1.0;

/// Whether a distribution has a single possible value (nothing to learn from it).
pub(super) fn is_single(d: &Distribution) -> bool {
    match d {
        Distribution::Float {
            low, high, step, ..
        } => low == high || step.is_some_and(|s| high - low < s),
        Distribution::Int {
            low,
            high,
            log,
            step,
        } => low == high || (!log && high - low < *step),
        Distribution::Categorical { choices } => choices.len() <= 1,
    }
}

/// The number of grid cells of a domain.
pub(super) fn grid_size(d: &Distribution) -> usize {
    match d {
        // A log-int domain gets about one cell per doubling.
        Distribution::Int {
            low,
            high,
            log: true,
            ..
        } => {
            let span = (high - low + 1).max(1) as f64;
            ((span.ln() / 2f64.ln()).ceil() as usize + 1).min(MAX_STEPS)
        }
        Distribution::Int {
            low, high, step, ..
        } => ((((high - low) as f64) / (*step).max(1) as f64).round() as usize + 1).min(MAX_STEPS),
        Distribution::Float {
            low,
            high,
            step: Some(s),
            ..
        } => (((high - low) / s).round().max(0.0) as usize + 1).min(MAX_STEPS),
        Distribution::Float { .. } => MAX_STEPS,
        Distribution::Categorical { choices } => choices.len(),
    }
}

/// The grid cell of `value`, `None` for a value the domain cannot hold.
pub(super) fn grid_index(d: &Distribution, value: &ParamValue) -> Option<usize> {
    let (low, high, log) = match d {
        Distribution::Categorical { choices } => return choices.iter().position(|c| c == value),
        Distribution::Float { low, high, log, .. } => (*low, *high, *log),
        Distribution::Int { low, high, log, .. } => (*low as f64, *high as f64, *log),
    };
    let x = value.as_f64()?;
    let n = grid_size(d);
    if n < 2 || !x.is_finite() || (log && (x <= 0.0 || low <= 0.0)) {
        return None;
    }
    let (low, high, x) = if log {
        (low.ln(), high.ln(), x.ln())
    } else {
        (low, high, x)
    };
    let width = (high - low) / (n - 1) as f64;
    // Nearest cell; a value exactly halfway goes to the lower one.
    let i = ((x - low) / width - 0.5).ceil();
    Some(i.clamp(0.0, (n - 1) as f64) as usize)
}

/// The density over `counts.len()` cells of the observations `counts` holds.
pub(super) fn density(counts: &[usize], categorical: bool) -> Vec<f64> {
    let n = counts.len();
    let observed: Vec<(usize, f64)> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| (i, *c as f64))
        .collect();
    if n == 0 {
        return Vec::new();
    }
    if observed.is_empty() {
        return vec![1.0 / n as f64; n];
    }
    let total: f64 = observed.iter().map(|(_, c)| c).sum();
    // Mixture weights: each observed cell by its count, the prior by PRIOR_WEIGHT.
    let norm = total + PRIOR_WEIGHT;
    let mut pdf = vec![0.0; n];
    if categorical {
        // Every kernel puts a little mass on every choice, so that a choice the top trials
        // never took still has some density.
        let kernels = (observed.len() + 1) as f64;
        let spread = PRIOR_WEIGHT / kernels;
        let row_total = 1.0 + spread * n as f64;
        for (cell, count) in &observed {
            for (x, p) in pdf.iter_mut().enumerate() {
                let mass = if x == *cell { 1.0 + spread } else { spread };
                *p += count / norm * mass / row_total;
            }
        }
        for p in &mut pdf {
            *p += PRIOR_WEIGHT / norm / n as f64;
        }
        return pdf;
    }
    let bandwidth = scott_bandwidth(&observed, total);
    let high = (n - 1) as f64;
    let mut kernels: Vec<(f64, f64, f64)> = observed
        .iter()
        .map(|(cell, count)| (*cell as f64, bandwidth, count / norm))
        .collect();
    // The prior: centred on the domain, wider than it.
    kernels.push((high / 2.0, high + 1.0, PRIOR_WEIGHT / norm));
    for (mu, sigma, w) in kernels {
        let inside = gauss_mass((-0.5 - mu) / sigma, (high + 0.5 - mu) / sigma);
        if inside <= 0.0 {
            continue;
        }
        for (x, p) in pdf.iter_mut().enumerate() {
            let x = x as f64;
            *p += w * gauss_mass((x - 0.5 - mu) / sigma, (x + 0.5 - mu) / sigma) / inside;
        }
    }
    pdf
}

/// Scott's rule on weighted cells: 1.059 · min(IQR / 1.34, σ) · N^(-1/5), floored so that
/// a kernel always spans about one cell.
fn scott_bandwidth(observed: &[(usize, f64)], total: f64) -> f64 {
    let mean = observed.iter().map(|(x, c)| *x as f64 * c).sum::<f64>() / total;
    let var = observed
        .iter()
        .map(|(x, c)| (*x as f64 - mean).powi(2) * c)
        .sum::<f64>()
        / (total - 1.0).max(1.0);
    // Quartiles by cumulative count, on integer counts (as the estimator counts trials).
    let (q1, q3) = ((total / 4.0).floor(), (total * 3.0 / 4.0).floor());
    let mut cum = 0.0;
    let (mut i1, mut i3) = (None, None);
    for (i, (_, c)) in observed.iter().enumerate() {
        cum += c;
        if i1.is_none() && cum >= q1 {
            i1 = Some(i);
        }
        if i3.is_none() && cum > q3 {
            i3 = Some(i);
        }
    }
    let last = observed.len() - 1;
    let at = |i: Option<usize>| observed[i.unwrap_or(last).min(last)].0 as f64;
    let iqr = at(i3) - at(i1);
    let sigma = 1.059 * (iqr / 1.34).min(var.sqrt()) * total.powf(-0.2);
    sigma.max(0.5 / 1.64)
}

/// P(a < Z < b) for a standard normal Z, accurate in the tails too.
fn gauss_mass(a: f64, b: f64) -> f64 {
    let s = std::f64::consts::FRAC_1_SQRT_2;
    if a >= 0.0 {
        // Both in the upper tail: the difference of two small upper-tail masses.
        0.5 * (erfc(a * s) - erfc(b * s))
    } else if b <= 0.0 {
        0.5 * (erfc(-b * s) - erfc(-a * s))
    } else {
        1.0 - 0.5 * (erfc(-a * s) + erfc(b * s))
    }
}

/// The complementary error function (the `libm` crate's, exact to double precision).
fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_1),
            (3.0, 2.209_049_699_858_544e-5),
            (-1.0, 1.842_700_792_949_715),
        ] {
            let got = erfc(x);
            assert!(((got - want) / want).abs() < 2e-7, "erfc({x}) = {got}");
        }
    }

    #[test]
    fn densities_sum_to_one_and_peak_at_the_data() {
        let counts = [0, 0, 5, 1, 0, 0, 0, 0, 0, 0];
        let pdf = density(&counts, false);
        // To the precision of erfc (about 1e-7).
        assert!((pdf.iter().sum::<f64>() - 1.0).abs() < 1e-6, "{pdf:?}");
        let peak = pdf
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        assert_eq!(peak, Some(2));
        let cat = density(&[3, 0, 1], true);
        assert!((cat.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{cat:?}");
        assert!(
            cat[0] > cat[2] && cat[2] > cat[1] && cat[1] > 0.0,
            "{cat:?}"
        );
        assert_eq!(density(&[0, 0], false), vec![0.5, 0.5]);
    }

    #[test]
    fn grids_follow_the_domain() {
        let lr = Distribution::Float {
            low: 1e-4,
            high: 1.0,
            log: true,
            step: None,
        };
        assert_eq!(grid_size(&lr), 50);
        assert_eq!(grid_index(&lr, &ParamValue::Float(1e-4)), Some(0));
        // 1e-2 lies halfway between cells 24 and 25: the lower one.
        assert_eq!(grid_index(&lr, &ParamValue::Float(1e-2)), Some(24));
        assert_eq!(grid_index(&lr, &ParamValue::Float(1.1e-2)), Some(25));
        assert_eq!(grid_index(&lr, &ParamValue::Float(-1.0)), None);
        let width = Distribution::Int {
            low: 1,
            high: 64,
            log: true,
            step: 1,
        };
        assert_eq!(grid_size(&width), 7);
        let drop = Distribution::Float {
            low: 0.0,
            high: 0.4,
            log: false,
            step: Some(0.1),
        };
        assert_eq!(grid_size(&drop), 5);
        assert_eq!(grid_index(&drop, &ParamValue::Float(0.3)), Some(3));
        assert!(is_single(&Distribution::Int {
            low: 3,
            high: 3,
            log: false,
            step: 1
        }));
        let cat = Distribution::Categorical {
            choices: vec![ParamValue::Str("a".into()), ParamValue::Int(2)],
        };
        assert_eq!(grid_index(&cat, &ParamValue::Int(2)), Some(1));
        assert_eq!(grid_index(&cat, &ParamValue::Str("z".into())), None);
    }
}
