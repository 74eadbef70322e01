use super::{EvalStats, LayerHealth, OptimizerConfig, StepStats, TrainableModel};
use crate::{Error, Result};
use burn::Tensor;
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::{Device, Int};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use std::path::Path;

/// What a plugin author implements on an ordinary Burn module: logits from images.
pub trait Classifier: Module + 'static {
    /// Logits `[batch, classes]` from images `[batch, channels, height, width]`.
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;

    /// Logits and each hidden layer's pre-activations, for network-health probes. The
    /// default shows no layer; a model that overrides it must return the same logits as
    /// [`Classifier::forward`].
    fn forward_probed(&self, images: Tensor<4>) -> (Tensor<2>, Vec<super::LayerProbe>) {
        (self.forward(images), Vec::new())
    }

    /// Whether a training forward pass draws random numbers from the device (dropout with
    /// a non-zero rate does). The default says yes, which is always safe; a model that
    /// answers no lets concurrent trials train without taking turns.
    fn draws_randomly(&self) -> bool {
        true
    }
}

/// Touches every float parameter, which runs its lazy initialiser.
struct ForceInit;

impl ModuleVisitor for ForceInit {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// The generic adapter: a Burn classifier, its optimiser state and its device, exposed as
/// a [`TrainableModel`]. Loss is cross-entropy on the logits; with
/// [`OptimizerConfig::l1`] > 0 the training step adds `l1 · Σ|w|` to it before backward
/// (the reported loss is the data loss alone).
pub struct ClassifierAdapter<M: Classifier> {
    // `None` only if a step panicked half-way; later calls then report an error.
    model: Option<M>,
    optim: ModuleOptimizer,
    loss: CrossEntropyLoss,
    l1: f64,
    device: Device,
    average: super::average::WeightAverage,
}

/// Sums `|w|` over a module's trainable float parameters (running statistics such as batch
/// norm's, which the visitor also sees, do not require a gradient and are left out).
#[derive(Default)]
struct AbsSum {
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for AbsSum {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let w = param.val();
        if !w.is_require_grad() {
            return;
        }
        let s = w.abs().sum();
        self.total = Some(match self.total.take() {
            Some(t) => t + s,
            None => s,
        });
    }
}

/// `Σ|w|` over `model`'s trainable float parameters, on the graph (`None` without any).
fn l1_norm<M: Module>(model: &M) -> Option<Tensor<1>> {
    let mut sum = AbsSum::default();
    model.visit(&mut sum);
    sum.total
}

impl<M: Classifier> ClassifierAdapter<M> {
    /// Wraps `model` (already on `device`) with a fresh optimiser.
    pub fn new(model: M, optimizer: &OptimizerConfig, device: &Device) -> Self {
        // Burn initialises parameters lazily, at their first use. Factories run inside
        // `with_seed`, which holds the seeded device generator for them alone; drawing every
        // initial weight now keeps the draws there, instead of at the first training step,
        // when another thread may have reseeded the generator for its own model.
        model.visit(&mut ForceInit);
        ClassifierAdapter {
            model: Some(model),
            optim: optimizer.build(),
            loss: CrossEntropyLossConfig::new().init(device),
            l1: optimizer.l1,
            device: device.clone(),
            average: Default::default(),
        }
    }

    /// Wraps and boxes, ready to return from a [`super::ModelFactory`].
    pub fn boxed(
        model: M,
        optimizer: &OptimizerConfig,
        device: &Device,
    ) -> Box<dyn TrainableModel> {
        Box::new(Self::new(model, optimizer, device))
    }

    fn model(&self) -> Result<&M> {
        self.model
            .as_ref()
            .ok_or_else(|| Error::Training("model state was lost by an earlier failed step".into()))
    }

