//! Random resized crop (torchvision's `RandomResizedCrop` at the input size): each sample
//! takes a box of a random share of the image's area and a random aspect ratio and resizes
//! it back to the full image, bilinearly, through the same batched warp as `affine`
//! ([`crate::warp_matrices`]).
//!
//! # Draws
//! Five per sample, in this order whether or not the sample fires: the Bernoulli for `p`;
//! the area share `a ~ U(scale)`; the log aspect ratio `ln r ~ U(ln ratio.0, ln ratio.1)`
//! (so `r` is log-uniform); then `u_top`, `u_left ~ U(0, 1)`. The box of an `h × w` image is
//! `width = min(√(a·h·w·r), w)`, `height = min(√(a·h·w / r), h)` (clamped to fit instead of
//! drawing again, so the number of draws is fixed; a clamped box has less area or another
//! ratio), `top = u_top·(h − height)`, `left = u_left·(w − width)`, in continuous pixel
//! coordinates where the image spans `[0, w] × [0, h]`. No rounding: the box may be
//! fractional.
//!
//! # Resize
//! As an align-corners-false resize: output pixel centre `x + ½` samples the box at
//! `left + (x + ½)·width / w`, i.e. input pixel coordinate
//! `u = left + (x + ½)·width / w − ½` (and the same for rows), bilinear, zeros outside.

use crate::per_sample::check_p;
use kiln_core::burn::Tensor;
use kiln_core::{Augmenter, BuildContext, Error, HostImages, Result, Rng};
use serde::Deserialize;

/// Parameters of [`ResizedCrop`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResizedCropConfig {
    /// Probability that a sample is cropped (1: every sample, as torchvision does).
    pub p: f64,
    /// `[lo, hi]`: the box's share of the image's area, in (0, 1].
    pub scale: [f64; 2],
    /// `[lo, hi]`: the box's aspect ratio width / height, positive, drawn log-uniform.
    pub ratio: [f64; 2],
}

impl Default for ResizedCropConfig {
    fn default() -> Self {
        ResizedCropConfig {
            p: 1.0,
            scale: [0.08, 1.0],
            ratio: [3.0 / 4.0, 4.0 / 3.0],
        }
    }
}

/// One sample's crop box in continuous pixel coordinates (the image spans `[0, w] × [0, h]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropBox {
    /// Top edge.
    pub top: f64,
    /// Left edge.
    pub left: f64,
    /// Height.
    pub height: f64,
    /// Width.
    pub width: f64,
}

impl CropBox {
    /// The whole `h × w` image.
    pub fn full(h: usize, w: usize) -> CropBox {
        CropBox {
            top: 0.0,
            left: 0.0,
            height: h as f64,
            width: w as f64,
        }
    }

    /// The sampling matrix (output → input, normalised corner-aligned coordinates, as
    /// [`crate::warp_matrices`] takes) that resizes this box to a `h × w` image.
    pub fn grid_matrix(&self, h: usize, w: usize) -> [f64; 6] {
        // Input pixel u = start + (j + ½)·k − ½ with k = extent / side, for output pixel
        // j = (g + 1)·(side − 1)/2; normalised back: g' = 2u/(side − 1) − 1 = k·g + b.
        let axis = |start: f64, extent: f64, side: usize| {
            let k = extent / side as f64;
            let b = k + (2.0 * start - 1.0 + k) / (side.max(2) - 1) as f64 - 1.0;
            (k, b)
        };
        let (kx, bx) = axis(self.left, self.width, w);
        let (ky, by) = axis(self.top, self.height, h);
        [kx, 0.0, bx, 0.0, ky, by]
    }
}

/// Resizes each image's box of `images` back to the full size (bilinear, zeros outside).
pub fn resize_crops(images: Tensor<4>, boxes: &[CropBox]) -> Tensor<4> {
    let [_, _, h, w] = images.dims();
    let m: Vec<[f64; 6]> = boxes.iter().map(|b| b.grid_matrix(h, w)).collect();
    crate::warp_matrices(images, &m)
}

/// Random resized crop, batched.
#[derive(Debug, Clone)]
pub struct ResizedCrop {
    config: ResizedCropConfig,
}

fn check_range(v: [f64; 2], max: Option<f64>, key: &str, field: &str) -> Result<()> {
    let [lo, hi] = v;
    let fits = lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi;
    if fits && max.is_none_or(|m| hi <= m) {
        return Ok(());
    }
    let within = match max {
        Some(m) => format!("in (0, {m}]"),
        None => "positive".to_string(),
    };
    Err(Error::config(
        format!("{key}.{field}"),
        format!("must be [lo, hi] with lo <= hi, both {within}; got [{lo}, {hi}]"),
    ))
}

