use crate::per_sample::{check_p, check_strength};
use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::TensorData;
use kiln_core::{Augmenter, BuildContext, HostImages, Result, Rng};
use serde::Deserialize;

/// Parameters of [`Cutout`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CutoutConfig {
    /// Probability that a sample gets a hole.
    pub p: f64,
    /// Side of the square hole as a share of the image's shorter side.
    pub size: f64,
    /// What the hole is filled with.
    pub fill: f64,
}

impl Default for CutoutConfig {
    fn default() -> Self {
        CutoutConfig {
            p: 0.5,
            size: 0.25,
            fill: 0.0,
        }
    }
}

/// Cutout / random erasing (DeVries & Taylor, 2017): a square of `size` × the shorter side,
/// at a uniformly drawn position fully inside the image, set to `fill` in every channel.
/// The per-sample masks are built on the host and applied on the device in one multiply.
#[derive(Debug, Clone)]
pub struct Cutout {
    config: CutoutConfig,
}

impl Cutout {
    /// A cutout with validated parameters.
    pub fn new(config: CutoutConfig, key: &str) -> Result<Self> {
        check_p(config.p, key)?;
        check_strength(config.size, 1.0, key, "size")?;
        check_strength(config.fill, 1.0, key, "fill")?;
        Ok(Cutout { config })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        Cutout::new(ctx.parse(params)?, &ctx.key)
    }
}

impl Cutout {
    /// Each sample's hole `(top, left, side)`, `None` where it does not fire; every sample
    /// draws its Bernoulli and both positions, in that order.
    fn holes(
        &self,
        n: usize,
        h: usize,
        w: usize,
        rng: &mut Rng,
    ) -> Vec<Option<(usize, usize, usize)>> {
        let side = ((h.min(w) as f64) * self.config.size).round() as usize;
        (0..n)
            .map(|_| {
                let fire = rng.bernoulli(self.config.p);
                let top = rng.below((h - side.min(h) + 1) as u64) as usize;
                let left = rng.below((w - side.min(w) + 1) as u64) as usize;
                (fire && side > 0).then_some((top, left, side))
            })
            .collect()
    }
}

impl Augmenter for Cutout {
    fn has_host_path(&self) -> bool {
        true
    }

    fn augment_host(&self, images: &mut HostImages, rng: &mut Rng) -> Result<()> {
        let [n, _, h, w] = images.shape();
        let holes = self.holes(n, h, w, rng);
        let fill = self.config.fill as f32;
        for (sample, hole) in images.samples_mut().zip(holes) {
            let Some((top, left, side)) = hole else {
                continue;
            };
            for plane in sample.chunks_exact_mut((h * w).max(1)) {
                for row in plane.chunks_exact_mut(w).skip(top).take(side) {
                    row[left..(left + side).min(w)].fill(fill);
                }
            }
        }
        Ok(())
    }

    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        let [n, _, h, w] = images.dims();
        let mut keep = vec![1.0f32; n * h * w];
        let mut any = false;
        for (s, hole) in self.holes(n, h, w, rng).into_iter().enumerate() {
            let Some((top, left, side)) = hole else {
                continue;
            };
            any = true;
            for y in top..(top + side).min(h) {
                for x in left..(left + side).min(w) {
                    keep[s * h * w + y * w + x] = 0.0;
                }
            }
        }
        if !any {
            return Ok(images);
        }
        let m = Tensor::<4>::from_data(TensorData::new(keep, [n, 1, h, w]), &images.device());
        let hole = (m.clone().neg() + 1.0) * self.config.fill;
        Ok(images * m + hole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::burn::prelude::Device;

    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| {
            Box::new(
                Cutout::new(
                    CutoutConfig {
                        p,
                        ..CutoutConfig::default()
                    },
                    "a",
                )
                .expect("valid"),
            )
        });
    }

    #[test]
    fn cuts_one_square_of_the_given_side() {
        let x = Tensor::<4>::ones([3, 2, 8, 8], &Device::flex());
        let c = CutoutConfig {
            p: 1.0,
            size: 0.25,
            fill: 0.0,
        };
        let out: Vec<f32> = Cutout::new(c, "a")
            .expect("valid")
            .augment(x, &mut Rng::new(3))
            .expect("augment")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        for s in 0..3 {
            for ch in 0..2 {
                let plane = &out[(s * 2 + ch) * 64..(s * 2 + ch + 1) * 64];
                assert_eq!(plane.iter().filter(|&&v| v == 0.0).count(), 4, "a 2×2 hole");
            }
        }
    }
}
