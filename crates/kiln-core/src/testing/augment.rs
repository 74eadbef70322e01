use crate::{Augmenter, Batch, HostImages, Rng, Targets};
use burn::Tensor;
use burn::prelude::{Device, Int, TensorData};

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
    check_host_path(&make);
}

/// When the augmenter has a host path: from the same generator state it gives the same
/// images as the tensor path (to 1e-4) and leaves the generator in the same state, on one-
/// and three-channel batches of non-square images, at probabilities 0, 0.5 and 1.
pub fn check_host_path(make: &impl Fn(f64) -> Box<dyn Augmenter>) {
    let device = Device::flex();
    for p in [0.0, 0.5, 1.0] {
        let aug = make(p);
        if !aug.has_host_path() {
            return;
        }
        for (n, c, h, w) in [(9, 1, 7, 10), (6, 3, 12, 9)] {
            let pixels: Vec<f32> = (0..n * c * h * w)
                .map(|i| ((i * 53) % 97) as f32 / 96.0)
                .collect();
            let x = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [n, c, h, w]), &device);
            let (mut r_tensor, mut r_host) = (Rng::new(11), Rng::new(11));
            let on_tensor: Vec<f32> = aug
                .augment(x, &mut r_tensor)
                .expect("augment")
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32");
            let mut host = HostImages::new(pixels, [n, c, h, w]).expect("shape");
            aug.augment_host(&mut host, &mut r_host)
                .expect("augment_host");
            assert_eq!(
                host.shape(),
                [n, c, h, w],
                "the host path changed the shape"
            );
            for (i, (a, b)) in on_tensor.iter().zip(host.pixels()).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4,
                    "p {p}, [{n}, {c}, {h}, {w}] at {i}: tensor path {a}, host path {b}"
                );
            }
            assert_eq!(
                r_tensor.next_u64(),
                r_host.next_u64(),
                "p {p}: the host path drew a different number of values"
            );
        }
    }
}

/// The contract of a label-mixing [`Augmenter`] (mixup, cutmix): at probability 0 the batch
/// passes unchanged with its class labels; otherwise the targets become probability rows
/// `[batch, classes]` (non-negative, each summing to 1), deterministically, and `augment`
/// gives the same images as `augment_batch` from the same generator state.
pub fn check_label_mixing(make: impl Fn(f64) -> Box<dyn Augmenter>) {
    let device = Device::flex();
    let (n, c, h, w, classes) = (16, 1, 8, 8, 5);
    let pixels: Vec<f32> = (0..n * c * h * w)
        .map(|i| ((i * 37) % 101) as f32 / 100.0)
        .collect();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % classes as i64).collect();
    let batch = || Batch {
        images: Tensor::<4>::from_data(TensorData::new(pixels.clone(), [n, c, h, w]), &device),
        targets: Targets::Labels(Tensor::<1, Int>::from_data(
            TensorData::new(labels.clone(), [n]),
            &device,
        )),
        classes,
    };
    let floats = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32");

    let same = make(0.0)
        .augment_batch(batch(), &mut Rng::new(1))
        .expect("augment_batch");
    assert_eq!(
        floats(same.images),
        pixels,
        "probability 0 changed the images"
    );
    assert!(
        matches!(same.targets, Targets::Labels(_)),
        "probability 0 changed the labels"
    );

    let aug = make(1.0);
    let a = aug
        .augment_batch(batch(), &mut Rng::new(4))
        .expect("augment_batch");
    let b = aug
        .augment_batch(batch(), &mut Rng::new(4))
        .expect("augment_batch");
    let only = aug
        .augment(batch().images, &mut Rng::new(4))
        .expect("augment");
    let (ia, ib) = (floats(a.images), floats(b.images));
    assert_eq!(ia, ib, "same generator state, different images");
    assert_eq!(
        ia,
        floats(only),
        "augment and augment_batch give different images"
    );
    let (Targets::Soft(ta), Targets::Soft(tb)) = (a.targets, b.targets) else {
        panic!("a label-mixing op at probability 1 must give soft targets");
    };
    assert_eq!(
        ta.dims(),
        [n, classes],
        "soft targets are not [batch, classes]"
    );
    let ta: Vec<f32> = ta.into_data().try_to_vec().expect("f32");
    let tb: Vec<f32> = tb.into_data().try_to_vec().expect("f32");
    assert_eq!(ta, tb, "same generator state, different targets");
    for (i, row) in ta.chunks(classes).enumerate() {
        let sum: f32 = row.iter().sum();
        assert!(
            row.iter().all(|&v| v >= 0.0) && (sum - 1.0).abs() < 1e-5,
            "sample {i}: target row {row:?} is not a probability row"
        );
    }
}
