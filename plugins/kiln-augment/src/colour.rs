//! Photometric ops, batched: brightness (exposure), contrast, gamma and saturation. Each
//! sample draws its own factor; images are taken to be in [0, 1] and are clamped back there.

use crate::per_sample::{check_p, check_strength, column, per_sample};
use kiln_core::burn::Tensor;
use kiln_core::{Augmenter, BuildContext, HostImages, Result, Rng};
use serde::Deserialize;

/// Which photometric op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourOp {
    /// `x + b`, `b ~ U(-strength, strength)`.
    Brightness,
    /// `(x - m)·f + m` with `m` the sample's mean, `f ~ U(1 - strength, 1 + strength)`.
    Contrast,
    /// `x^g`, `g ~ U(1 - strength, 1 + strength)`.
    Gamma,
    /// RGB: `y + f·(x - y)` with `y` the luma (0.299 R + 0.587 G + 0.114 B),
    /// `f ~ U(1 - strength, 1 + strength)`; a one-channel image is left as it is.
    Saturation,
}

/// Parameters of a [`Colour`] op.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColourConfig {
    /// Probability that a sample is changed.
    pub p: f64,
    /// How far the factor may move (see [`ColourOp`]).
    pub strength: f64,
}

impl Default for ColourConfig {
    fn default() -> Self {
        ColourConfig {
            p: 0.5,
            strength: 0.2,
        }
    }
}

/// A photometric op with its probability and strength.
#[derive(Debug, Clone)]
pub struct Colour {
    op: ColourOp,
    p: f64,
    strength: f64,
}

impl Colour {
    /// An op with validated `p` and `strength` (below 1, so factors stay positive).
    pub fn new(op: ColourOp, p: f64, strength: f64, key: &str) -> Result<Self> {
        check_p(p, key)?;
        check_strength(strength, 0.99, key, "strength")?;
        Ok(Colour { op, p, strength })
    }

    /// Builds from config parameters.
    pub fn from_params(
        op: ColourOp,
        params: &serde_json::Value,
        ctx: &BuildContext,
    ) -> Result<Self> {
        let c: ColourConfig = ctx.parse(params)?;
        Colour::new(op, c.p, c.strength, &ctx.key)
    }
}

impl Colour {
    /// The factor that changes nothing: 0 for brightness, 1 for the others.
    fn identity(&self) -> f32 {
        if self.op == ColourOp::Brightness {
            0.0
        } else {
            1.0
        }
    }

    /// Each sample's factor (the identity where it does not fire); `None` when none fires.
    fn factors(&self, n: usize, rng: &mut Rng) -> Option<Vec<f32>> {
        let s = self.strength;
        per_sample(n, self.p, rng, self.identity(), |r| {
            let u = r.uniform_range(-s, s) as f32;
            if self.op == ColourOp::Brightness {
                u
            } else {
                1.0 + u
            }
        })
    }

    /// Applies the op with factor `f` to one sample of `channels` planes, clamped to [0, 1].
    fn apply(&self, sample: &mut [f32], channels: usize, f: f32) {
        // One pass per op, each clamping as it writes.
        match self.op {
            ColourOp::Brightness => sample
                .iter_mut()
                .for_each(|x| *x = (*x + f).clamp(0.0, 1.0)),
            ColourOp::Contrast => {
                let mean = mean(sample);
                sample
                    .iter_mut()
                    .for_each(|x| *x = ((*x - mean) * f + mean).clamp(0.0, 1.0));
            }
            ColourOp::Gamma => sample
                .iter_mut()
                .for_each(|x| *x = x.max(0.0).powf(f).clamp(0.0, 1.0)),
            ColourOp::Saturation if channels == 3 => {
                let plane = sample.len() / 3;
                let (r, rest) = sample.split_at_mut(plane);
                let (g, b) = rest.split_at_mut(plane);
                for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
                    let luma = *r * 0.299 + *g * 0.587 + *b * 0.114;
                    for x in [r, g, b] {
                        *x = (luma + (*x - luma) * f).clamp(0.0, 1.0);
                    }
                }
            }
            ColourOp::Saturation => sample.iter_mut().for_each(|x| *x = x.clamp(0.0, 1.0)),
        }
    }
}

