//! How a parameter maps onto a plot axis: numeric domains linearly or in log space,
//! categorical ones as evenly spaced levels. Positions are in [0, 1] so that plots with
//! several parameters (parallel coordinates, the heatmap) share one coordinate system.

use super::chart::tick;
use super::data::Trial;
use kiln_core::{Distribution, ParamValue};

/// A parameter's axis.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scale {
    /// `[lo, hi]`, in log space when `log`.
    Numeric { lo: f64, hi: f64, log: bool },
    /// One position per level, in this order.
    Levels(Vec<ParamValue>),
}

impl Scale {
    /// The scale of `name` over `trials`: the domain its distribution gives (the first
    /// trial that has one), else what the values themselves span. `None` when no trial
    /// has the parameter.
    pub(super) fn of(name: &str, trials: &[&Trial]) -> Option<Scale> {
        let values: Vec<&ParamValue> = trials.iter().filter_map(|t| t.params.get(name)).collect();
        if values.is_empty() {
            return None;
        }
        match trials.iter().find_map(|t| t.distributions.get(name)) {
            Some(Distribution::Float { low, high, log, .. }) => {
                Some(Scale::numeric(*low, *high, *log))
            }
            Some(Distribution::Int { low, high, log, .. }) => {
                Some(Scale::numeric(*low as f64, *high as f64, *log))
            }
            Some(Distribution::Categorical { choices }) => Some(Scale::Levels(choices.clone())),
            None if values.iter().all(|v| v.as_f64().is_some()) => {
                let xs = values.iter().filter_map(|v| v.as_f64());
                let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                    (a.min(x), b.max(x))
                });
                Some(Scale::numeric(lo, hi, false))
            }
            None => {
                let mut levels: Vec<ParamValue> = Vec::new();
                for v in values {
                    if !levels.contains(v) {
                        levels.push(v.clone());
                    }
                }
                Some(Scale::Levels(levels))
            }
        }
    }

    fn numeric(lo: f64, hi: f64, log: bool) -> Scale {
        // A log scale needs positive bounds; a domain that has none is shown linearly.
        let log = log && lo > 0.0 && hi > 0.0;
        let (lo, hi) = if log { (lo.ln(), hi.ln()) } else { (lo, hi) };
        Scale::Numeric { lo, hi, log }
    }

    /// Whether the scale is logarithmic.
    pub(super) fn is_log(&self) -> bool {
        matches!(self, Scale::Numeric { log: true, .. })
    }

    /// The position of `v` in [0, 1]; `None` for a value the scale cannot place.
    pub(super) fn unit(&self, v: &ParamValue) -> Option<f64> {
        match self {
            Scale::Levels(levels) => {
                let i = levels.iter().position(|l| l == v)?;
                Some(if levels.len() > 1 {
                    i as f64 / (levels.len() - 1) as f64
                } else {
                    0.5
                })
            }
            Scale::Numeric { lo, hi, log } => {
                let x = v.as_f64()?;
                let x = if *log { x.ln() } else { x };
                if !x.is_finite() {
                    return None;
                }
                Some(if hi > lo {
                    ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
                } else {
                    0.5
                })
            }
        }
    }

    /// How many cells the heatmap cuts the scale into: one per level, else `bins`.
    pub(super) fn cells(&self, bins: usize) -> usize {
        match self {
            Scale::Levels(levels) => levels.len().max(1),
            Scale::Numeric { .. } => bins,
        }
    }

    /// The heatmap cell of `v`, of `cells(bins)`.
    pub(super) fn cell(&self, v: &ParamValue, bins: usize) -> Option<usize> {
        let n = self.cells(bins);
        match self {
            Scale::Levels(levels) => levels.iter().position(|l| l == v),
            Scale::Numeric { .. } => {
                let u = self.unit(v)?;
                Some(((u * n as f64) as usize).min(n - 1))
            }
        }
    }

    /// Where cell `i` of `n` lies, as a [start, end) in [0, 1]: levels centred on their
    /// position, numeric cells side by side.
    pub(super) fn cell_span(&self, i: usize, n: usize) -> (f64, f64) {
        match self {
            Scale::Levels(levels) if levels.len() > 1 => {
                let half = 0.5 / (levels.len() - 1) as f64;
                let c = i as f64 / (levels.len() - 1) as f64;
                ((c - half).max(0.0), (c + half).min(1.0))
            }
            Scale::Levels(_) => (0.0, 1.0),
            Scale::Numeric { .. } => (i as f64 / n as f64, (i + 1) as f64 / n as f64),
        }
    }

    /// Tick positions and labels: the levels; decades on a log scale that spans two or
    /// more of them; else five evenly spaced values.
    pub(super) fn ticks(&self) -> Vec<(f64, String)> {
        match self {
            Scale::Levels(levels) => levels
                .iter()
                .filter_map(|l| Some((self.unit(l)?, short(&l.to_string(), 12))))
                .collect(),
            Scale::Numeric { lo, hi, log } => {
                let span = hi - lo;
                if *log && (hi - lo) / std::f64::consts::LN_10 >= 2.0 {
                    // Bounds that are decades (1e-4) must not round to the next one.
                    let (a, b) = (
                        (lo / std::f64::consts::LN_10 - 1e-9).ceil() as i32,
                        (hi / std::f64::consts::LN_10 + 1e-9).floor() as i32,
                    );
                    return (a..=b)
                        .map(|e| {
                            let x = f64::from(e) * std::f64::consts::LN_10;
                            (((x - lo) / span).clamp(0.0, 1.0), tick(10f64.powi(e)))
                        })
                        .collect();
                }
                if span <= 0.0 {
                    let v = if *log { lo.exp() } else { *lo };
                    return vec![(0.5, tick(v))];
                }
                if *log {
                    // Under two decades: round values (1, 2, 5 and on) rather than the odd
                    // numbers even spacing in log space would give.
                    let (a, b) = (lo.exp(), hi.exp());
                    for mantissas in [&[1.0, 2.0, 5.0][..], &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]] {
                        let marks = round_values(a, b, mantissas);
                        if marks.len() >= 3 {
                            return marks
                                .into_iter()
                                .map(|v| ((v.ln() - lo) / span, tick(v)))
                                .collect();
                        }
                    }
                }
                (0..5)
                    .map(|k| {
                        let u = f64::from(k) / 4.0;
                        let x = lo + u * span;
                        (u, tick(if *log { x.exp() } else { x }))
                    })
                    .collect()
            }
        }
    }
}

