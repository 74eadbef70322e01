use crate::activation::{Activation, ActivationKind};
// `#[derive(Module)]` expands to paths under `burn::`.
use kiln_core::burn;
use kiln_core::burn::Tensor;
use kiln_core::burn::module::Module;
use kiln_core::burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig,
};
use kiln_core::burn::prelude::Device;
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
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// Batch norm after each hidden linear layer.
    pub batch_norm: bool,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig {
            layers: 2,
            width: 256,
            activation: ActivationKind::Relu,
            negative_slope: 0.01,
            dropout: 0.0,
            batch_norm: false,
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
        Activation::new(c.activation, c.negative_slope, key)?;
        Ok(c)
    }
}

/// A fully connected classifier.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    norms: Vec<BatchNorm>,
    dropout: Dropout,
    out: Linear,
    #[module(skip)]
    activation: Activation,
}

impl Classifier for Mlp {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [n, c, h, w] = images.dims();
        let mut x: Tensor<2> = images.reshape([n, c * h * w]);
        for (i, layer) in self.hidden.iter().enumerate() {
            x = layer.forward(x);
            if let Some(bn) = self.norms.get(i) {
                x = bn.forward(x);
            }
            x = self.dropout.forward(self.activation.apply(x));
        }
        self.out.forward(x)
    }
}

impl ModelFactory for MlpConfig {
    fn build(
        &self,
        spec: &ModelSpec,
        optimizer: &OptimizerConfig,
        device: &Device,
    ) -> Result<Box<dyn TrainableModel>> {
        let mut inputs = spec.shape.len();
        let mut hidden = Vec::new();
        let mut norms = Vec::new();
        for _ in 0..self.layers {
            hidden.push(LinearConfig::new(inputs, self.width).init(device));
            if self.batch_norm {
                norms.push(BatchNormConfig::new(self.width).init(device));
            }
            inputs = self.width;
        }
        let model = Mlp {
            hidden,
            norms,
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(inputs, spec.num_classes).init(device),
            activation: Activation::new(self.activation, self.negative_slope, "model")?,
        };
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
    fn bad_hyperparameters_name_the_key() {
        let ctx = BuildContext::new(0).with_key("model");
        let err = MlpConfig::from_params(&serde_json::json!({"dropout": 1.5}), &ctx)
            .expect_err("dropout");
        assert!(err.to_string().contains("model.dropout"), "{err}");
        let err = MlpConfig::from_params(&serde_json::json!({"widht": 3}), &ctx).expect_err("typo");
        assert!(err.to_string().contains("widht"), "{err}");
    }
}
