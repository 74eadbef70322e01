//! What mixup and cutmix share: the `p`/`alpha` parameters, the Beta draw, the partner
//! permutation and the label blend.
//!
//! Both ops pair every sample `i` with a partner `perm[i]` (one permutation per batch) and
//! give it a weight `λᵢ` of its own label; `1 - λᵢ` goes to the partner's label. A sample
//! whose Bernoulli(`p`) does not fire keeps `λᵢ = 1`, i.e. itself.

use crate::per_sample::check_p;
use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::{Device, Int, TensorData};
use kiln_core::{Batch, Error, Result, Rng, Targets};

/// Parameters of [`Mixup`](crate::Mixup) and [`CutMix`](crate::CutMix); each op's config
/// (with its own defaults) converts into this.
#[derive(Debug, Clone, Copy)]
pub struct MixConfig {
    /// Probability that a sample is mixed with its partner.
    pub p: f64,
    /// Both shape parameters of the `Beta(alpha, alpha)` that the mixing weight is drawn
    /// from: small values keep most samples close to one of the two, 1 is uniform.
    pub alpha: f64,
}

impl MixConfig {
    /// Checks `p` and `alpha`, naming `{key}.p` / `{key}.alpha`.
    pub fn validate(&self, key: &str) -> Result<()> {
        check_p(self.p, key)?;
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha <= MAX_ALPHA) {
            return Err(Error::config(
                format!("{key}.alpha"),
                format!("must be in (0, {MAX_ALPHA}], got {}", self.alpha),
            ));
        }
        Ok(())
    }
}

/// Past this, `Beta(alpha, alpha)` is a spike at 0.5; larger values only slow the draw.
const MAX_ALPHA: f64 = 100.0;

/// One sample's draw: whether it fires and its weight `λ`. The Beta draw is a rejection
/// sampler with a variable number of draws, so it runs on its own generator seeded from one
/// draw of the batch stream: every sample then takes the same number of batch draws.
pub fn draw_weight(p: f64, alpha: f64, rng: &mut Rng) -> (bool, f64) {
    let fire = rng.bernoulli(p);
    let mut own = Rng::new(rng.next_u64());
    (fire, beta(alpha, &mut own))
}

/// A draw from `Beta(a, a)` as `X / (X + Y)` with `X, Y ~ Gamma(a)`.
pub fn beta(a: f64, rng: &mut Rng) -> f64 {
    let x = gamma(a, rng);
    let y = gamma(a, rng);
    if x + y > 0.0 { x / (x + y) } else { 0.5 }
}

/// A draw from `Gamma(a, 1)`, Marsaglia & Tsang (2000); for `a < 1`, boosted from `a + 1`
/// by `U^(1/a)`.
fn gamma(a: f64, rng: &mut Rng) -> f64 {
    if a < 1.0 {
        let u = 1.0 - rng.uniform(); // (0, 1]
        return gamma(a + 1.0, rng) * u.powf(1.0 / a);
    }
    let d = a - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.normal();
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.uniform();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// The batch's partner permutation, drawn after the per-sample draws.
pub fn partners(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut perm);
    perm
}

/// `perm` as an index tensor on `device`, for `select`.
pub fn index(perm: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = perm.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(v, [perm.len()]), device)
}

/// What an op's mixing step gives: the mixed images, each sample's own label weight and the
/// partners; `None` when no sample fires.
pub type Mixed = Option<(Tensor<4>, Vec<f32>, Vec<usize>)>;

/// The images of a mixing step (the batch's own when none fired).
pub fn images_of(mixed: Mixed, images: Tensor<4>) -> Tensor<4> {
    mixed.map_or(images, |(m, _, _)| m)
}

/// The batch after a mixing step: mixed images and blended targets (unchanged, class labels
/// and all, when none fired).
pub fn batch_of(mixed: Mixed, batch: Batch) -> Result<Batch> {
    match mixed {
        Some((images, weights, perm)) => blend_targets(batch, images, &weights, &perm),
        None => Ok(batch),
    }
}

/// The batch with `images` in place of its images and targets blended as
/// `λᵢ·tᵢ + (1 - λᵢ)·t[perm[i]]`.
pub fn blend_targets(
    batch: Batch,
    images: Tensor<4>,
    weights: &[f32],
    perm: &[usize],
) -> Result<Batch> {
    let soft = batch.soft_targets()?;
    let device = soft.device();
    let n = weights.len();
    let w = Tensor::<2>::from_data(TensorData::new(weights.to_vec(), [n, 1]), &device);
    let partner = soft.clone().select(0, index(perm, &device));
    let mixed = soft * w.clone() + partner * (w.neg() + 1.0);
    Ok(Batch {
        images,
        targets: Targets::Soft(mixed),
        classes: batch.classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(a: f64) -> (f64, f64) {
        let mut rng = Rng::new(11);
        let n = 40_000;
        let draws: Vec<f64> = (0..n).map(|_| beta(a, &mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(draws.iter().all(|d| (0.0..=1.0).contains(d)));
        (mean, var)
    }

    #[test]
    fn beta_draws_have_the_closed_form_mean_and_variance() {
        // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)).
        for a in [0.2, 0.4, 1.0, 2.0, 8.0] {
            let (mean, var) = moments(a);
            let want = 1.0 / (4.0 * (2.0 * a + 1.0));
            assert!((mean - 0.5).abs() < 0.01, "alpha {a}: mean {mean}");
            assert!(
                (var - want).abs() < 0.05 * want,
                "alpha {a}: var {var}, want {want}"
            );
        }
    }

    #[test]
    fn every_sample_takes_the_same_number_of_batch_draws() {
        let (mut a, mut b) = (Rng::new(5), Rng::new(5));
        draw_weight(0.5, 0.3, &mut a);
        draw_weight(0.5, 50.0, &mut b);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn bad_alpha_is_named() {
        let c = MixConfig { p: 1.0, alpha: 0.0 };
        let e = c.validate("augment[2]").expect_err("alpha 0").to_string();
        assert!(e.contains("augment[2].alpha"), "{e}");
    }
}