impl ResizedCrop {
    /// A crop with validated parameters.
    pub fn new(config: ResizedCropConfig, key: &str) -> Result<Self> {
        check_p(config.p, key)?;
        check_range(config.scale, Some(1.0), key, "scale")?;
        check_range(config.ratio, None, key, "ratio")?;
        Ok(ResizedCrop { config })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        ResizedCrop::new(ctx.parse(params)?, &ctx.key)
    }

    /// One sample's draws for an `h × w` image (see the module docs for the order); `None`
    /// when the sample does not fire.
    pub fn draw(&self, rng: &mut Rng, h: usize, w: usize) -> Option<CropBox> {
        let c = &self.config;
        let fire = rng.bernoulli(c.p);
        let share = rng.uniform_range(c.scale[0], c.scale[1]);
        let ratio = rng.uniform_range(c.ratio[0].ln(), c.ratio[1].ln()).exp();
        let (u_top, u_left) = (rng.uniform(), rng.uniform());
        let (hf, wf) = (h as f64, w as f64);
        let area = share * hf * wf;
        let width = (area * ratio).sqrt().min(wf);
        let height = (area / ratio).sqrt().min(hf);
        fire.then_some(CropBox {
            top: u_top * (hf - height),
            left: u_left * (wf - width),
            height,
            width,
        })
    }
}

impl Augmenter for ResizedCrop {
    fn has_host_path(&self) -> bool {
        true
    }

