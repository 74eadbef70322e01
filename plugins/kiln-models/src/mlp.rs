use crate::activation::{Activation, ActivationKind, LayerActivation};
// `#[derive(Module)]` expands to paths under `burn::`.
use kiln_core::burn;
use kiln_core::burn::Tensor;
use kiln_core::burn::module::Module;
use kiln_core::burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig,
};
use kiln_core::burn::prelude::Device;
use kiln_core::model::LayerProbe;
use kiln_core::{
    BuildContext, Classifier, ClassifierAdapter, Error, ModelFactory, ModelSpec, OptimizerConfig,
    Result, TrainableModel,
};
use serde::Deserialize;

/// Hyperparameters of the MLP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpConfig {
    /// Hidden layers.
    pub layers: usize,
    /// Units per hidden layer.
    pub width: usize,
    /// Non-linearity.
    pub activation: ActivationKind,
    /// Slope of `leaky_relu`.
    pub negative_slope: f64,
    /// α of `elu`.
    pub elu_alpha: f64,
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// Batch norm after each hidden linear layer.
    pub batch_norm: bool,
    /// Identity skips: every hidden layer after the first (all of width `width`) computes
    /// `x + f(x)`, f being linear → [batch norm] → activation → dropout. The first layer
    /// changes the width (from the pixels) and has none; needs `layers` ≥ 2.
    pub residual: bool,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            layers: 2,
            width: 256,
            activation: ActivationKind::Relu,
            negative_slope: 0.01,
            elu_alpha: 1.0,
            dropout: 0.0,
            batch_norm: false,
            residual: false,
        }
    }
}

impl MlpConfig {
    /// Parses and validates.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: MlpConfig = ctx.parse(params)?;
        let key = &ctx.key;
        if c.width == 0 || c.width > 1 << 16 {
            return Err(Error::config(
                format!("{key}.width"),
                format!("must be in 1..=65536, got {}", c.width),
            ));
        }
        if c.layers > 64 {
            return Err(Error::config(
                format!("{key}.layers"),
                format!("must be at most 64, got {}", c.layers),
            ));
        }
        if !(0.0..1.0).contains(&c.dropout) {
            return Err(Error::config(
                format!("{key}.dropout"),
                format!("must be in [0, 1), got {}", c.dropout),
            ));
        }
        if c.residual && c.layers < 2 {
            return Err(Error::config(
                format!("{key}.residual"),
                format!(
                    "needs at least 2 hidden layers (only layers after the first get a skip), \
                     got layers = {}",
                    c.layers
                ),
            ));
        }
        Activation::new(c.activation, c.negative_slope, c.elu_alpha, key)?;
        Ok(c)
    }

    /// The network itself, on `device`; [`ModelFactory::build`] wraps it for training.
    pub fn init(&self, spec: &ModelSpec, device: &Device) -> Result<Mlp> {
        let activation = Activation::new(
            self.activation,
            self.negative_slope,
            self.elu_alpha,
            "model",
        )?;
        let mut inputs = spec.shape.len();
        let mut hidden = Vec::new();
        let mut norms = Vec::new();
        let mut acts = Vec::new();
        for _ in 0..self.layers {
            hidden.push(LinearConfig::new(inputs, self.width).init(device));
            if self.batch_norm {
                norms.push(BatchNormConfig::new(self.width).init(device));
            }
            acts.push(activation.layer(device));
            inputs = self.width;
        }
        Ok(Mlp {
            hidden,
            norms,
            acts,
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(inputs, spec.num_classes).init(device),
            residual: self.residual,
        })
    }
}

/// A fully connected classifier.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    norms: Vec<BatchNorm>,
    acts: Vec<LayerActivation>,
    dropout: Dropout,
    out: Linear,
    #[module(skip)]
    residual: bool,
}

impl Mlp {
    /// The forward pass; with `probes`, each hidden layer's pre-activation (after batch
    /// norm) is pushed as `dense<i>`.
    fn run(&self, images: Tensor<4>, mut probes: Option<&mut Vec<LayerProbe>>) -> Tensor<2> {
        let [n, c, h, w] = images.dims();
        let mut x: Tensor<2> = images.reshape([n, c * h * w]);
        for (i, (layer, act)) in self.hidden.iter().zip(&self.acts).enumerate() {
            // Only a residual layer keeps its input alive.
            let skip = (self.residual && i > 0).then(|| x.clone());
            let mut z = layer.forward(x);
            if let Some(bn) = self.norms.get(i) {
                z = bn.forward(z);
            }
            crate::probe(&mut probes, || format!("dense{i}"), || z.clone());
            let z = self.dropout.forward(act.forward(z));
            x = match skip {
                Some(input) => input + z,
                None => z,
            };
        }
        self.out.forward(x)
    }
}

impl Classifier for Mlp {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.run(images, None)
    }

    fn draws_randomly(&self) -> bool {
        self.dropout.prob > 0.0
    }

    fn forward_probed(&self, images: Tensor<4>) -> (Tensor<2>, Vec<LayerProbe>) {
        let mut probes = Vec::with_capacity(self.hidden.len());
        let logits = self.run(images, Some(&mut probes));
        (logits, probes)
    }
}

