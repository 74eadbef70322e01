//! How one parameter maps to the unit interval the Parzen estimators work in.
//!
//! Continuous floats use the distribution's own `to_unit`/`from_unit` (log-aware). Discrete
//! parameters (ints, stepped floats) are given one equal cell per value, the way Optuna
//! widens their bounds by half a step: a value `k` of `n` sits at the centre of
//! `[k/n, (k+1)/n]` (log-scaled cells for log ints), so kernels are truncated to the same
//! range Optuna truncates them to and a sampled point is rounded to the cell it falls in.
//! Categoricals are carried by choice index.

use kiln_core::{Distribution, ParamValue};

/// The unit-interval view of one distribution.
#[derive(Debug, Clone)]
pub(super) enum Axis<'a> {
    /// A distribution with one possible value: nothing to model.
    Single(ParamValue),
    /// A float without step (linear or log).
    Continuous(&'a Distribution),
    /// Ints `low + k*step`, `k < n`.
    IntGrid { low: i64, step: i64, n: u64 },
    /// Floats `low + k*step`, `k < n`, never above `high`.
    FloatGrid {
        low: f64,
        step: f64,
        high: f64,
        n: u64,
    },
    /// Log-scaled ints: the cell of `v` is `[ln(v - 1/2), ln(v + 1/2)]`, rescaled.
    LogInt {
        low: i64,
        high: i64,
        ln_lo: f64,
        ln_span: f64,
    },
    /// Choices, by index.
    Categorical(&'a [ParamValue]),
}

impl<'a> Axis<'a> {
    /// The axis of `d` (already validated by the space).
    pub fn new(d: &'a Distribution) -> Self {
        if let Some(v) = d.single() {
            return Axis::Single(v);
        }
        match d {
            Distribution::Categorical { choices } => Axis::Categorical(choices),
            Distribution::Float { step: None, .. } => Axis::Continuous(d),
            Distribution::Float {
                low,
                high,
                step: Some(s),
                ..
            } => Axis::FloatGrid {
                low: *low,
                step: *s,
                high: *high,
                n: ((high - low) / s + 1e-9).floor() as u64 + 1,
            },
            Distribution::Int {
                low,
                high,
                log: true,
                ..
            } => {
                // Validation guarantees low >= 1, so low - 1/2 > 0.
                let ln_lo = (*low as f64 - 0.5).ln();
                Axis::LogInt {
                    low: *low,
                    high: *high,
                    ln_lo,
                    ln_span: (*high as f64 + 0.5).ln() - ln_lo,
                }
            }
            Distribution::Int {
                low, high, step, ..
            } => Axis::IntGrid {
                low: *low,
                step: *step,
                n: ((high - low) / step) as u64 + 1,
            },
        }
    }

    /// Whether the axis is categorical.
    pub fn is_categorical(&self) -> bool {
        matches!(self, Axis::Categorical(_))
    }

    /// Whether sampled points are rounded to cells.
    pub fn is_discrete(&self) -> bool {
        matches!(
            self,
            Axis::IntGrid { .. } | Axis::FloatGrid { .. } | Axis::LogInt { .. }
        )
    }

    /// Whether there is nothing to choose.
    pub fn is_single(&self) -> bool {
        matches!(self, Axis::Single(_))
    }

    /// Number of choices of a categorical axis (0 otherwise).
    pub fn n_choices(&self) -> usize {
        match self {
            Axis::Categorical(c) => c.len(),
            _ => 0,
        }
    }

    /// The coordinate of `v`: in `[0, 1]` for numeric axes, the choice index for
    /// categoricals. `None` when `v` is not a value of this axis (a changed space).
    pub fn coordinate(&self, v: &ParamValue) -> Option<f64> {
        let u = match self {
            Axis::Single(_) => 0.5,
            Axis::Categorical(choices) => {
                return choices.iter().position(|c| c == v).map(|i| i as f64);
            }
            Axis::Continuous(d) => {
                let u = d.to_unit(v)?;
                if !(-1e-9..=1.0 + 1e-9).contains(&u) {
                    return None;
                }
                u.clamp(0.0, 1.0)
            }
            Axis::IntGrid { low, step, n } => {
                let k = (v.as_f64()? - *low as f64) / *step as f64;
                Self::grid_centre(k.round(), *n)?
            }
            Axis::FloatGrid { low, step, n, .. } => {
                let k = (v.as_f64()? - low) / step;
                Self::grid_centre(k.round(), *n)?
            }
            Axis::LogInt {
                low,
                high,
                ln_lo,
                ln_span,
            } => {
                let x = v.as_f64()?;
                if x < *low as f64 - 0.5 || x > *high as f64 + 0.5 {
                    return None;
                }
                (x.round().ln() - ln_lo) / ln_span
            }
        };
        Some(u)
    }

    fn grid_centre(k: f64, n: u64) -> Option<f64> {
        (k >= 0.0 && k < n as f64).then(|| (k + 0.5) / n as f64)
    }

    /// For a discrete axis: the cell `u` falls in, as `(centre, low edge, high edge)`.
    /// Other axes return `(u, u, u)`.
    pub fn cell(&self, u: f64) -> (f64, f64, f64) {
        match self {
            Axis::IntGrid { n, .. } | Axis::FloatGrid { n, .. } => {
                let nf = *n as f64;
                let k = (u * nf).floor().clamp(0.0, nf - 1.0);
                ((k + 0.5) / nf, k / nf, (k + 1.0) / nf)
            }
            Axis::LogInt {
                low,
                high,
                ln_lo,
                ln_span,
            } => {
                let v = (ln_lo + u * ln_span)
                    .exp()
                    .round()
                    .clamp(*low as f64, *high as f64);
                let at = |x: f64| ((x.ln() - ln_lo) / ln_span).clamp(0.0, 1.0);
                (at(v), at(v - 0.5), at(v + 0.5))
            }
            _ => (u, u, u),
        }
    }

    /// The parameter value at coordinate `u` (rounded to its cell for discrete axes).
    pub fn value(&self, u: f64) -> ParamValue {
        match self {
            Axis::Single(v) => v.clone(),
            Axis::Categorical(choices) => {
                choices[(u.max(0.0) as usize).min(choices.len() - 1)].clone()
            }
            Axis::Continuous(d) => d.from_unit(u),
            Axis::IntGrid { low, step, n } => {
                let k = (u * *n as f64).floor().clamp(0.0, *n as f64 - 1.0) as i64;
                ParamValue::Int(low + k * step)
            }
            Axis::FloatGrid { low, step, high, n } => {
                let k = (u * *n as f64).floor().clamp(0.0, *n as f64 - 1.0);
                ParamValue::Float((low + k * step).min(*high))
            }
            Axis::LogInt {
                low,
                high,
                ln_lo,
                ln_span,
            } => {
                let v = (ln_lo + u * ln_span).exp().round() as i64;
                ParamValue::Int(v.clamp(*low, *high))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_round_trip_through_values() {
        let space = kiln_core::testing::mixed_space();
        let mut rng = kiln_core::Rng::new(3);
        for _ in 0..200 {
            for p in space.params() {
                let axis = Axis::new(&p.distribution);
                let v = p.distribution.sample(&mut rng);
                let u = axis.coordinate(&v).expect("a value of the axis");
                let back = axis.value(u);
                assert!(p.distribution.contains(&back), "{}: {back}", p.name);
                if !matches!(axis, Axis::Continuous(_)) {
                    // Grid values come back as the same grid point (floats up to rounding).
                    match (&back, &v) {
                        (ParamValue::Float(a), ParamValue::Float(b)) => {
                            assert!((a - b).abs() < 1e-12, "{}: {a} vs {b}", p.name)
                        }
                        _ => assert_eq!(back, v, "{}", p.name),
                    }
                    if !axis.is_categorical() {
                        let (c, lo, hi) = axis.cell(u);
                        assert!(lo <= c && c <= hi && (c - u).abs() < 1e-12, "{}", p.name);
                    }
                }
            }
        }
    }

    #[test]
    fn cells_tile_the_unit_interval() {
        let d = Distribution::Int {
            low: 1,
            high: 6,
            log: true,
            step: 1,
        };
        let axis = Axis::new(&d);
        let mut edge = 0.0;
        for v in 1..=6 {
            let u = axis.coordinate(&ParamValue::Int(v)).expect("in range");
            let (_, lo, hi) = axis.cell(u);
            assert!(
                (lo - edge).abs() < 1e-12,
                "cell of {v} starts at {lo}, not {edge}"
            );
            edge = hi;
        }
        assert!((edge - 1.0).abs() < 1e-12);
    }
}
