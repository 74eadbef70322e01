//! Geometric ops, batched: rotation, shear, scale and translation as one per-sample affine
//! warp on the device (`affine_grid_2d` + bilinear `grid_sample_2d`, zeros outside).
//!
//! Each sample draws its own transform. In pixel coordinates around the image centre the
//! forward map is `p ↦ R(θ)·Sh(φ)·S(s)·p + t` (rotation θ, horizontal shear φ, isotropic
//! scale s, translation t in pixels); the sampling grid is its inverse, expressed in the
//! normalised [-1, 1] coordinates of the grid so that non-square images rotate without
//! distortion.

use crate::per_sample::{check_p, check_strength};
use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::TensorData;
use kiln_core::burn::tensor::grid::affine_grid_2d;
use kiln_core::burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use kiln_core::{Augmenter, BuildContext, Error, HostImages, Result, Rng};
use serde::Deserialize;

/// One sample's transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Rotation, degrees (counter-clockwise on screen).
    pub degrees: f64,
    /// Horizontal shear, degrees.
    pub shear: f64,
    /// Isotropic scale.
    pub scale: f64,
    /// Translation as a share of the width and the height.
    pub translate: (f64, f64),
}

impl Transform {
    /// The identity.
    pub const IDENTITY: Transform = Transform {
        degrees: 0.0,
        shear: 0.0,
        scale: 1.0,
        translate: (0.0, 0.0),
    };

    /// The sampling matrix (output → input, normalised coordinates) for a `h × w` image.
    pub fn grid_matrix(&self, h: usize, w: usize) -> [f64; 6] {
        let (sx, sy) = (((w.max(2) - 1) as f64) / 2.0, ((h.max(2) - 1) as f64) / 2.0);
        let (t, f) = (self.degrees.to_radians(), self.shear.to_radians().tan());
        // Forward M = R · Sh · S in pixel coordinates, with y pointing down: a positive
        // angle turns the image counter-clockwise as seen.
        let (c, s) = (t.cos(), t.sin());
        let r = [[c, s], [-s, c]];
        let sh = [[1.0, f], [0.0, 1.0]];
        let m = mul(mul(r, sh), [[self.scale, 0.0], [0.0, self.scale]]);
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let inv = [
            [m[1][1] / det, -m[0][1] / det],
            [-m[1][0] / det, m[0][0] / det],
        ];
        let tp = (self.translate.0 * w as f64, self.translate.1 * h as f64);
        // q_norm = D⁻¹ M⁻¹ D p_norm − D⁻¹ M⁻¹ t, with D = diag(sx, sy).
        let a = [
            [inv[0][0], inv[0][1] * sy / sx],
            [inv[1][0] * sx / sy, inv[1][1]],
        ];
        let b = (
            -(inv[0][0] * tp.0 + inv[0][1] * tp.1) / sx,
            -(inv[1][0] * tp.0 + inv[1][1] * tp.1) / sy,
        );
        [a[0][0], a[0][1], b.0, a[1][0], a[1][1], b.1]
    }
}

fn mul(a: [[f64; 2]; 2], b: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    [
        [
            a[0][0] * b[0][0] + a[0][1] * b[1][0],
            a[0][0] * b[0][1] + a[0][1] * b[1][1],
        ],
        [
            a[1][0] * b[0][0] + a[1][1] * b[1][0],
            a[1][0] * b[0][1] + a[1][1] * b[1][1],
        ],
    ]
}

/// Warps, on the host, each sample of `images` whose entry in `matrices` is `Some`, through
/// that sampling matrix (as [`warp_matrices`] takes them); the rest keep their pixels.
pub fn warp_matrices_host(images: &mut HostImages, matrices: &[Option<[f64; 6]>]) {
    let [_, c, h, w] = images.shape();
    let mut warped = vec![0.0f32; c * h * w];
    let mut scratch = crate::warp_host::WarpScratch::default();
    for (sample, m) in images.samples_mut().zip(matrices) {
        if let Some(m) = m {
            crate::warp_host::warp_image(sample, &mut warped, (c, h, w), m, &mut scratch);
            sample.copy_from_slice(&warped);
        }
    }
}