    fn stats(&self, logits: Tensor<2>, labels: Tensor<1, Int>) -> (Tensor<1>, usize, usize) {
        let n = labels.dims()[0];
        let loss = self.loss.forward(logits.clone(), labels.clone());
        let pred: Tensor<1, Int> = logits.argmax(1).reshape([n]);
        let correct: i64 = pred.equal(labels).int().sum().into_scalar();
        (loss, correct.max(0) as usize, n)
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    let v: f32 = t.into_scalar();
    v as f64
}

impl<M: Classifier> ClassifierAdapter<M> {
    /// Forward, `loss_of(logits) -> (loss, correct)`, backward and one optimiser step.
    fn step(
        &mut self,
        images: Tensor<4>,
        lr: f64,
        loss_of: impl FnOnce(&Self, Tensor<2>) -> Result<(Tensor<1>, usize)>,
    ) -> Result<StepStats> {
        let model = self.model.take().ok_or_else(|| {
            Error::Training("model state was lost by an earlier failed step".into())
        })?;
        let count = images.dims()[0];
        let (loss, correct) = match loss_of(self, model.forward(images)) {
            Ok(v) => v,
            Err(e) => {
                self.model = Some(model);
                return Err(e);
            }
        };
        let loss_value = scalar(loss.clone());
        let loss = match (self.l1 > 0.0).then(|| l1_norm(&model)).flatten() {
            Some(norm) => loss + norm.mul_scalar(self.l1),
            None => loss,
        };
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(lr, model, grads));
        Ok(StepStats {
            loss: loss_value,
            correct,
            count,
        })
    }
}

impl<M: Classifier> TrainableModel for ClassifierAdapter<M> {
    fn train_step(
        &mut self,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
        lr: f64,
    ) -> Result<StepStats> {
        self.step(images, lr, |me, logits| {
            let (loss, correct, _) = me.stats(logits, labels);
            Ok((loss, correct))
        })
    }

    fn train_step_soft(
        &mut self,
        images: Tensor<4>,
        targets: Tensor<2>,
        lr: f64,
    ) -> Result<StepStats> {
        let [n, classes] = targets.dims();
        self.step(images, lr, |_, logits| {
            if logits.dims() != [n, classes] {
                return Err(Error::Training(format!(
                    "soft targets are {n}×{classes} but the model gives {:?} logits",
                    logits.dims()
                )));
            }
            let pred: Tensor<1, Int> = logits.clone().argmax(1).reshape([n]);
            let want: Tensor<1, Int> = targets.clone().argmax(1).reshape([n]);
            let correct: i64 = pred.equal(want).int().sum().into_scalar();
            let log_p = burn::tensor::activation::log_softmax(logits, 1);
            let loss = (log_p * targets).sum().neg().div_scalar(n.max(1) as f32);
            Ok((loss, correct.max(0) as usize))
        })
    }

    fn eval_batch(&self, images: Tensor<4>, labels: Tensor<1, Int>) -> Result<EvalStats> {
        let model = self.model()?.valid();
        let images = images.to_device(&self.device.clone().inner());
        let labels = labels.to_device(&self.device.clone().inner());
        let (loss, correct, count) = self.stats(model.forward(images), labels);
        Ok(StepStats {
            loss: scalar(loss),
            correct,
            count,
        })
    }

    fn predict_proba(&self, images: Tensor<4>) -> Result<Tensor<2>> {
        let model = self.model()?.valid();
        let images = images.to_device(&self.device.clone().inner());
        Ok(burn::tensor::activation::softmax(model.forward(images), 1))
    }

    fn num_params(&self) -> usize {
        self.model.as_ref().map_or(0, |m| m.num_params())
    }

    fn draws_randomly(&self) -> bool {
        self.model.as_ref().is_none_or(Classifier::draws_randomly)
    }

    fn probe(&self, images: Tensor<4>, bins: usize) -> Result<Vec<LayerHealth>> {
        let model = self.model()?.valid();
        let images = images.to_device(&self.device.clone().inner());
        let (_, layers) = model.forward_probed(images);
        layers
            .into_iter()
            .map(|p| {
                let units = p.pre_activation.dims()[1];
                let values: Vec<f32> = p
                    .pre_activation
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .map_err(|e| Error::Training(format!("reading probe `{}`: {e:?}", p.name)))?;
                Ok(LayerHealth::from_values(&p.name, &values, units, bins))
            })
            .collect()
    }