impl ModelFactory for MlpConfig {
    fn build(
        &self,
        spec: &ModelSpec,
        optimizer: &OptimizerConfig,
        device: &Device,
    ) -> Result<Box<dyn TrainableModel>> {
        let model = self.init(spec, device)?;
        Ok(ClassifierAdapter::boxed(model, optimizer, device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::ImageShape;

    #[test]
    fn conforms() {
        let c = MlpConfig {
            width: 32,
            batch_norm: true,
            dropout: 0.1,
            ..MlpConfig::default()
        };
        kiln_core::testing::check_model(
            &c,
            ImageShape {
                channels: 1,
                height: 8,
                width: 8,
            },
        );
    }

    #[test]
    fn it_draws_randomly_exactly_when_dropout_is_on() {
        let device = kiln_core::burn::prelude::Device::flex().autodiff();
        let spec = kiln_core::DataSpec {
            shape: ImageShape {
                channels: 1,
                height: 4,
                width: 4,
            },
            num_classes: 3,
        };
        for (dropout, draws) in [(0.0, false), (0.2, true)] {
            let c = MlpConfig {
                dropout,
                ..MlpConfig::default()
            };
            let m = kiln_core::with_seed(&device, 1, || {
                c.build(&spec, &kiln_core::OptimizerConfig::default(), &device)
            })
            .expect("build");
            assert_eq!(m.draws_randomly(), draws, "dropout {dropout}");
        }
    }

    #[test]
    fn residual_prelu_conforms() {
        let c = MlpConfig {
            layers: 3,
            width: 32,
            activation: ActivationKind::Prelu,
            residual: true,
            ..MlpConfig::default()
        };
        kiln_core::testing::check_model(
            &c,
            ImageShape {
                channels: 1,
                height: 8,
                width: 8,
            },
        );
    }

    fn spec() -> ModelSpec {
        ModelSpec {
            shape: ImageShape {
                channels: 1,
                height: 4,
                width: 4,
            },
            num_classes: 3,
        }
    }

    #[test]
    fn probes_show_every_hidden_layer_and_keep_the_logits() {
        let device = Device::flex().autodiff();
        for (residual, activation) in [(false, ActivationKind::Relu), (true, ActivationKind::Elu)] {
            let c = MlpConfig {
                layers: 3,
                width: 8,
                batch_norm: true,
                dropout: 0.3,
                residual,
                activation,
                ..MlpConfig::default()
            };
            let model = c.init(&spec(), &device).expect("init");
            crate::test_support::check_probes(
                &model,
                [1, 4, 4],
                &[("dense0", [3, 8]), ("dense1", [3, 8]), ("dense2", [3, 8])],
            );
        }
    }

    #[test]
    fn residual_and_prelu_add_only_the_slopes() {
        let device = Device::flex();
        let params = |c: MlpConfig| c.init(&spec(), &device).expect("init").num_params();
        let base = MlpConfig {
            layers: 3,
            width: 8,
            ..MlpConfig::default()
        };
        let plain = params(base.clone());
        assert_eq!(plain, (16 * 8 + 8) + 2 * (8 * 8 + 8) + (8 * 3 + 3));
        let residual = MlpConfig {
            residual: true,
            ..base.clone()
        };
        assert_eq!(params(residual), plain, "identity skips have no parameters");
        let prelu = MlpConfig {
            activation: ActivationKind::Prelu,
            ..base
        };
        assert_eq!(params(prelu), plain + 3, "one prelu slope per hidden layer");
    }

    #[test]
    fn residual_needs_two_hidden_layers() {
        let ctx = BuildContext::new(0).with_key("model");
        let err = MlpConfig::from_params(&serde_json::json!({"residual": true, "layers": 1}), &ctx)
            .expect_err("one layer");
        assert!(err.to_string().contains("model.residual"), "{err}");
        let ok = MlpConfig::from_params(
            &serde_json::json!({"residual": true, "activation": "elu", "elu_alpha": 0.5}),
            &ctx,
        )
        .expect("defaults have 2 layers");
        assert_eq!(ok.elu_alpha, 0.5);
        let err = MlpConfig::from_params(&serde_json::json!({"elu_alpha": -1.0}), &ctx)
            .expect_err("negative alpha");
        assert!(err.to_string().contains("model.elu_alpha"), "{err}");
    }

    #[test]
    fn bad_hyperparameters_name_the_key() {
        let ctx = BuildContext::new(0).with_key("model");
        let err = MlpConfig::from_params(&serde_json::json!({"dropout": 1.5}), &ctx)
            .expect_err("dropout");
        assert!(err.to_string().contains("model.dropout"), "{err}");
        let err = MlpConfig::from_params(&serde_json::json!({"widht": 3}), &ctx).expect_err("typo");
        assert!(err.to_string().contains("widht"), "{err}");
    }
}
