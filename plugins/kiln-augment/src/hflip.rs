use kiln_core::burn::Tensor;
use kiln_core::{Augmenter, BuildContext, Error, HostImages, Result, Rng};
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

/// Horizontal flip, batched: each sample takes its mirrored or its original image by its own
/// draw, in one copy of the batch on the device.
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
        let flip: Vec<bool> = (0..n).map(|_| rng.bernoulli(self.p)).collect();
        if !flip.iter().any(|&f| f) {
            return Ok(images);
        }
        // Each sample is its own image or its mirror, joined in one copy: blending the
        // whole batch with its mirror through a 0/1 mask took three full passes.
        let parts = flip
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                let sample = images.clone().narrow(0, i, 1);
                if f { sample.flip([3]) } else { sample }
            })
            .collect();
        Ok(Tensor::cat(parts, 0))
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn augment_host(&self, images: &mut HostImages, rng: &mut Rng) -> Result<()> {
        let w = images.shape()[3].max(1);
        let flip: Vec<bool> = (0..images.len()).map(|_| rng.bernoulli(self.p)).collect();
        for (sample, _) in images.samples_mut().zip(&flip).filter(|(_, f)| **f) {
            sample.chunks_exact_mut(w).for_each(<[f32]>::reverse);
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
        kiln_core::testing::check_augmenter(|p| Box::new(super::HFlip::new(p).expect("valid")));
    }

    #[test]
    fn each_sample_is_itself_or_its_exact_mirror() {
        // 16 samples of 2 channels × 2 rows × 3 columns, every value distinct.
        let (n, len) = (16, 12);
        let v: Vec<f32> = (0..n * len).map(|i| i as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(v.clone(), [n, 2, 2, 3]), &Device::flex());
        let out = HFlip::new(0.5)
            .expect("valid")
            .augment(x, &mut Rng::new(4))
            .expect("augment")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let mut flipped = 0;
        for s in 0..n {
            let (a, b) = (&v[s * len..(s + 1) * len], &out[s * len..(s + 1) * len]);
            let mirror: Vec<f32> = a.chunks(3).flat_map(|r| r.iter().rev().copied()).collect();
            if b == mirror.as_slice() {
                flipped += 1;
            } else {
                assert_eq!(a, b, "sample {s} is neither itself nor its mirror");
            }
        }
        assert!((1..n).contains(&flipped), "{flipped} of {n} flipped");
    }
}
