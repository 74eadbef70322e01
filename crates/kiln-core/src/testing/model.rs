use crate::{DataSpec, ImageShape, ModelFactory, OptimizerConfig, Rng};
use burn::Tensor;
use burn::prelude::{Device, Int, TensorData};

fn batch(
    shape: ImageShape,
    classes: usize,
    n: usize,
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    // Class c lights up the c-th band of rows: a learnable pattern.
    let mut rng = Rng::new(5);
    let mut pixels = Vec::with_capacity(n * shape.len());
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        labels.push(c as i64);
        for _ch in 0..shape.channels {
            for y in 0..shape.height {
                for _x in 0..shape.width {
                    let on = y * classes / shape.height == c;
                    pixels.push(if on { 0.8 } else { 0.1 } + 0.05 * rng.uniform() as f32);
                }
            }
        }
    }
    let dims = [n, shape.channels, shape.height, shape.width];
    (
        Tensor::from_data(TensorData::new(pixels, dims), device),
        Tensor::from_data(TensorData::new(labels, [n]), device),
    )
}

fn probabilities(model: &dyn crate::TrainableModel, x: &Tensor<4>) -> Vec<f32> {
    model
        .predict_proba(x.clone())
        .expect("predict_proba")
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32")
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(u, v)| (u - v).abs() < 1e-5)
}

/// A model that keeps a weight average (`fold_average` succeeds): a first fold copies the
/// weights, a swap shows them after training moved on, a second swap restores the trained
/// ones. A model that refuses `fold_average` keeps no average and is not checked here.
fn check_average(
    model: &mut dyn crate::TrainableModel,
    x: &Tensor<4>,
    y: &Tensor<1, Int>,
    xe: &Tensor<4>,
) {
    if model.fold_average(0.5).is_err() {
        return;
    }
    let folded = probabilities(model, xe);
    for _ in 0..5 {
        model
            .train_step(x.clone(), y.clone(), 3e-3)
            .expect("train_step");
    }
    let trained = probabilities(model, xe);
    assert!(
        !close(&folded, &trained),
        "5 steps did not change the predictions"
    );
    model.swap_average().expect("swap_average");
    assert!(
        close(&probabilities(model, xe), &folded),
        "the swapped-in average is not the first fold's weights"
    );
    model.swap_average().expect("swap back");
    assert!(
        close(&probabilities(model, xe), &trained),
        "a second swap did not restore the trained weights"
    );
    model
        .train_step(x.clone(), y.clone(), 3e-3)
        .expect("training goes on after the swaps");
}

/// The [`ModelFactory`] / [`crate::TrainableModel`] contract on `shape`: builds, reports its
/// size, lowers the loss on a learnable batch, predicts probability rows, reloads its
/// own checkpoint to identical predictions, and (if it keeps one) swaps a weight average
/// in and out exactly. `factory` is the plugin under test.
pub fn check_model(factory: &dyn ModelFactory, shape: ImageShape) {
    let device = Device::flex().autodiff();
    let spec = DataSpec {
        shape,
        num_classes: 4,
    };
    let optim = OptimizerConfig {
        lr: 3e-3,
        ..OptimizerConfig::default()
    };
    let mut model =
        crate::with_seed(&device, 1, || factory.build(&spec, &optim, &device)).expect("build");
    assert!(model.num_params() > 0, "a model with no parameters");
    let (x, y) = batch(shape, 4, 32, &device);
    let first = model
        .train_step(x.clone(), y.clone(), 3e-3)
        .expect("train_step");
    assert!(first.loss.is_finite(), "non-finite first loss");
    assert_eq!(first.count, 32, "train_step counted the wrong batch size");
    let mut last = first;
    for _ in 0..30 {
        last = model
            .train_step(x.clone(), y.clone(), 3e-3)
            .expect("train_step");
    }
    assert!(
        last.loss < first.loss,
        "30 steps on one batch did not lower the loss ({} -> {})",
        first.loss,
        last.loss
    );
    let inner = device.clone().inner();
    let (xe, ye) = batch(shape, 4, 8, &inner);
    let eval = model.eval_batch(xe.clone(), ye).expect("eval_batch");
    assert_eq!(eval.count, 8);
    let p = model.predict_proba(xe.clone()).expect("predict_proba");
    assert_eq!(p.dims(), [8, 4], "probabilities are not [batch, classes]");
    let rows: Vec<f32> = p
        .clone()
        .sum_dim(1)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 data");
    assert!(
        rows.iter().all(|s| (s - 1.0).abs() < 1e-4),
        "rows do not sum to 1: {rows:?}"
    );

    // One folder per call: tests run in parallel threads of one process.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kiln-check-model-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("ckpt.safetensors");
    model.save(&path).expect("save");
    let mut other =
        crate::with_seed(&device, 99, || factory.build(&spec, &optim, &device)).expect("build");
    other.load(&path).expect("load own checkpoint");
    let q = other.predict_proba(xe.clone()).expect("predict after load");
    let a: Vec<f32> = p.into_data().try_to_vec::<f32>().expect("f32");
    let b: Vec<f32> = q.into_data().try_to_vec::<f32>().expect("f32");
    assert!(
        a.iter().zip(&b).all(|(u, v)| (u - v).abs() < 1e-5),
        "a reloaded checkpoint predicts differently"
    );
    check_average(other.as_mut(), &x, &y, &xe);
    std::fs::write(&path, b"not a checkpoint").expect("write");
    assert!(
        other.load(&path).is_err(),
        "a corrupt checkpoint loaded without error"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
