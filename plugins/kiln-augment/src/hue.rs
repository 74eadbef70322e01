//! Hue shift, batched: RGB → HSV, the hue turned by the sample's own `h ~ U(-strength,
//! strength)` turns, → RGB, with tensor ops on the device. Images other than three-channel
//! RGB (one-channel luma) are left as they are; the result is clamped to [0, 1].
//!
//! With `M = max(R, G, B)`, `m = min(R, G, B)` and chroma `C = M − m`, the hue in sixths of
//! a turn is `((G − B)/C) mod 6` where `M = R`, `(B − R)/C + 2` where `M = G` (and not
//! `R`), `(R − G)/C + 4` otherwise (0 for greys, where `C = 0`). Value `M` and chroma are
//! kept; the shifted hue `H' = 6·(hue + h)` gives each channel back by the branch-free form
//! `M − C·clamp(min(k, 4 − k), 0, 1)` with `k = (n + H') mod 6`, `n` = 5, 3, 1 for R, G, B.

use crate::per_sample::{check_p, check_strength, column, per_sample};
use kiln_core::burn::Tensor;
use kiln_core::{Augmenter, BuildContext, Result, Rng};
use serde::Deserialize;

/// The largest `strength`: half a turn each way covers every hue.
pub const MAX_STRENGTH: f64 = 0.5;

/// Parameters of [`Hue`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HueConfig {
    /// Probability that a sample is changed.
    pub p: f64,
    /// The shift is drawn in `[-strength, strength]` turns (at most 0.5).
    pub strength: f64,
}

impl Default for HueConfig {
    fn default() -> Self {
        HueConfig {
            p: 0.5,
            strength: 0.1,
        }
    }
}

/// A per-sample hue shift.
#[derive(Debug, Clone)]
pub struct Hue {
    p: f64,
    strength: f64,
}

impl Hue {
    /// A hue shift with validated parameters.
    pub fn new(config: HueConfig, key: &str) -> Result<Self> {
        check_p(config.p, key)?;
        check_strength(config.strength, MAX_STRENGTH, key, "strength")?;
        Ok(Hue {
            p: config.p,
            strength: config.strength,
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        Hue::new(ctx.parse(params)?, &ctx.key)
    }
}

/// `x mod 6` in `[0, 6)`.
fn mod6(x: Tensor<4>) -> Tensor<4> {
    x.clone() - (x / 6.0).floor() * 6.0
}

/// Turns the hue of each RGB image of `images` `[n, 3, h, w]` by its shift in `turns`
/// (a `[n, 1, 1, 1]` column), not clamped. Other channel counts come back as they are.
pub fn shift_hue(images: Tensor<4>, turns: Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = images.dims();
    if c != 3 {
        return images;
    }
    let r = images.clone().narrow(1, 0, 1);
    let g = images.clone().narrow(1, 1, 1);
    let b = images.narrow(1, 2, 1);
    let max = r.clone().max_pair(g.clone()).max_pair(b.clone());
    let min = r.clone().min_pair(g.clone()).min_pair(b.clone());
    let chroma = max.clone() - min;
    // Greys have chroma 0 and any hue: divide by 1 there, the numerators are 0 too.
    let safe = chroma
        .clone()
        .mask_fill(chroma.clone().equal_elem(0.0), 1.0);
    let from_r = mod6((g.clone() - b.clone()) / safe.clone());
    let from_g = (b.clone() - r.clone()) / safe.clone() + 2.0;
    let from_b = (r.clone() - g.clone()) / safe + 4.0;
    let sixths = from_b
        .mask_where(g.equal(max.clone()), from_g)
        .mask_where(r.equal(max.clone()), from_r);
    let shifted = sixths + turns * 6.0;
    let channel = |n: f64| {
        let k = mod6(shifted.clone() + n);
        let ramp = k.clone().min_pair(k.neg() + 4.0).clamp(0.0, 1.0);
        max.clone() - chroma.clone() * ramp
    };
    Tensor::cat(vec![channel(5.0), channel(3.0), channel(1.0)], 1)
}

impl Augmenter for Hue {
    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        let [n, c, _, _] = images.dims();
        let s = self.strength;
        let Some(turns) = per_sample(n, self.p, rng, 0.0, |r| r.uniform_range(-s, s) as f32) else {
            return Ok(images);
        };
        if c != 3 {
            return Ok(images);
        }
        let device = images.device();
        // Samples that did not fire keep their pixels bit for bit (x + 0·(t − x) = x).
        let mask = column(
            turns
                .iter()
                .map(|&v| f32::from(u8::from(v != 0.0)))
                .collect(),
            &device,
        );
        let out = shift_hue(images.clone(), column(turns, &device));
        Ok(images.clone() + (out.clamp(0.0, 1.0) - images) * mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::burn::prelude::{Device, TensorData};

    fn tensor(v: Vec<f32>, n: usize, c: usize, h: usize, w: usize) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v, [n, c, h, w]), &Device::flex())
    }

