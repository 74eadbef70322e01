//! Random crop with padding (torchvision's `RandomCrop(size, padding)` at the input size):
//! each sample is padded by `padding` pixels on every side with `fill` and cropped back to
//! its size at an integer offset `(top, left)`, each uniform in `0..=2·padding`. That is an
//! exact shift of the content by `(padding − top, padding − left)` pixels, `fill` where it
//! leaves the image: output `(y, x)` = input `(y + top − padding, x + left − padding)`.
//!
//! The shift is one batched `gather` on the device through a per-sample index built on the
//! host (as cutout builds its mask), so pixels move bit for bit, with no interpolation.

use crate::per_sample::{check_p, check_strength};
use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::{Int, TensorData};
use kiln_core::{Augmenter, BuildContext, Error, HostImages, Result, Rng};
use serde::Deserialize;

/// The largest `padding` accepted, in pixels.
pub const MAX_PADDING: i64 = 1024;

/// Parameters of [`Crop`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CropConfig {
    /// Probability that a sample is cropped (1: every sample, as torchvision does).
    pub p: f64,
    /// Pixels of `fill` added on every side before cropping back to the input size.
    pub padding: i64,
    /// What the padding is filled with.
    pub fill: f64,
}

impl Default for CropConfig {
    fn default() -> Self {
        CropConfig {
            p: 1.0,
            padding: 4,
            fill: 0.0,
        }
    }
}

/// Random crop with padding: an integer shift in `[-padding, padding]` on each axis.
#[derive(Debug, Clone)]
pub struct Crop {
    p: f64,
    padding: usize,
    fill: f64,
}

impl Crop {
    /// A crop with validated parameters.
    pub fn new(config: CropConfig, key: &str) -> Result<Self> {
        check_p(config.p, key)?;
        if !(0..=MAX_PADDING).contains(&config.padding) {
            return Err(Error::config(
                format!("{key}.padding"),
                format!(
                    "must be a whole number of pixels in [0, {MAX_PADDING}], got {}",
                    config.padding
                ),
            ));
        }
        check_strength(config.fill, 1.0, key, "fill")?;
        Ok(Crop {
            p: config.p,
            padding: config.padding as usize,
            fill: config.fill,
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        Crop::new(ctx.parse(params)?, &ctx.key)
    }

    /// One sample's draws, in order: the Bernoulli for `p`, then `top`, then `left` (each
    /// uniform in `0..=2·padding`), taken whether or not the sample fires. `None` when it
    /// does not fire.
    pub fn draw(&self, rng: &mut Rng) -> Option<(usize, usize)> {
        let fire = rng.bernoulli(self.p);
        let span = 2 * self.padding as u64 + 1;
        let top = rng.below(span) as usize;
        let left = rng.below(span) as usize;
        fire.then_some((top, left))
    }
}

/// Crops each image of `images` from its padded copy at its offset `(top, left)` in
/// `0..=2·padding` (`None`: kept as it is), filling what comes from the padding with `fill`.
pub fn shift_crop(
    images: Tensor<4>,
    offsets: &[Option<(usize, usize)>],
    padding: usize,
    fill: f64,
) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    let plane = h * w;
    let mut index = Vec::with_capacity(n * c * plane);
    let mut keep = vec![1.0f32; n * plane];
    for (s, offset) in offsets.iter().enumerate() {
        let (top, left) = offset.unwrap_or((padding, padding));
        let mut sample = Vec::with_capacity(plane);
        for y in 0..h {
            for x in 0..w {
                // Padded coordinates y + top, x + left; the input pixel is `padding` less.
                let (sy, sx) = (
                    (y + top).checked_sub(padding),
                    (x + left).checked_sub(padding),
                );
                match (sy, sx) {
                    (Some(sy), Some(sx)) if sy < h && sx < w => sample.push((sy * w + sx) as i64),
                    _ => {
                        sample.push(0);
                        keep[s * plane + y * w + x] = 0.0;
                    }
                }
            }
        }
        for _ in 0..c {
            index.extend_from_slice(&sample);
        }
    }
    let device = images.device();
    let index = Tensor::<3, Int>::from_data(TensorData::new(index, [n, c, plane]), &device);
    let moved = images
        .reshape([n, c, plane])
        .gather(2, index)
        .reshape([n, c, h, w]);
    let m = Tensor::<4>::from_data(TensorData::new(keep, [n, 1, h, w]), &device);
    let pad = (m.clone().neg() + 1.0) * fill;
    // Kept pixels: x·1 + 0 = x exactly.
    moved * m + pad
}

/// [`shift_crop`] on the host: each sample's planes shifted row by row (one copy of the
/// rows that stay inside, `fill` for the rest).
pub fn shift_crop_host(
    images: &mut HostImages,
    offsets: &[Option<(usize, usize)>],
    padding: usize,
    fill: f64,
) {
    let [_, _, h, w] = images.shape();
    let fill = fill as f32;
    let mut plane_copy = vec![0.0f32; h * w];
    for (sample, offset) in images.samples_mut().zip(offsets) {
        let Some((top, left)) = *offset else { continue };
        if (top, left) == (padding, padding) {
            continue;
        }
        for plane in sample.chunks_exact_mut((h * w).max(1)) {
            plane_copy.copy_from_slice(plane);
            // Output (y, x) reads input (y + top − padding, x + left − padding).
            let dx = left as isize - padding as isize;
            let (x_from, x_to) = (
                (-dx).clamp(0, w as isize),
                (w as isize - dx).clamp(0, w as isize),
            );
            for (y, row) in plane.chunks_exact_mut(w).enumerate() {
                let sy = y as isize + top as isize - padding as isize;
                row.fill(fill);
                if (0..h as isize).contains(&sy) && x_from < x_to {
                    let (a, b) = (x_from as usize, x_to as usize);
                    let start = sy as usize * w + (a as isize + dx) as usize;
                    row[a..b].copy_from_slice(&plane_copy[start..start + (b - a)]);
                }
            }
        }
    }
}

impl Augmenter for Crop {
    fn has_host_path(&self) -> bool {
        true
    }