    fn augment_host(&self, images: &mut HostImages, rng: &mut Rng) -> Result<()> {
        let [n, _, h, w] = images.shape();
        let matrices: Vec<Option<[f64; 6]>> = (0..n)
            .map(|_| self.draw(rng, h, w).map(|b| b.grid_matrix(h, w)))
            .collect();
        crate::warp_matrices_host(images, &matrices);
        Ok(())
    }

    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        let [n, _, h, w] = images.dims();
        let draws: Vec<Option<CropBox>> = (0..n).map(|_| self.draw(rng, h, w)).collect();
        if draws.iter().all(Option::is_none) {
            return Ok(images);
        }
        let boxes: Vec<CropBox> = draws
            .iter()
            .map(|d| d.unwrap_or(CropBox::full(h, w)))
            .collect();
        let mask: Vec<f32> = draws
            .iter()
            .map(|d| f32::from(u8::from(d.is_some())))
            .collect();
        let m = crate::per_sample::column(mask, &images.device());
        let cropped = resize_crops(images.clone(), &boxes);
        // Samples that do not fire keep their pixels bit for bit.
        Ok(images.clone() + (cropped - images) * m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::burn::prelude::{Device, TensorData};

    fn pixels(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    fn op(p: f64, scale: [f64; 2], ratio: [f64; 2]) -> ResizedCrop {
        ResizedCrop::new(ResizedCropConfig { p, scale, ratio }, "a").expect("valid")
    }

    /// `n` one-channel `h × w` images; pixel (y, x) of sample s is `ramp(s, y, x)`.
    fn batch(n: usize, h: usize, w: usize, ramp: impl Fn(usize, f64, f64) -> f64) -> Tensor<4> {
        let v: Vec<f32> = (0..n * h * w)
            .map(|i| ramp(i / (h * w), ((i / w) % h) as f64, (i % w) as f64) as f32)
            .collect();
        Tensor::from_data(TensorData::new(v, [n, 1, h, w]), &Device::flex())
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| {
            Box::new(op(p, [0.08, 1.0], [3.0 / 4.0, 4.0 / 3.0]))
        });
    }

    #[test]
    fn the_whole_square_image_is_the_identity() {
        let x = batch(4, 6, 6, |s, y, x| (s as f64 * 36.0 + y * 6.0 + x) / 144.0);
        let v = pixels(x.clone());
        let out = pixels(
            op(1.0, [1.0, 1.0], [1.0, 1.0])
                .augment(x, &mut Rng::new(3))
                .expect("augment"),
        );
        for (a, b) in out.iter().zip(&v) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn a_known_box_maps_a_known_pixel_where_the_formula_says() {
        // A 3 × 3 box at (3, 3) of a 9 × 9 image, zoomed 3×: output pixel j samples
        // u = 3 + (j + ½)/3 − ½, so j = 3m + 1 lands exactly on input pixel 3 + m.
        let mut v = vec![0.0f32; 81];
        v[4 * 9 + 5] = 1.0;
        let x = Tensor::<4>::from_data(TensorData::new(v, [1, 1, 9, 9]), &Device::flex());
        let b = CropBox {
            top: 3.0,
            left: 3.0,
            height: 3.0,
            width: 3.0,
        };
        let out = pixels(resize_crops(x, &[b]));
        // Input (4, 5) = (3 + 1, 3 + 2): output (3·1 + 1, 3·2 + 1) = (4, 7).
        assert!((out[4 * 9 + 7] - 1.0).abs() < 1e-5, "{}", out[4 * 9 + 7]);
        let (mx, at) = out
            .iter()
            .enumerate()
            .fold((0.0, 0), |m, (i, &p)| if p > m.0 { (p, i) } else { m });
        assert_eq!((at, mx > 0.99), (4 * 9 + 7, true));
    }

    #[test]
    fn a_fractional_box_samples_a_ramp_where_the_formula_says() {
        // Bilinear sampling reproduces a linear ramp, so every output pixel is the ramp at
        // the formula's input coordinates (the box keeps half a pixel from the edges).
        let (h, w) = (7, 10);
        let ramp = |_s: usize, y: f64, x: f64| 0.05 * x + 0.08 * y + 0.1;
        let b = CropBox {
            top: 1.25,
            left: 2.5,
            height: 4.5,
            width: 3.75,
        };
        let out = pixels(resize_crops(batch(1, h, w, ramp), &[b]));
        for y in 0..h {
            for x in 0..w {
                let u = b.left + (x as f64 + 0.5) * b.width / w as f64 - 0.5;
                let t = b.top + (y as f64 + 0.5) * b.height / h as f64 - 0.5;
                let want = ramp(0, t, u) as f32;
                assert!(
                    (out[y * w + x] - want).abs() < 1e-4,
                    "({y}, {x}): {} vs {want}",
                    out[y * w + x]
                );
            }
        }
    }

    #[test]
    fn draws_are_fixed_in_number_and_boxes_fit() {
        let a = op(0.6, [0.08, 1.0], [0.5, 2.0]);
        let x = batch(10, 8, 12, |s, y, x| (s as f64 + y * 0.1 + x * 0.01) / 11.0);
        let out = pixels(a.augment(x.clone(), &mut Rng::new(7)).expect("augment"));
        assert_eq!(
            out,
            pixels(a.augment(x.clone(), &mut Rng::new(7)).expect("augment"))
        );
        // Replaying the draws gives the boxes the augmenter used.
        let mut rng = Rng::new(7);
        let draws: Vec<Option<CropBox>> = (0..10).map(|_| a.draw(&mut rng, 8, 12)).collect();
        assert!(draws.iter().any(Option::is_none) && draws.iter().any(Option::is_some));
        // Five draws per sample: the generator is where five uniforms each leave it.
        let mut five = Rng::new(7);
        for _ in 0..50 {
            five.uniform();
        }
        assert_eq!(rng.next_u64(), five.next_u64());
        for b in draws.iter().flatten() {
            assert!(b.top >= 0.0 && b.left >= 0.0);
            assert!(b.top + b.height <= 8.0 + 1e-9 && b.left + b.width <= 12.0 + 1e-9);
            assert!(b.height * b.width <= 96.0 + 1e-9);
        }
        let boxes: Vec<CropBox> = draws
            .iter()
            .map(|d| d.unwrap_or(CropBox::full(8, 12)))
            .collect();
        let want = pixels(resize_crops(x.clone(), &boxes));
        let v = pixels(x);
        for s in 0..10 {
            let got = &out[s * 96..(s + 1) * 96];
            if draws[s].is_some() {
                assert_eq!(got, &want[s * 96..(s + 1) * 96], "sample {s}");
            } else {
                assert_eq!(got, &v[s * 96..(s + 1) * 96], "sample {s} kept bit for bit");
            }
        }
    }

    #[test]
    fn bad_ranges_name_the_key() {
        let ctx = BuildContext::new(0).with_key("augment[3]");
        for (params, key) in [
            (
                serde_json::json!({ "scale": [0.9, 0.5] }),
                "augment[3].scale",
            ),
            (
                serde_json::json!({ "scale": [0.0, 0.5] }),
                "augment[3].scale",
            ),
            (
                serde_json::json!({ "scale": [0.5, 1.5] }),
                "augment[3].scale",
            ),
            (
                serde_json::json!({ "ratio": [0.0, 1.0] }),
                "augment[3].ratio",
            ),
            (
                serde_json::json!({ "ratio": [-1.0, 1.0] }),
                "augment[3].ratio",
            ),
            (
                serde_json::json!({ "ratio": [2.0, 1.0] }),
                "augment[3].ratio",
            ),
            (serde_json::json!({ "p": -0.1 }), "augment[3].p"),
        ] {
            let e = ResizedCrop::from_params(&params, &ctx)
                .expect_err("invalid")
                .to_string();
            assert!(e.contains(key), "{e}");
        }
        assert!(ResizedCrop::from_params(&serde_json::json!({ "scale": [0.5] }), &ctx).is_err());
    }
}