/// The values m·10^e (m from `mantissas`) in [a, b], for 0 < a < b.
fn round_values(a: f64, b: f64, mantissas: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    let first = a.log10().floor() as i32;
    let last = b.log10().ceil() as i32;
    for e in first..=last {
        for m in mantissas {
            let v = m * 10f64.powi(e);
            if v >= a * (1.0 - 1e-9) && v <= b * (1.0 + 1e-9) {
                out.push(v);
            }
        }
    }
    out
}

/// `s` cut to `n` characters, with an ellipsis when cut (labels that fit the plot).
pub(super) fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_and_categorical_scales_place_values() {
        let s = Scale::numeric(1e-4, 1e-1, true);
        let u = s.unit(&ParamValue::Float(1e-2)).expect("placed");
        assert!((u - 2.0 / 3.0).abs() < 1e-9, "{u}");
        let labels: Vec<String> = s.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["1e-4", "1e-3", "0.01", "0.1"]);
        assert_eq!(s.cell(&ParamValue::Float(1e-1), 10), Some(9));
        let c = Scale::Levels(vec![ParamValue::Int(0), ParamValue::Str("<b>".into())]);
        assert_eq!(c.unit(&ParamValue::Str("<b>".into())), Some(1.0));
        assert_eq!(c.unit(&ParamValue::Str("z".into())), None);
        assert_eq!(c.cell_span(1, 2), (0.0 + 0.5, 1.0));
        // A log domain without positive bounds falls back to linear.
        assert!(!Scale::numeric(0.0, 1.0, true).is_log());
        assert_eq!(short("abcdefgh", 4), "abc…");
        let filters = Scale::numeric(4.0, 24.0, true);
        let labels: Vec<String> = filters.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["5", "10", "20"]);
    }
}