    fn augment_host(&self, images: &mut HostImages, rng: &mut Rng) -> Result<()> {
        let offsets: Vec<Option<(usize, usize)>> =
            (0..images.len()).map(|_| self.draw(rng)).collect();
        shift_crop_host(images, &offsets, self.padding, self.fill);
        Ok(())
    }

    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        let [n, _, _, _] = images.dims();
        let offsets: Vec<Option<(usize, usize)>> = (0..n).map(|_| self.draw(rng)).collect();
        let centre = Some((self.padding, self.padding));
        if offsets.iter().all(|o| o.is_none() || *o == centre) {
            return Ok(images);
        }
        Ok(shift_crop(images, &offsets, self.padding, self.fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::burn::prelude::Device;

    fn pixels(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    fn crop(p: f64, padding: i64, fill: f64) -> Crop {
        Crop::new(CropConfig { p, padding, fill }, "a").expect("valid")
    }

    /// `n` two-channel `h × w` images, pixel value distinct and in (0, 1).
    fn batch(n: usize, h: usize, w: usize) -> (Tensor<4>, Vec<f32>) {
        let len = n * 2 * h * w;
        let v: Vec<f32> = (0..len)
            .map(|i| (i + 1) as f32 / (len + 1) as f32)
            .collect();
        (
            Tensor::from_data(TensorData::new(v.clone(), [n, 2, h, w]), &Device::flex()),
            v,
        )
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| Box::new(crop(p, 2, 0.0)));
    }

    #[test]
    fn every_pixel_moves_by_exactly_the_drawn_offset() {
        let (n, h, w, pad) = (12, 5, 7, 3usize);
        let (x, v) = batch(n, h, w);
        let op = crop(0.7, pad as i64, 0.25);
        let out = pixels(op.augment(x, &mut Rng::new(11)).expect("augment"));
        // The same draws, replayed: Bernoulli, top, left per sample.
        let mut rng = Rng::new(11);
        let draws: Vec<Option<(usize, usize)>> = (0..n).map(|_| op.draw(&mut rng)).collect();
        assert!(draws.iter().any(Option::is_none) && draws.iter().any(Option::is_some));
        for (s, d) in draws.iter().enumerate() {
            let (top, left) = d.unwrap_or((pad, pad));
            for ch in 0..2 {
                for y in 0..h {
                    for xx in 0..w {
                        let (sy, sx) = (
                            y as i64 + top as i64 - pad as i64,
                            xx as i64 + left as i64 - pad as i64,
                        );
                        let inside = (0..h as i64).contains(&sy) && (0..w as i64).contains(&sx);
                        let base = (s * 2 + ch) * h * w;
                        let want = if inside {
                            v[base + sy as usize * w + sx as usize]
                        } else {
                            0.25
                        };
                        assert_eq!(out[base + y * w + xx], want, "sample {s} ({y}, {xx})");
                    }
                }
            }
        }
    }

    #[test]
    fn a_known_pixel_lands_where_the_offset_says() {
        // One lit pixel at (3, 4) of a 6 × 6 image; offset (top 0, left 4) with padding 2
        // shifts the content by (2 − 0, 2 − 4) = (2, −2) pixels.
        let mut v = vec![0.0f32; 36];
        v[3 * 6 + 4] = 1.0;
        let x = Tensor::<4>::from_data(TensorData::new(v, [1, 1, 6, 6]), &Device::flex());
        let out = pixels(shift_crop(x, &[Some((0, 4))], 2, 0.0));
        let lit: Vec<usize> = (0..36).filter(|&i| out[i] != 0.0).collect();
        assert_eq!(lit, [5 * 6 + 2], "(3, 4) + (2, -2) = (5, 2)");
        assert_eq!(out[5 * 6 + 2], 1.0);
    }

    #[test]
    fn p_zero_and_padding_zero_are_the_identity() {
        let (x, v) = batch(6, 4, 4);
        for op in [crop(0.0, 4, 0.5), crop(1.0, 0, 0.5)] {
            let out = pixels(op.augment(x.clone(), &mut Rng::new(2)).expect("augment"));
            assert_eq!(out, v);
        }
    }

    #[test]
    fn same_seed_same_crops() {
        let (x, _) = batch(8, 6, 6);
        let op = crop(0.5, 2, 0.0);
        let a = pixels(op.augment(x.clone(), &mut Rng::new(5)).expect("augment"));
        let b = pixels(op.augment(x.clone(), &mut Rng::new(5)).expect("augment"));
        let c = pixels(op.augment(x, &mut Rng::new(6)).expect("augment"));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bad_parameters_name_the_key() {
        let ctx = BuildContext::new(0).with_key("augment[2]");
        for (params, key) in [
            (serde_json::json!({ "padding": -1 }), "augment[2].padding"),
            (serde_json::json!({ "padding": 5000 }), "augment[2].padding"),
            (serde_json::json!({ "p": 1.5 }), "augment[2].p"),
            (serde_json::json!({ "fill": 2.0 }), "augment[2].fill"),
        ] {
            let e = Crop::from_params(&params, &ctx)
                .expect_err("invalid")
                .to_string();
            assert!(e.contains(key), "{e}");
        }
        let e = Crop::from_params(&serde_json::json!({ "padding": 1.5 }), &ctx)
            .expect_err("not whole")
            .to_string();
        assert!(e.contains("augment[2]"), "{e}");
        assert!(Crop::from_params(&serde_json::json!({ "size": 3 }), &ctx).is_err());
    }
}
