use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::TensorData;
use kiln_core::{Augmenter, BuildContext, Error, Result, Rng};
use serde::Deserialize;

/// Parameters of [`GaussianNoise`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseConfig {
    /// Probability that a sample gets noise.
    pub p: f64,
    /// Standard deviation of the noise.
    pub sigma: f64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig { p: 0.5, sigma: 0.1 }
    }
}

/// Adds Gaussian noise to each sample with probability `p`. The noise is drawn from the
/// trainer's seeded generator (not the backend's), so runs are reproducible.
#[derive(Debug, Clone)]
pub struct GaussianNoise {
    config: NoiseConfig,
}

impl GaussianNoise {
    /// A noise augmenter with a validated config.
    pub fn new(config: NoiseConfig, key: &str) -> Result<Self> {
        if !(0.0..=1.0).contains(&config.p) {
            return Err(Error::config(
                format!("{key}.p"),
                format!("must be in [0, 1], got {}", config.p),
            ));
        }
        if !(config.sigma >= 0.0 && config.sigma.is_finite()) {
            return Err(Error::config(
                format!("{key}.sigma"),
                format!("must be >= 0, got {}", config.sigma),
            ));
        }
        Ok(GaussianNoise { config })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        GaussianNoise::new(ctx.parse(params)?, &ctx.key)
    }
}

impl Augmenter for GaussianNoise {
    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        let dims = images.dims();
        let per = dims[1] * dims[2] * dims[3];
        let mut noise = vec![0f32; dims[0] * per];
        let mut any = false;
        for sample in noise.chunks_mut(per) {
            if rng.bernoulli(self.config.p) {
                any = true;
                for x in sample.iter_mut() {
                    *x = (self.config.sigma * rng.normal()) as f32;
                }
            }
        }
        if !any || self.config.sigma == 0.0 {
            return Ok(images);
        }
        let device = images.device();
        Ok(images + Tensor::<4>::from_data(TensorData::new(noise, dims), &device))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| {
            Box::new(
                super::GaussianNoise::new(super::NoiseConfig { p, sigma: 0.2 }, "a")
                    .expect("valid"),
            )
        });
    }
}
