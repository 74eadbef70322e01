use crate::mix::{MixConfig, Mixed, batch_of, draw_weight, images_of, index, partners};
use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::TensorData;
use kiln_core::{Augmenter, Batch, BuildContext, Result, Rng};
use serde::Deserialize;

/// Parameters of [`Mixup`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MixupConfig {
    /// Probability that a sample is mixed with its partner.
    pub p: f64,
    /// The mixing weight is drawn from `Beta(alpha, alpha)`.
    pub alpha: f64,
}

impl Default for MixupConfig {
    fn default() -> Self {
        MixupConfig { p: 1.0, alpha: 0.2 }
    }
}

/// Mixup (Zhang et al., 2018): each sample becomes `λ·x + (1 - λ)·x'` with a partner `x'`
/// from the same batch, and its label the same blend of the two labels. `λ ~ Beta(α, α)` per
/// sample (the paper draws one per batch; one per sample gives the same expectation with less
/// variance between batches). Defaults `p = 1`, `alpha = 0.2`, as the paper uses on ImageNet.
///
/// Draws, in order: for every sample a Bernoulli(`p`) and one seed for its Beta draw, then
/// one partner permutation for the batch.
#[derive(Debug, Clone)]
pub struct Mixup {
    config: MixConfig,
}

impl Mixup {
    /// A mixup with validated parameters.
    pub fn new(config: MixupConfig, key: &str) -> Result<Self> {
        let config = MixConfig {
            p: config.p,
            alpha: config.alpha,
        };
        config.validate(key)?;
        Ok(Mixup { config })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        Mixup::new(ctx.parse(params)?, &ctx.key)
    }

    /// Mixes the images with their partners.
    fn mix(&self, images: Tensor<4>, rng: &mut Rng) -> Mixed {
        let n = images.dims()[0];
        let mut any = false;
        let weights: Vec<f32> = (0..n)
            .map(|_| {
                let (fire, lambda) = draw_weight(self.config.p, self.config.alpha, rng);
                any |= fire;
                if fire { lambda as f32 } else { 1.0 }
            })
            .collect();
        let perm = partners(n, rng);
        if !any {
            return None;
        }
        let device = images.device();
        let w = Tensor::<4>::from_data(TensorData::new(weights.clone(), [n, 1, 1, 1]), &device);
        let partner = images.clone().select(0, index(&perm, &device));
        let mixed = images * w.clone() + partner * (w.neg() + 1.0);
        Some((mixed, weights, perm))
    }
}

impl Augmenter for Mixup {
    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        Ok(images_of(self.mix(images.clone(), rng), images))
    }

    fn augment_batch(&self, batch: Batch, rng: &mut Rng) -> Result<Batch> {
        batch_of(self.mix(batch.images.clone(), rng), batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix::blend_targets;
    use kiln_core::Targets;
    use kiln_core::burn::prelude::{Device, Int};

    fn batch(n: usize) -> Batch {
        let device = Device::flex();
        // Sample i is the constant image i / n, label i % 3.
        let pixels: Vec<f32> = (0..n)
            .flat_map(|i| std::iter::repeat_n(i as f32 / n as f32, 4))
            .collect();
        let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
        Batch {
            images: Tensor::from_data(TensorData::new(pixels, [n, 1, 2, 2]), &device),
            targets: Targets::Labels(Tensor::<1, Int>::from_data(
                TensorData::new(labels, [n]),
                &device,
            )),
            classes: 3,
        }
    }

    fn mixup(p: f64, alpha: f64) -> Mixup {
        Mixup::new(MixupConfig { p, alpha }, "a").expect("valid")
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| Box::new(mixup(p, 1.0)));
        kiln_core::testing::check_label_mixing(|p| Box::new(mixup(p, 1.0)));
    }

    #[test]
    fn images_and_labels_take_the_drawn_weight_of_the_drawn_partner() {
        let n = 12;
        let seed = 9;
        let out = mixup(1.0, 1.0)
            .augment_batch(batch(n), &mut Rng::new(seed))
            .expect("mix");
        // Replay the documented draw order to get each sample's λ and partner.
        let mut rng = Rng::new(seed);
        let lambdas: Vec<f64> = (0..n).map(|_| draw_weight(1.0, 1.0, &mut rng).1).collect();
        let perm = partners(n, &mut rng);
        let images: Vec<f32> = out.images.into_data().try_to_vec::<f32>().expect("f32");
        let Targets::Soft(t) = out.targets else {
            panic!("mixup gives soft targets")
        };
        let t: Vec<f32> = t.into_data().try_to_vec::<f32>().expect("f32");
        for i in 0..n {
            let (l, j) = (lambdas[i] as f32, perm[i]);
            let want = l * i as f32 / n as f32 + (1.0 - l) * j as f32 / n as f32;
            assert!((images[i * 4] - want).abs() < 1e-6, "sample {i}");
            let mut row = [0.0f32; 3];
            row[i % 3] += l;
            row[j % 3] += 1.0 - l;
            for c in 0..3 {
                assert!(
                    (t[i * 3 + c] - row[c]).abs() < 1e-6,
                    "sample {i}, class {c}"
                );
            }
        }
    }

    #[test]
    fn a_weight_of_one_is_the_identity() {
        // Beta(α, α) concentrates at 0 and 1 as α → 0; with every λ = 1 nothing changes, so
        // check the closed form directly on the blend.
        let b = batch(4);
        let out =
            blend_targets(b.clone(), b.images.clone(), &[1.0; 4], &[3, 2, 1, 0]).expect("blend");
        let Targets::Soft(t) = out.targets else {
            panic!("soft")
        };
        let want = b.soft_targets().expect("one-hot");
        let (t, want): (Vec<f32>, Vec<f32>) = (
            t.into_data().try_to_vec::<f32>().expect("f32"),
            want.into_data().try_to_vec::<f32>().expect("f32"),
        );
        assert_eq!(t, want);
    }
}
