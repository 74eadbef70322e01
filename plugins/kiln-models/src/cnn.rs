use crate::activation::{Activation, ActivationKind};
// `#[derive(Module)]` expands to paths under `burn::`.
use kiln_core::burn;
use kiln_core::burn::Tensor;
use kiln_core::burn::module::Module;
use kiln_core::burn::nn::conv::{Conv2d, Conv2dConfig};
use kiln_core::burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use kiln_core::burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use kiln_core::burn::prelude::Device;
use kiln_core::{
    BuildContext, Classifier, ClassifierAdapter, Error, ModelFactory, ModelSpec, OptimizerConfig,
    Result, TrainableModel,
};
use serde::Deserialize;

/// Hyperparameters of the CNN.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnnConfig {
    /// Convolution blocks (conv → [batch norm] → activation → 2×2 max-pool).
    pub conv_layers: usize,
    /// Filters of the first block; each further block doubles them.
    pub filters: usize,
    /// Square kernel size (odd), "same" padding.
    pub kernel: usize,
    /// Units of the hidden dense layer; 0 for none.
    pub dense: usize,
    /// Non-linearity.
    pub activation: ActivationKind,
    /// Slope of `leaky_relu`.
    pub negative_slope: f64,
    /// Dropout before each dense layer.
    pub dropout: f64,
    /// Batch norm after each convolution.
    pub batch_norm: bool,
}

impl Default for CnnConfig {
    fn default() -> Self {
        CnnConfig {
            conv_layers: 2,
            filters: 16,
            kernel: 3,
            dense: 128,
            activation: ActivationKind::Relu,
            negative_slope: 0.01,
            dropout: 0.0,
            batch_norm: true,
        }
    }
}

impl CnnConfig {
    /// Parses and validates.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: CnnConfig = ctx.parse(params)?;
        let key = &ctx.key;
        if !(1..=6).contains(&c.conv_layers) {
            return Err(Error::config(
                format!("{key}.conv_layers"),
                format!("must be in 1..=6, got {}", c.conv_layers),
            ));
        }
        if !(1..=512).contains(&c.filters) {
            return Err(Error::config(
                format!("{key}.filters"),
                format!("must be in 1..=512, got {}", c.filters),
            ));
        }
        if c.kernel.is_multiple_of(2) || c.kernel > 11 {
            return Err(Error::config(
                format!("{key}.kernel"),
                format!("must be odd and at most 11, got {}", c.kernel),
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

/// A small convolutional classifier.
#[derive(Module, Debug)]
pub struct Cnn {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    pool: MaxPool2d,
    dropout: Dropout,
    dense: Option<Linear>,
    out: Linear,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    pooled_blocks: usize,
}

impl Classifier for Cnn {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x);
            if let Some(bn) = self.norms.get(i) {
                x = bn.forward(x);
            }
            x = self.activation.apply(x);
            if i < self.pooled_blocks {
                x = self.pool.forward(x);
            }
        }
        let [n, c, h, w] = x.dims();
        let mut x: Tensor<2> = self.dropout.forward(x.reshape([n, c * h * w]));
        if let Some(dense) = &self.dense {
            x = self
                .dropout
                .forward(self.activation.apply(dense.forward(x)));
        }
        self.out.forward(x)
    }
}

impl ModelFactory for CnnConfig {
    fn build(
        &self,
        spec: &ModelSpec,
        optimizer: &OptimizerConfig,
        device: &Device,
    ) -> Result<Box<dyn TrainableModel>> {
        let (mut h, mut w) = (spec.shape.height, spec.shape.width);
        let mut channels = spec.shape.channels;
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut pooled_blocks = 0;
        for i in 0..self.conv_layers {
            let out = self.filters << i;
            convs.push(
                Conv2dConfig::new([channels, out], [self.kernel, self.kernel])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
            );
            if self.batch_norm {
                norms.push(BatchNormConfig::new(out).init(device));
            }
            // Pool only while the image is at least 2×2: deep nets on small images keep going.
            if h >= 2 && w >= 2 && pooled_blocks == i {
                pooled_blocks += 1;
                h /= 2;
                w /= 2;
            }
            channels = out;
        }
        let flat = channels * h * w;
        let (dense, head_in) = if self.dense > 0 {
            (
                Some(LinearConfig::new(flat, self.dense).init(device)),
                self.dense,
            )
        } else {
            (None, flat)
        };
        let model = Cnn {
            convs,
            norms,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            dense,
            out: LinearConfig::new(head_in, spec.num_classes).init(device),
            activation: Activation::new(self.activation, self.negative_slope, "model")?,
            pooled_blocks,
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
        let c = CnnConfig {
            filters: 4,
            dense: 16,
            dropout: 0.1,
            activation: ActivationKind::LeakyRelu,
            ..CnnConfig::default()
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
    fn even_kernel_is_rejected() {
        let ctx = BuildContext::new(0).with_key("model");
        let err =
            CnnConfig::from_params(&serde_json::json!({"kernel": 4}), &ctx).expect_err("even");
        assert!(err.to_string().contains("model.kernel"), "{err}");
    }
}
