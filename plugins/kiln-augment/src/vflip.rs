use crate::per_sample::{check_p, column, per_sample};
use kiln_core::burn::Tensor;
use kiln_core::{Augmenter, BuildContext, HostImages, Result, Rng};

/// Vertical flip, batched like [`crate::HFlip`]: the batch is flipped once on the device and
/// each sample takes the flipped or the original image by its own draw.
#[derive(Debug, Clone)]
pub struct VFlip {
    p: f64,
}

impl VFlip {
    /// A flip with probability `p`.
    pub fn new(p: f64, key: &str) -> Result<Self> {
        check_p(p, key)?;
        Ok(VFlip { p })
    }

    /// Builds from config parameters (`p`, default 0.5).
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: crate::HFlipConfig = ctx.parse(params)?;
        VFlip::new(c.p, &ctx.key)
    }
}

impl Augmenter for VFlip {
    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        let [n, _, _, _] = images.dims();
        let Some(mask) = per_sample(n, self.p, rng, 0.0, |_| 1.0) else {
            return Ok(images);
        };
        let m = column(mask, &images.device());
        let flipped = images.clone().flip([2]);
        Ok(flipped * m.clone() + images * (m.neg() + 1.0))
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn augment_host(&self, images: &mut HostImages, rng: &mut Rng) -> Result<()> {
        let [n, _, h, w] = images.shape();
        let Some(mask) = per_sample(n, self.p, rng, 0.0, |_| 1.0) else {
            return Ok(());
        };
        let plane = (h * w).max(1);
        for (sample, _) in images.samples_mut().zip(&mask).filter(|(_, m)| **m == 1.0) {
            for channel in sample.chunks_exact_mut(plane) {
                for y in 0..h / 2 {
                    let (top, bottom) = channel.split_at_mut((h - 1 - y) * w);
                    top[y * w..(y + 1) * w].swap_with_slice(&mut bottom[..w]);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::burn::prelude::{Device, TensorData};

    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| Box::new(VFlip::new(p, "a").expect("valid")));
    }

    #[test]
    fn flips_rows_exactly() {
        let v: Vec<f32> = (0..6).map(|i| i as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(v, [1, 1, 3, 2]), &Device::flex());
        let out: Vec<f32> = VFlip::new(1.0, "a")
            .expect("valid")
            .augment(x, &mut Rng::new(1))
            .expect("augment")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        assert_eq!(out, vec![4.0, 5.0, 2.0, 3.0, 0.0, 1.0]);
    }
}
