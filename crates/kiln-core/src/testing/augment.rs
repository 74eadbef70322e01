use crate::{Augmenter, Rng};
use burn::Tensor;
use burn::prelude::{Device, TensorData};

/// The [`Augmenter`] contract: shape kept, deterministic for the same generator state,
/// different samples drawn independently. `make(probability)` builds the augmenter with
/// every op at that probability; probability 0 must be the identity.
pub fn check_augmenter(make: impl Fn(f64) -> Box<dyn Augmenter>) {
    let device = Device::flex();
    let (n, c, h, w) = (16, 1, 8, 8);
    let pixels: Vec<f32> = (0..n * c * h * w)
        .map(|i| ((i * 37) % 101) as f32 / 100.0)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [n, c, h, w]), &device);

    let id = make(0.0)
        .augment(x.clone(), &mut Rng::new(1))
        .expect("augment");
    let out: Vec<f32> = id.into_data().try_to_vec::<f32>().expect("f32");
    assert_eq!(out, pixels, "probability 0 changed the images");

    let aug = make(0.5);
    let a = aug.augment(x.clone(), &mut Rng::new(4)).expect("augment");
    assert_eq!(a.dims(), [n, c, h, w], "the shape changed");
    let b = aug.augment(x, &mut Rng::new(4)).expect("augment");
    let va: Vec<f32> = a.into_data().try_to_vec::<f32>().expect("f32");
    let vb: Vec<f32> = b.into_data().try_to_vec::<f32>().expect("f32");
    assert_eq!(va, vb, "same generator state, different output");
    let per = c * h * w;
    let changed = (0..n)
        .filter(|&i| va[i * per..(i + 1) * per] != pixels[i * per..(i + 1) * per])
        .count();
    assert!(
        changed > 0 && changed < n,
        "at probability 0.5, {changed} of {n} samples changed: draws are not per sample"
    );
}