/// The mean of `values`: eight `f32` lanes summed side by side (so the compiler can vectorise
/// them), each block of lanes added into an `f64` total, which keeps the error small.
fn mean(values: &[f32]) -> f32 {
    let mut total = 0.0f64;
    for block in values.chunks(4096) {
        let mut lanes = [0.0f32; 8];
        let mut chunks = block.chunks_exact(8);
        for c in &mut chunks {
            for (l, v) in lanes.iter_mut().zip(c) {
                *l += v;
            }
        }
        let tail: f32 = chunks.remainder().iter().sum();
        total += f64::from(lanes.iter().sum::<f32>() + tail);
    }
    (total / values.len().max(1) as f64) as f32
}

impl Augmenter for Colour {
    fn has_host_path(&self) -> bool {
        true
    }

    fn augment_host(&self, images: &mut HostImages, rng: &mut Rng) -> Result<()> {
        let channels = images.shape()[1];
        let Some(f) = self.factors(images.len(), rng) else {
            return Ok(());
        };
        // As on the tensor path: a factor equal to the identity reads as "did not fire"
        // unless every sample fired, and a changed sample is clamped to [0, 1].
        let identity = self.identity();
        let every = f.iter().all(|&v| v != identity);
        for (sample, &f) in images.samples_mut().zip(&f) {
            if every || f != identity {
                self.apply(sample, channels, f);
            }
        }
        Ok(())
    }

    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        let [n, c, _, _] = images.dims();
        let identity = self.identity();
        let Some(f) = self.factors(n, rng) else {
            return Ok(images);
        };
        let device = images.device();
        // Samples that did not fire keep their pixels bit for bit: the result is blended
        // back through a 0/1 mask (x + 0·(t − x) = x exactly). A drawn factor equal to the
        // identity reads as "did not fire", which changes nothing either way.
        let fired: Vec<bool> = f.iter().map(|&v| v != identity).collect();
        let f = column(f, &device);
        let original = images.clone();
        let out = match self.op {
            ColourOp::Brightness => images + f,
            ColourOp::Contrast => {
                let mean = images.clone().mean_dim(1).mean_dim(2).mean_dim(3);
                (images - mean.clone()) * f + mean
            }
            ColourOp::Gamma => images.clamp_min(0.0).powf(f),
            ColourOp::Saturation if c == 3 => {
                let r = images.clone().narrow(1, 0, 1);
                let g = images.clone().narrow(1, 1, 1);
                let b = images.clone().narrow(1, 2, 1);
                let luma = r * 0.299 + g * 0.587 + b * 0.114;
                luma.clone() + (images - luma) * f
            }
            ColourOp::Saturation => images,
        };
        let out = out.clamp(0.0, 1.0);
        // Every sample changed (p = 1): the blend would be three passes for nothing.
        if fired.iter().all(|&x| x) {
            return Ok(out);
        }
        let mask = column(
            fired.iter().map(|&x| f32::from(u8::from(x))).collect(),
            &device,
        );
        Ok(original.clone() + (out - original) * mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::burn::prelude::{Device, TensorData};

    fn batch(n: usize, c: usize, values: impl Fn(usize) -> f32) -> (Tensor<4>, Vec<f32>) {
        let v: Vec<f32> = (0..n * c * 16).map(values).collect();
        (
            Tensor::from_data(TensorData::new(v.clone(), [n, c, 4, 4]), &Device::flex()),
            v,
        )
    }

    fn run(op: ColourOp, p: f64, s: f64, x: Tensor<4>) -> Vec<f32> {
        Colour::new(op, p, s, "a")
            .expect("valid")
            .augment(x, &mut Rng::new(9))
            .expect("augment")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32")
    }

    #[test]
    fn conforms() {
        for op in [
            ColourOp::Brightness,
            ColourOp::Contrast,
            ColourOp::Gamma,
            ColourOp::Saturation,
        ] {
            // Saturation is the identity on one channel: check it on a brightness-like op
            // (the suite uses one-channel images).
            if op == ColourOp::Saturation {
                kiln_core::testing::check_host_path(&|p| {
                    Box::new(Colour::new(op, p, 0.3, "a").expect("valid")) as Box<dyn Augmenter>
                });
                continue;
            }
            kiln_core::testing::check_augmenter(|p| {
                Box::new(Colour::new(op, p, 0.3, "a").expect("valid"))
            });
        }
    }

    #[test]
    fn brightness_shifts_each_sample_by_one_amount_within_the_strength() {
        let (x, v) = batch(8, 1, |i| 0.4 + 0.2 * ((i % 16) as f32 / 16.0));
        let out = run(ColourOp::Brightness, 1.0, 0.15, x);
        for s in 0..8 {
            let d: Vec<f32> = (0..16).map(|j| out[s * 16 + j] - v[s * 16 + j]).collect();
            assert!(
                d.iter().all(|x| (x - d[0]).abs() < 1e-5),
                "one shift per sample"
            );
            assert!(d[0].abs() <= 0.15 + 1e-6);
        }
    }

    #[test]
    fn contrast_keeps_the_mean_and_scales_deviations() {
        let (x, v) = batch(4, 1, |i| 0.3 + 0.4 * ((i * 7 % 16) as f32 / 16.0));
        let out = run(ColourOp::Contrast, 1.0, 0.3, x);
        for s in 0..4 {
            let (a, b) = (&v[s * 16..(s + 1) * 16], &out[s * 16..(s + 1) * 16]);
            let (ma, mb) = (a.iter().sum::<f32>() / 16.0, b.iter().sum::<f32>() / 16.0);
            assert!((ma - mb).abs() < 1e-5, "mean kept");
            let f = (b[1] - mb) / (a[1] - ma);
            assert!((0.7 - 1e-4..=1.3 + 1e-4).contains(&f), "factor {f}");
            for j in 0..16 {
                assert!(((b[j] - mb) - f * (a[j] - ma)).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn gamma_is_a_power_per_sample() {
        let (x, v) = batch(4, 1, |i| 0.1 + 0.8 * ((i % 16) as f32 / 16.0));
        let out = run(ColourOp::Gamma, 1.0, 0.5, x);
        for s in 0..4 {
            let g = out[s * 16 + 3].ln() / v[s * 16 + 3].ln();
            assert!((0.5 - 1e-4..=1.5 + 1e-4).contains(&g));
            for j in 0..16 {
                assert!((out[s * 16 + j] - v[s * 16 + j].powf(g)).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn saturation_keeps_grey_and_the_luma() {
        // Sample 0 grey (R = G = B), sample 1 coloured.
        let (x, v) = batch(2, 3, |i| {
            let (s, ch) = (i / 48, (i / 16) % 3);
            if s == 0 { 0.5 } else { [0.6, 0.4, 0.3][ch] }
        });
        let out = run(ColourOp::Saturation, 1.0, 0.5, x);
        assert!(
            out[..48].iter().all(|&p| (p - 0.5).abs() < 1e-6),
            "grey stays grey"
        );
        let luma =
            |px: &[f32], j: usize| 0.299 * px[48 + j] + 0.587 * px[64 + j] + 0.114 * px[80 + j];
        for j in 0..16 {
            assert!((luma(&out, j) - luma(&v, j)).abs() < 1e-5, "luma kept");
        }
        let one = run(
            ColourOp::Saturation,
            1.0,
            0.5,
            batch(2, 1, |i| i as f32 / 32.0).0,
        );
        assert_eq!(
            one,
            batch(2, 1, |i| i as f32 / 32.0).1,
            "one channel: identity"
        );
    }

    #[test]
    fn bad_strength_names_the_key() {
        let e = Colour::new(ColourOp::Gamma, 0.5, 1.5, "augment[1]").expect_err("> 0.99");
        assert!(e.to_string().contains("augment[1].strength"), "{e}");
    }
}