    fn pixels(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    fn shifted(v: &[f32], n: usize, turns: &[f32]) -> Vec<f32> {
        let plane = v.len() / (3 * n);
        let x = tensor(v.to_vec(), n, 3, 1, plane);
        pixels(shift_hue(x, column(turns.to_vec(), &Device::flex())))
    }

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..len).map(|_| rng.uniform() as f32).collect()
    }

    /// Per-pixel RGB → HSV → RGB as Python's `colorsys` writes it, in f64.
    fn reference(rgb: [f64; 3], turns: f64) -> [f64; 3] {
        let [r, g, b] = rgb;
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        if max == min {
            return rgb;
        }
        let (v, s, d) = (max, (max - min) / max, max - min);
        let (rc, gc, bc) = ((max - r) / d, (max - g) / d, (max - b) / d);
        let h = if r == max {
            bc - gc
        } else if g == max {
            2.0 + rc - bc
        } else {
            4.0 + gc - rc
        };
        let h = ((h / 6.0 + turns) % 1.0 + 1.0) % 1.0;
        let i = (h * 6.0).floor();
        let f = h * 6.0 - i;
        let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
        match i as i64 % 6 {
            0 => [v, t, p],
            1 => [q, v, p],
            2 => [p, v, t],
            3 => [p, q, v],
            4 => [t, p, v],
            _ => [v, p, q],
        }
    }

    /// Runs a hue shift on one-channel images coloured as (x, 1 − x, x²), reporting red:
    /// the conformance suite's images are one-channel, where hue is the identity.
    struct Coloured(Hue);

    impl Augmenter for Coloured {
        fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
            let rgb = Tensor::cat(
                vec![
                    images.clone(),
                    images.clone().neg() + 1.0,
                    images.clone().powf_scalar(2.0),
                ],
                1,
            );
            Ok(self.0.augment(rgb, rng)?.narrow(1, 0, 1))
        }
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| {
            let c = HueConfig { p, strength: 0.3 };
            Box::new(Coloured(Hue::new(c, "a").expect("valid")))
        });
    }

    #[test]
    fn a_zero_shift_is_a_round_trip() {
        let v = random(5 * 3 * 40, 1);
        let out = shifted(&v, 5, &[0.0; 5]);
        for (a, b) in out.iter().zip(&v) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn a_third_of_a_turn_takes_red_to_green_and_green_to_blue() {
        // Sample 0 pure red, sample 1 pure green (one pixel each).
        let out = shifted(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 2, &[1.0 / 3.0, 1.0 / 3.0]);
        let want = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        for (a, b) in out.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{out:?}");
        }
    }

    #[test]
    fn greys_are_unchanged() {
        let v: Vec<f32> = [0.0f32, 0.25, 0.5, 1.0]
            .iter()
            .flat_map(|&g| [g; 3])
            .collect();
        // Four one-pixel samples: each grey in all three channels.
        let out = shifted(&v, 4, &[0.1, -0.4, 0.5, 0.25]);
        assert_eq!(out, v);
    }

    #[test]
    fn agrees_with_a_per_pixel_reference() {
        let (n, plane) = (6, 50);
        let mut v = random(n * 3 * plane, 2);
        // Some ties and greys among the random pixels.
        v[0] = v[plane];
        v[1] = v[plane + 1];
        v[2 * plane + 1] = v[1];
        let turns = [0.0f32, 0.5, -0.5, 0.123, -0.37, 0.49];
        let out = shifted(&v, n, &turns);
        for (s, &turn) in turns.iter().enumerate() {
            for j in 0..plane {
                let at = |ch: usize| s * 3 * plane + ch * plane + j;
                let rgb = [0, 1, 2].map(|ch| f64::from(v[at(ch)]));
                let want = reference(rgb, f64::from(turn));
                for ch in 0..3 {
                    let got = out[at(ch)];
                    assert!(
                        (f64::from(got) - want[ch]).abs() < 1e-5,
                        "sample {s} pixel {j}: {got} vs {}",
                        want[ch]
                    );
                }
            }
        }
    }

    #[test]
    fn draws_one_shift_per_sample_and_keeps_the_others() {
        let (n, plane) = (10, 16);
        let v = random(n * 3 * plane, 3);
        let op = Hue::new(
            HueConfig {
                p: 0.5,
                strength: 0.4,
            },
            "a",
        )
        .expect("valid");
        let x = tensor(v.clone(), n, 3, 4, 4);
        let out = pixels(op.augment(x, &mut Rng::new(8)).expect("augment"));
        let mut rng = Rng::new(8);
        let turns: Vec<f32> = (0..n)
            .map(|_| {
                let fire = rng.bernoulli(0.5);
                let t = rng.uniform_range(-0.4, 0.4) as f32;
                if fire { t } else { 0.0 }
            })
            .collect();
        assert!(turns.contains(&0.0) && turns.iter().any(|&t| t != 0.0));
        let want = shifted(&v, n, &turns);
        for (s, &turn) in turns.iter().enumerate() {
            let range = s * 3 * plane..(s + 1) * 3 * plane;
            if turn == 0.0 {
                assert_eq!(out[range.clone()], v[range], "sample {s} kept bit for bit");
            } else {
                for i in range {
                    assert!((out[i] - want[i].clamp(0.0, 1.0)).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn one_channel_is_the_identity() {
        let v = random(4 * 16, 4);
        let op = Hue::new(
            HueConfig {
                p: 1.0,
                strength: 0.5,
            },
            "a",
        )
        .expect("valid");
        let out = pixels(
            op.augment(tensor(v.clone(), 4, 1, 4, 4), &mut Rng::new(1))
                .expect("augment"),
        );
        assert_eq!(out, v);
    }

    #[test]
    fn bad_parameters_name_the_key() {
        let ctx = BuildContext::new(0).with_key("augment[4]");
        for (params, key) in [
            (
                serde_json::json!({ "strength": 0.6 }),
                "augment[4].strength",
            ),
            (
                serde_json::json!({ "strength": -0.1 }),
                "augment[4].strength",
            ),
            (serde_json::json!({ "p": 2 }), "augment[4].p"),
        ] {
            let e = Hue::from_params(&params, &ctx)
                .expect_err("invalid")
                .to_string();
            assert!(e.contains(key), "{e}");
        }
    }
}
