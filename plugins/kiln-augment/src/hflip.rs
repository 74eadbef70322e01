use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::TensorData;
use kiln_core::{Augmenter, BuildContext, Error, Result, Rng};
use serde::Deserialize;

/// Parameters of [`HFlip`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HFlipConfig {
    /// Probability that a sample is mirrored.
    pub p: f64,
}

impl Default for HFlipConfig {
    fn default() -> Self {
        HFlipConfig { p: 0.5 }
    }
}

/// Horizontal flip, batched: the whole batch is mirrored once on the device and each sample
/// takes the mirrored or the original image by its own draw.
#[derive(Debug, Clone)]
pub struct HFlip {
    p: f64,
}

impl HFlip {
    /// A flip with probability `p` in `[0, 1]`.
    pub fn new(p: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::config("p", format!("must be in [0, 1], got {p}")));
        }
        Ok(HFlip { p })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: HFlipConfig = ctx.parse(params)?;
        HFlip::new(c.p).map_err(|e| Error::config(format!("{}.p", ctx.key), e.to_string()))
    }
}

impl Augmenter for HFlip {
    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        let [n, _, _, _] = images.dims();
        let mask: Vec<f32> = (0..n)
            .map(|_| f32::from(u8::from(rng.bernoulli(self.p))))
            .collect();
        if mask.iter().all(|&m| m == 0.0) {
            return Ok(images);
        }
        let device = images.device();
        let m = Tensor::<4>::from_data(TensorData::new(mask, [n, 1, 1, 1]), &device);
        let flipped = images.clone().flip([3]);
        Ok(flipped * m.clone() + images * (m.neg() + 1.0))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| Box::new(super::HFlip::new(p).expect("valid")));
    }
}