/// Warps each image of `images` by its transform (bilinear, zeros outside).
pub fn warp(images: Tensor<4>, transforms: &[Transform]) -> Tensor<4> {
    let [_, _, h, w] = images.dims();
    let m: Vec<[f64; 6]> = transforms.iter().map(|t| t.grid_matrix(h, w)).collect();
    warp_matrices(images, &m)
}

/// Samples each image of `images` through its own sampling matrix (output → input in the
/// normalised [-1, 1] coordinates of the grid, corners aligned, row-major `[a, b, tx, c, d,
/// ty]`, as [`Transform::grid_matrix`] gives): bilinear, zeros outside. The one warp every
/// geometric op goes through.
pub fn warp_matrices(images: Tensor<4>, matrices: &[[f64; 6]]) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    let m: Vec<f32> = matrices.iter().flat_map(|t| t.map(|v| v as f32)).collect();
    let device = images.device();
    let theta = Tensor::<3>::from_data(TensorData::new(m, [n, 2, 3]), &device);
    let grid = affine_grid_2d(theta, [n, c, h, w]);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Zeros)
        .with_align_corners(true);
    images.grid_sample_2d(grid, options)
}

/// Parameters of [`Affine`]: the range of each part (0 turns it off).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AffineConfig {
    /// Probability that a sample is warped.
    pub p: f64,
    /// Rotation drawn in `[-degrees, degrees]`.
    pub degrees: f64,
    /// Shear drawn in `[-shear, shear]` degrees.
    pub shear: f64,
    /// Scale drawn in `[1 - scale, 1 + scale]`.
    pub scale: f64,
    /// Translation drawn in `[-translate, translate]` of the width and of the height.
    pub translate: f64,
}

impl Default for AffineConfig {
    fn default() -> Self {
        AffineConfig {
            p: 0.5,
            degrees: 0.0,
            shear: 0.0,
            scale: 0.0,
            translate: 0.0,
        }
    }
}

/// A general affine augmenter; `rotate`, `shear`, `scale` and `translate` are its presets.
#[derive(Debug, Clone)]
pub struct Affine {
    config: AffineConfig,
}

impl Affine {
    /// An augmenter with validated ranges.
    pub fn new(config: AffineConfig, key: &str) -> Result<Self> {
        check_p(config.p, key)?;
        check_strength(config.degrees, 180.0, key, "degrees")?;
        check_strength(config.shear, 60.0, key, "shear")?;
        check_strength(config.scale, 0.9, key, "scale")?;
        check_strength(config.translate, 0.5, key, "translate")?;
        Ok(Affine { config })
    }

    /// Builds from parameters; `preset` names the one part a preset kind sets (its
    /// parameter is `degrees`, `shear`, `scale` or `translate`), `None` for `affine`.
    pub fn from_params(
        params: &serde_json::Value,
        ctx: &BuildContext,
        preset: Option<&str>,
    ) -> Result<Self> {
        let c: AffineConfig = ctx.parse(params)?;
        if let Some(part) = preset {
            let set = [
                ("degrees", c.degrees),
                ("shear", c.shear),
                ("scale", c.scale),
                ("translate", c.translate),
            ];
            if let Some((other, _)) = set.iter().find(|(k, v)| *k != part && *v != 0.0) {
                return Err(Error::config(
                    format!("{}.{other}", ctx.key),
                    format!("this augmenter only takes `{part}` (use `affine` to combine)"),
                ));
            }
        }
        Affine::new(c, &ctx.key)
    }

    fn draw(&self, rng: &mut Rng) -> (bool, Transform) {
        let c = &self.config;
        let fire = rng.bernoulli(c.p);
        let mut sym = |v: f64| rng.uniform_range(-v, v);
        let t = Transform {
            degrees: sym(c.degrees),
            shear: sym(c.shear),
            scale: 1.0 + sym(c.scale),
            translate: (sym(c.translate), sym(c.translate)),
        };
        (fire, t)
    }
}

impl Augmenter for Affine {
    fn has_host_path(&self) -> bool {
        true
    }