    fn weights(&self) -> Result<Vec<(String, Vec<f32>)>> {
        let model = self.model()?.valid();
        let mut out = Vec::new();
        for t in model.collect(None, None, true) {
            // Batch norm's running statistics are buffers, not trained weights.
            if t.dtype != burn::tensor::DType::F32 || t.name.contains("running_") {
                continue;
            }
            let name = t.name.clone();
            let bytes = t
                .to_bytes()
                .map_err(|e| Error::Training(format!("reading weights `{name}`: {e:?}")))?;
            let values = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            out.push((name, values));
        }
        Ok(out)
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn fold_average(&mut self, decay: f64) -> Result<()> {
        let model = self.model.as_ref().ok_or_else(|| {
            Error::Training("model state was lost by an earlier failed step".into())
        })?;
        self.average.fold(model, decay)
    }

    fn swap_average(&mut self) -> Result<()> {
        let model = self.model.take().ok_or_else(|| {
            Error::Training("model state was lost by an earlier failed step".into())
        })?;
        match self.average.swap(model) {
            Ok(m) => {
                self.model = Some(m);
                Ok(())
            }
            Err((m, e)) => {
                self.model = Some(m);
                Err(e)
            }
        }
    }

    fn save(&self, path: &Path) -> Result<()> {
        let err = |message: String| Error::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let tmp = path.with_extension("safetensors.partial");
        let mut store = SafetensorsStore::from_file(&tmp).overwrite(true);
        self.model()?
            .valid()
            .save_into(&mut store)
            .map_err(|e| err(format!("cannot write: {e}")))?;
        std::fs::rename(&tmp, path).map_err(|e| err(format!("cannot move into place: {e}")))
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        let err = |message: String| Error::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(err("no such file".into()));
        }
        let mut model = self.model()?.clone();
        let dtypes: Vec<(String, burn::tensor::DType)> = model
            .collect(None, None, true)
            .into_iter()
            .map(|t| (t.name, t.dtype))
            .collect();
        let mut store = SafetensorsStore::from_file(path);
        let result = model
            .load_from(&mut store)
            .map_err(|e| err(format!("cannot read: {e}")))?;
        if !result.errors.is_empty() || !result.missing.is_empty() {
            return Err(err(format!(
                "does not match this model: {} missing tensors, errors: {:?}",
                result.missing.len(),
                result.errors
            )));
        }
        // Burn keeps a loaded tensor's own dtype (a half-precision file loads as F16), but
        // the model computes in one: a tensor of another dtype is refused here rather than
        // left to fail in the first matrix product.
        for t in model.collect(None, None, true) {
            if let Some((_, want)) = dtypes.iter().find(|(n, _)| *n == t.name)
                && *want != t.dtype
            {
                return Err(err(format!(
                    "does not match this model: tensor `{}` is {:?} in the file, the model's is {want:?}",
                    t.name, t.dtype
                )));
            }
        }
        self.model = Some(model.fork(&self.device));
        // An average of the weights that were replaced means nothing for the loaded ones.
        self.average = Default::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OptimizerKind;
    use burn::nn::{Linear, LinearConfig};
    use burn::prelude::TensorData;

    #[derive(Module, Debug)]
    struct Tiny {
        fc: Linear,
    }

    impl Classifier for Tiny {
        fn forward(&self, images: Tensor<4>) -> Tensor<2> {
            let [n, c, h, w] = images.dims();
            self.fc.forward(images.reshape([n, c * h * w]))
        }
    }

    /// The first step's reported loss and the L1 norm of the weights after `steps` SGD steps.
    fn train(l1: f64, steps: usize, start: &Tiny) -> (f64, f64) {
        let device = Device::flex().autodiff();
        let optim = OptimizerConfig {
            kind: OptimizerKind::Sgd,
            lr: 0.1,
            l1,
            ..OptimizerConfig::default()
        };
        let mut adapter = ClassifierAdapter::new(start.clone(), &optim, &device);
        let pixels: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 / 11.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [6, 1, 2, 2]), &device);
        let y =
            Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0, 1, 2], [6]), &device);
        let first = adapter
            .train_step(x.clone(), y.clone(), 0.1)
            .expect("step")
            .loss;
        for _ in 1..steps {
            adapter.train_step(x.clone(), y.clone(), 0.1).expect("step");
        }
        let fc = &adapter.model().expect("model").fc;
        let norm = fc.weight.val().abs().sum() + fc.bias.as_ref().expect("bias").val().abs().sum();
        (first, scalar(norm))
    }

    /// A safetensors file of `tensors` (name, dtype, shape, little-endian bytes).
    fn safetensors(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut data = Vec::new();
        for (name, dtype, shape, bytes) in tensors {
            let offsets = [data.len(), data.len() + bytes.len()];
            header.insert(
                name.to_string(),
                serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": offsets }),
            );
            data.extend_from_slice(bytes);
        }
        let header = serde_json::Value::Object(header).to_string().into_bytes();
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header);
        out.extend(data);
        out
    }

    /// Found by fuzzing the checkpoint reader (`fuzz/`, target `checkpoint`): a checkpoint
    /// with a half-precision tensor of the right shape loaded, and the model then panicked
    /// in its first forward pass (a dtype mismatch in the matrix product).
    #[test]
    fn a_checkpoint_tensor_of_another_dtype_is_a_checkpoint_error() {
        let device = Device::flex().autodiff();
        let tiny = crate::with_seed(&device, 4, || Tiny {
            fc: LinearConfig::new(4, 3).init(&device),
        });
        let mut m = ClassifierAdapter::new(tiny, &OptimizerConfig::default(), &device);
        let dir = std::env::temp_dir().join(format!("kiln-adapter-dtype-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("half.safetensors");
        let f32s = |n: usize| {
            (0..n)
                .flat_map(|i| (i as f32 / 10.0).to_le_bytes())
                .collect()
        };
        let f16s = |n: usize| vec![0u8; 2 * n];
        std::fs::write(
            &path,
            safetensors(&[
                ("fc.weight", "F32", &[4, 3], f32s(12)),
                ("fc.bias", "F32", &[3], f32s(3)),
            ]),
        )
        .expect("write");
        m.load(&path)
            .expect("an F32 checkpoint of this shape loads");
        std::fs::write(
            &path,
            safetensors(&[
                ("fc.weight", "F16", &[4, 3], f16s(12)),
                ("fc.bias", "F32", &[3], f32s(3)),
            ]),
        )
        .expect("write");
        let err = m.load(&path).expect_err("an F16 tensor").to_string();
        assert!(
            err.contains("half.safetensors") && err.contains("fc.weight") && err.contains("F16"),
            "{err}"
        );
        // The refused file left the model as it was.
        let x = Tensor::<4>::zeros([2, 1, 2, 2], &device);
        m.predict_proba(x).expect("the model still predicts");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn l1_shrinks_the_weights_and_is_left_out_of_the_reported_loss() {
        // Both runs start from the same weights (Burn's generator is process-wide, so two
        // separate seeded initialisations could differ while other tests draw from it).
        let device = Device::flex().autodiff();
        let start = Tiny {
            fc: LinearConfig::new(4, 3).init(&device),
        };
        let (loss_plain, norm_plain) = train(0.0, 5, &start);
        let (loss_l1, norm_l1) = train(0.05, 5, &start);
        assert_eq!(
            loss_plain, loss_l1,
            "the reported loss must be the data loss"
        );
        assert!(
            norm_l1 < norm_plain - 1e-3,
            "L1 did not shrink the weights: {norm_l1} vs {norm_plain}"
        );
    }

    #[test]
    fn the_l1_norm_sums_every_trainable_parameter() {
        let device = Device::flex().autodiff();
        // Under the init lock: an unlocked draw would shift another test's seeded weights.
        let tiny = crate::with_seed(&device, 5, || Tiny {
            fc: LinearConfig::new(4, 3).init(&device),
        });
        let manual = tiny.fc.weight.val().abs().sum()
            + tiny.fc.bias.as_ref().expect("bias").val().abs().sum();
        let norm = l1_norm(&tiny).expect("parameters");
        assert!((scalar(norm) - scalar(manual)).abs() < 1e-5);
    }

    #[test]
    fn one_hot_soft_targets_train_exactly_like_labels_and_mixed_ones_pull_between() {
        let device = Device::flex().autodiff();
        let start = crate::with_seed(&device, 9, || Tiny {
            fc: LinearConfig::new(4, 3).init(&device),
        });
        let optim = OptimizerConfig {
            kind: OptimizerKind::Sgd,
            lr: 0.1,
            ..OptimizerConfig::default()
        };
        let pixels: Vec<f32> = (0..24).map(|i| ((i * 5) % 13) as f32 / 13.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [6, 1, 2, 2]), &device);
        let labels = vec![0i64, 1, 2, 0, 1, 2];
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [6]), &device);
        let mut hot = vec![0f32; 18];
        for (i, &l) in labels.iter().enumerate() {
            hot[i * 3 + l as usize] = 1.0;
        }
        let soft = Tensor::<2>::from_data(TensorData::new(hot, [6, 3]), &device);

        let mut hard = ClassifierAdapter::new(start.clone(), &optim, &device);
        let mut by_rows = ClassifierAdapter::new(start.clone(), &optim, &device);
        for _ in 0..3 {
            let a = hard.train_step(x.clone(), y.clone(), 0.1).expect("step");
            let b = by_rows
                .train_step_soft(x.clone(), soft.clone(), 0.1)
                .expect("step");
            assert!((a.loss - b.loss).abs() < 1e-6, "{} vs {}", a.loss, b.loss);
            assert_eq!((a.correct, a.count), (b.correct, b.count));
        }

        // A half-and-half row's loss is the mean of the two one-hot losses.
        let fresh = || ClassifierAdapter::new(start.clone(), &optim, &device);
        let row =
            |v: [f32; 3]| Tensor::<2>::from_data(TensorData::new(v.repeat(6), [6, 3]), &device);
        let l0 = fresh()
            .train_step_soft(x.clone(), row([1.0, 0.0, 0.0]), 0.0)
            .expect("step");
        let l1 = fresh()
            .train_step_soft(x.clone(), row([0.0, 1.0, 0.0]), 0.0)
            .expect("step");
        let half = fresh()
            .train_step_soft(x.clone(), row([0.5, 0.5, 0.0]), 0.0)
            .expect("step");
        assert!((half.loss - (l0.loss + l1.loss) / 2.0).abs() < 1e-5);

        // Rows of the wrong width are refused, and the model survives the refusal.
        let mut m = fresh();
        let wide = Tensor::<2>::zeros([6, 4], &device);
        let err = m
            .train_step_soft(x.clone(), wide, 0.1)
            .expect_err("wrong width");
        assert!(err.to_string().contains("6×4"), "{err}");
        m.train_step(x, y, 0.1).expect("the model is still usable");
    }

    #[test]
    fn the_weight_average_folds_by_the_formula_and_swaps_back_exactly() {
        let device = Device::flex().autodiff();
        let start = crate::with_seed(&device, 3, || Tiny {
            fc: LinearConfig::new(4, 3).init(&device),
        });
        let optim = OptimizerConfig {
            kind: OptimizerKind::Sgd,
            lr: 0.5,
            ..OptimizerConfig::default()
        };
        let mut m = ClassifierAdapter::new(start, &optim, &device);
        assert!(m.swap_average().is_err(), "nothing folded yet");
        let pixels: Vec<f32> = (0..24).map(|i| ((i * 5) % 13) as f32 / 13.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [6, 1, 2, 2]), &device);
        let y =
            Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 2, 1, 0], [6]), &device);
        let w0 = m.weights().expect("weights");
        m.fold_average(0.9).expect("fold");
        m.train_step(x.clone(), y.clone(), 0.5).expect("step");
        let w1 = m.weights().expect("weights");
        assert_ne!(w0, w1, "the step must move the weights");
        m.fold_average(0.25).expect("fold");
        // The first fold copies w0; the second gives 0.25·w0 + 0.75·w1.
        m.swap_average().expect("swap in");
        let avg = m.weights().expect("weights");
        for ((name, a), ((_, u), (_, v))) in avg.iter().zip(w0.iter().zip(&w1)) {
            for (k, got) in a.iter().enumerate() {
                let want = 0.25 * u[k] + 0.75 * v[k];
                assert!((got - want).abs() < 1e-6, "{name}[{k}]: {got} vs {want}");
            }
        }
        m.swap_average().expect("swap back");
        assert_eq!(
            m.weights().expect("weights"),
            w1,
            "a second swap restores the raw weights"
        );
        // Training goes on from the raw weights, with gradients, after the swaps.
        let before = m.weights().expect("weights");
        m.train_step(x, y, 0.5).expect("step after swaps");
        assert_ne!(m.weights().expect("weights"), before);
    }
}
