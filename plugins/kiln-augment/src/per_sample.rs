//! What the batched ops share: one draw per sample, applied on the device as a `[n, 1, 1, 1]`
//! tensor of factors, and the `p` check.

use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::{Device, TensorData};
use kiln_core::{Error, Result, Rng};

/// Checks a probability, naming `{key}.p`.
pub fn check_p(p: f64, key: &str) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::config(
            format!("{key}.p"),
            format!("must be in [0, 1], got {p}"),
        ))
    }
}

/// Checks a strength in `[0, max]`, naming `{key}.{field}`.
pub fn check_strength(v: f64, max: f64, key: &str, field: &str) -> Result<()> {
    if v.is_finite() && (0.0..=max).contains(&v) {
        Ok(())
    } else {
        Err(Error::config(
            format!("{key}.{field}"),
            format!("must be in [0, {max}], got {v}"),
        ))
    }
}

/// One value per sample: `draw` where the sample's Bernoulli(`p`) fires, else `identity`.
/// Every sample takes its Bernoulli draw and then its value draw, in order, so the stream
/// does not depend on which samples fire. `None` when no sample fires.
pub fn per_sample(
    n: usize,
    p: f64,
    rng: &mut Rng,
    identity: f32,
    mut draw: impl FnMut(&mut Rng) -> f32,
) -> Option<Vec<f32>> {
    let mut any = false;
    let values = (0..n)
        .map(|_| {
            let fire = rng.bernoulli(p);
            let v = draw(rng);
            any |= fire;
            if fire { v } else { identity }
        })
        .collect();
    any.then_some(values)
}

/// `values` as a `[n, 1, 1, 1]` tensor on `device`, to broadcast over a batch.
pub fn column(values: Vec<f32>, device: &Device) -> Tensor<4> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n, 1, 1, 1]), device)
}
