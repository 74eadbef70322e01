//! Network-health probes: what a model shows of its hidden layers.
//!
//! A [`super::Classifier`] may return each hidden layer's pre-activations from
//! [`super::Classifier::forward_probed`]; the adapter turns them into [`LayerHealth`]
//! (histogram, dead units) and measures the update/weight ratio of every parameter tensor.
//! Probing is opt-in and runs once per epoch on a fixed probe batch, so it costs nothing
//! when off.

use burn::Tensor;
use serde::{Deserialize, Serialize};

/// One hidden layer's pre-activations on a probe batch, as `[samples, units]`.
///
/// For a dense layer a sample is an image; for a convolution a unit is a channel and every
/// spatial position of every image is a sample (the tensor `[B, C, H, W]` permuted and
/// reshaped to `[B·H·W, C]`), so a dead channel is one that is never positive anywhere.
#[derive(Debug, Clone)]
pub struct LayerProbe {
    /// The layer's name, e.g. `conv1` or `dense0`.
    pub name: String,
    /// Pre-activations `[samples, units]`.
    pub pre_activation: Tensor<2>,
}

/// Histogram bins of a layer's pre-activations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Lower edge of the first bin.
    pub low: f64,
    /// Upper edge of the last bin.
    pub high: f64,
    /// Counts per equal-width bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Bins `values` into `bins` equal-width bins between their minimum and maximum
    /// (non-finite values are skipped).
    pub fn of(values: &[f32], bins: usize) -> Histogram {
        let bins = bins.max(1);
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (low, high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(f64::from(v)), hi.max(f64::from(v)))
        });
        let mut counts = vec![0u64; bins];
        if low > high {
            return Histogram {
                low: 0.0,
                high: 0.0,
                counts,
            };
        }
        let width = (high - low).max(f64::MIN_POSITIVE);
        for v in values.iter().copied().filter(|v| v.is_finite()) {
            let i = (((f64::from(v) - low) / width) * bins as f64) as usize;
            counts[i.min(bins - 1)] += 1;
        }
        Histogram { low, high, counts }
    }
}

/// Health of one hidden layer at the end of an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerHealth {
    /// The layer's name.
    pub layer: String,
    /// Units of the layer.
    pub units: usize,
    /// Share of units whose pre-activation is ≤ 0 on every probe sample (a ReLU unit that
    /// never fires: "dead").
    pub dead_fraction: f64,
    /// Mean of the pre-activations.
    pub mean: f64,
    /// Standard deviation of the pre-activations.
    pub std: f64,
    /// Their histogram.
    pub histogram: Histogram,
}

impl LayerHealth {
    /// Health from pre-activations laid out `[samples, units]` row-major.
    pub fn from_values(layer: &str, values: &[f32], units: usize, bins: usize) -> LayerHealth {
        let units = units.max(1);
        let mut fires = vec![false; units];
        let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0usize);
        for (i, &v) in values.iter().enumerate() {
            if v > 0.0 {
                fires[i % units] = true;
            }
            if v.is_finite() {
                let v = f64::from(v);
                sum += v;
                sq += v * v;
                n += 1;
            }
        }
        let mean = sum / n.max(1) as f64;
        let var = (sq / n.max(1) as f64 - mean * mean).max(0.0);
        LayerHealth {
            layer: layer.to_string(),
            units,
            dead_fraction: fires.iter().filter(|f| !**f).count() as f64 / units as f64,
            mean,
            std: var.sqrt(),
            histogram: Histogram::of(values, bins),
        }
    }
}

/// The size of one optimiser step relative to the weights, for one parameter tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRatio {
    /// The tensor's path in the module, e.g. `conv.0.weight`.
    pub param: String,
    /// ‖Δw‖ / ‖w‖ over the step (a healthy rate is around 1e-3).
    pub ratio: f64,
    /// ‖w‖ after the step.
    pub weight_norm: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_units_are_those_never_positive() {
        // 3 samples × 4 units; unit 1 and unit 3 never fire.
        let v = [
            1.0, -1.0, 0.5, 0.0, //
            -2.0, -0.5, 0.0, -1.0, //
            0.1, 0.0, -3.0, -0.1,
        ];
        let h = LayerHealth::from_values("l", &v, 4, 5);
        assert_eq!(h.dead_fraction, 0.5);
        assert_eq!(h.histogram.counts.iter().sum::<u64>(), 12);
        assert_eq!(h.histogram.low, -3.0);
        assert_eq!(h.histogram.high, 1.0);
    }

    #[test]
    fn histogram_puts_the_maximum_in_the_last_bin() {
        let h = Histogram::of(&[0.0, 0.5, 1.0, f32::NAN], 2);
        assert_eq!(h.counts, vec![1, 2]);
    }
}