    fn augment_host(&self, images: &mut HostImages, rng: &mut Rng) -> Result<()> {
        let [n, _, h, w] = images.shape();
        let matrices: Vec<Option<[f64; 6]>> = (0..n)
            .map(|_| {
                let (fire, t) = self.draw(rng);
                fire.then(|| t.grid_matrix(h, w))
            })
            .collect();
        warp_matrices_host(images, &matrices);
        Ok(())
    }

    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        let [n, _, _, _] = images.dims();
        let draws: Vec<(bool, Transform)> = (0..n).map(|_| self.draw(rng)).collect();
        if !draws.iter().any(|d| d.0) {
            return Ok(images);
        }
        let transforms: Vec<Transform> = draws
            .iter()
            .map(|&(fire, t)| if fire { t } else { Transform::IDENTITY })
            .collect();
        let warped = warp(images.clone(), &transforms);
        // When every sample fires (p = 1) there is nothing to keep: skip the blend, three
        // full-size tensor passes.
        if draws.iter().all(|d| d.0) {
            return Ok(warped);
        }
        let mask: Vec<f32> = draws.iter().map(|d| f32::from(u8::from(d.0))).collect();
        let m = crate::per_sample::column(mask, &images.device());
        // Unwarped samples keep their pixels bit for bit.
        Ok(images.clone() + (warped - images) * m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::burn::prelude::Device;

    fn image(h: usize, w: usize) -> (Tensor<4>, Vec<f32>) {
        let v: Vec<f32> = (0..h * w).map(|i| i as f32 / (h * w) as f32).collect();
        (
            Tensor::from_data(TensorData::new(v.clone(), [1, 1, h, w]), &Device::flex()),
            v,
        )
    }

    fn pixels(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| {
            let c = AffineConfig {
                p,
                degrees: 15.0,
                shear: 10.0,
                scale: 0.1,
                translate: 0.1,
            };
            Box::new(Affine::new(c, "a").expect("valid"))
        });
    }

    #[test]
    fn the_identity_and_a_quarter_turn_are_exact() {
        let (x, v) = image(5, 5);
        let same = pixels(warp(x.clone(), &[Transform::IDENTITY]));
        for (a, b) in same.iter().zip(&v) {
            assert!((a - b).abs() < 1e-5);
        }
        let turn = Transform {
            degrees: 90.0,
            ..Transform::IDENTITY
        };
        let out = pixels(warp(x, &[turn]));
        // Counter-clockwise: the top-right corner goes to the top-left.
        for y in 0..5 {
            for xx in 0..5 {
                let expected = v[xx * 5 + (4 - y)];
                assert!(
                    (out[y * 5 + xx] - expected).abs() < 1e-5,
                    "({y}, {xx}): {} vs {expected}",
                    out[y * 5 + xx]
                );
            }
        }
    }

    #[test]
    fn shear_and_translation_move_a_pixel_where_the_matrix_says() {
        // One bright pixel at (row 1, column 3) of a 7 × 9 image.
        let (h, w) = (7, 9);
        let mut v = vec![0.0f32; h * w];
        v[w + 3] = 1.0;
        let x = Tensor::<4>::from_data(TensorData::new(v, [1, 1, h, w]), &Device::flex());
        // Shear by atan(0.5): x' = x + 0.5·y (around the centre (4, 3)), then translate
        // by two pixels right (2/9 of the width): it lands on (row 1, column 4).
        let t = Transform {
            shear: 0.5f64.atan().to_degrees(),
            translate: (2.0 / 9.0, 0.0),
            ..Transform::IDENTITY
        };
        let out = pixels(warp(x, &[t]));
        let (cx, cy) = (4.0, 3.0);
        let (px, py) = (3.0 - cx, 1.0 - cy);
        let (qx, qy) = (px + 0.5 * py + 2.0 + cx, py + cy);
        assert_eq!((qx, qy), (4.0, 1.0));
        let at = (qy as usize) * w + qx as usize;
        assert!(
            (out[at] - 1.0).abs() < 1e-4,
            "pixel at {qx}, {qy}: {}",
            out[at]
        );
        assert!(
            (out.iter().sum::<f32>() - 1.0).abs() < 1e-4,
            "nothing else lit"
        );
    }

    #[test]
    fn a_preset_refuses_other_parts() {
        let ctx = BuildContext::new(0).with_key("augment[0]");
        let e = Affine::from_params(
            &serde_json::json!({ "degrees": 10, "shear": 5 }),
            &ctx,
            Some("degrees"),
        )
        .expect_err("rotate takes only degrees")
        .to_string();
        assert!(e.contains("augment[0].shear"), "{e}");
    }
}
