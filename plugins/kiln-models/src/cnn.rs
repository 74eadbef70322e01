use crate::activation::{Activation, ActivationKind, LayerActivation};
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
use kiln_core::model::LayerProbe;
use kiln_core::{
    BuildContext, Classifier, ClassifierAdapter, Error, ModelFactory, ModelSpec, OptimizerConfig,
    Result, TrainableModel,
};
use serde::Deserialize;

/// Hyperparameters of the CNN.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnnConfig {
    /// Convolution blocks (conv → [batch norm] → activation → [skip] → 2×2 max-pool).
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
    /// α of `elu`.
    pub elu_alpha: f64,
    /// Dropout before each dense layer.
    pub dropout: f64,
    /// Batch norm after each convolution.
    pub batch_norm: bool,
    /// A skip around every conv block: `y = s(x) + act(bn(conv(x)))`, before the pool, where
    /// `s` is the identity when the block keeps the channel count and a 1×1 convolution
    /// (with bias, no batch norm) when it changes it, which is every block but a first one
    /// whose `filters` equal the image's channels ("same" padding keeps height and width).
    pub residual: bool,
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
            elu_alpha: 1.0,
            dropout: 0.0,
            batch_norm: true,
            residual: false,
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
        Activation::new(c.activation, c.negative_slope, c.elu_alpha, key)?;
        Ok(c)
    }

    /// The network itself, on `device`; [`ModelFactory::build`] wraps it for training.
    pub fn init(&self, spec: &ModelSpec, device: &Device) -> Result<Cnn> {
        let activation = Activation::new(
            self.activation,
            self.negative_slope,
            self.elu_alpha,
            "model",
        )?;
        let (mut h, mut w) = (spec.shape.height, spec.shape.width);
        let mut channels = spec.shape.channels;
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut acts = Vec::new();
        let mut projections = Vec::new();
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
            acts.push(activation.layer(device));
            if self.residual {
                projections.push(
                    (channels != out)
                        .then(|| Conv2dConfig::new([channels, out], [1, 1]).init(device)),
                );
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
            acts.push(activation.layer(device));
            (
                Some(LinearConfig::new(flat, self.dense).init(device)),
                self.dense,
            )
        } else {
            (None, flat)
        };
        Ok(Cnn {
            convs,
            norms,
            acts,
            projections,
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            dropout: DropoutConfig::new(self.dropout).init(),
            dense,
            out: LinearConfig::new(head_in, spec.num_classes).init(device),
            pooled_blocks,
        })
    }
}

/// A small convolutional classifier.
#[derive(Module, Debug)]
pub struct Cnn {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    /// One per conv block, then one for the dense layer if any.
    acts: Vec<LayerActivation>,
    /// One per conv block with `residual` (`None`: identity skip), empty without.
    projections: Vec<Option<Conv2d>>,
    pool: MaxPool2d,
    dropout: Dropout,
    dense: Option<Linear>,
    out: Linear,
    #[module(skip)]
    pooled_blocks: usize,
}

impl Cnn {
    /// The forward pass; with `probes`, each conv block's pre-activation (after batch norm)
    /// is pushed as `conv<i>` (`[B·H·W, C]`) and the dense layer's as `dense0`.
    fn run(&self, images: Tensor<4>, mut probes: Option<&mut Vec<LayerProbe>>) -> Tensor<2> {
        let mut x = images;
        for (i, (conv, act)) in self.convs.iter().zip(&self.acts).enumerate() {
            // Only a residual net keeps the block's input alive.
            let skip = self
                .projections
                .get(i)
                .map(|projection| (projection, x.clone()));
            let mut z = conv.forward(x);
            if let Some(bn) = self.norms.get(i) {
                z = bn.forward(z);
            }
            crate::probe(
                &mut probes,
                || format!("conv{i}"),
                || {
                    let [b, c, h, w] = z.dims();
                    z.clone().permute([0, 2, 3, 1]).reshape([b * h * w, c])
                },
            );
            let z = act.forward(z);
            x = match skip {
                Some((Some(projection), input)) => projection.forward(input) + z,
                Some((None, input)) => input + z,
                None => z,
            };
            if i < self.pooled_blocks {
                x = self.pool.forward(x);
            }
        }
        let [n, c, h, w] = x.dims();
        let mut x: Tensor<2> = self.dropout.forward(x.reshape([n, c * h * w]));
        if let Some(dense) = &self.dense {
            let z = dense.forward(x);
            crate::probe(&mut probes, || "dense0".into(), || z.clone());
            x = self.dropout.forward(self.acts[self.convs.len()].forward(z));
        }
        self.out.forward(x)
    }
}

impl Classifier for Cnn {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.run(images, None)
    }

    fn draws_randomly(&self) -> bool {
        self.dropout.prob > 0.0
    }

    fn forward_probed(&self, images: Tensor<4>) -> (Tensor<2>, Vec<LayerProbe>) {
        let mut probes = Vec::with_capacity(self.acts.len());
        let logits = self.run(images, Some(&mut probes));
        (logits, probes)
    }
}

impl ModelFactory for CnnConfig {
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

    /// The model conformance suite on 1×8×8 images.
    fn conform(c: &CnnConfig) {
        kiln_core::testing::check_model(
            c,
            ImageShape {
                channels: 1,
                height: 8,
                width: 8,
            },
        );
    }

    #[test]
    fn conforms() {
        let c = CnnConfig {
            filters: 4,
            dense: 16,
            dropout: 0.1,
            activation: ActivationKind::LeakyRelu,
            ..CnnConfig::default()
        };
        conform(&c);
    }

    #[test]
    fn residual_elu_conforms() {
        let c = CnnConfig {
            filters: 4,
            dense: 0,
            activation: ActivationKind::Elu,
            residual: true,
            ..CnnConfig::default()
        };
        conform(&c);
    }

    #[test]
    fn prelu_conforms() {
        let c = CnnConfig {
            filters: 4,
            dense: 8,
            activation: ActivationKind::Prelu,
            ..CnnConfig::default()
        };
        conform(&c);
    }

    fn spec(channels: usize) -> ModelSpec {
        ModelSpec {
            shape: ImageShape {
                channels,
                height: 8,
                width: 8,
            },
            num_classes: 3,
        }
    }

    #[test]
    fn probes_show_every_hidden_layer_and_keep_the_logits() {
        let device = Device::flex().autodiff();
        for residual in [false, true] {
            let c = CnnConfig {
                filters: 4,
                dense: 6,
                dropout: 0.3,
                residual,
                ..CnnConfig::default()
            };
            let model = c.init(&spec(1), &device).expect("init");
            // conv0 sees 8×8, conv1 4×4 (after one pool); 3 images.
            crate::test_support::check_probes(
                &model,
                [1, 8, 8],
                &[
                    ("conv0", [3 * 64, 4]),
                    ("conv1", [3 * 16, 8]),
                    ("dense0", [3, 6]),
                ],
            );
        }
    }

    #[test]
    fn residual_projects_only_where_channels_change() {
        let device = Device::flex();
        let params =
            |c: &CnnConfig, channels| c.init(&spec(channels), &device).expect("init").num_params();
        let plain = CnnConfig {
            filters: 4,
            dense: 0,
            batch_norm: false,
            ..CnnConfig::default()
        };
        let residual = CnnConfig {
            residual: true,
            ..plain.clone()
        };
        // 3 → 4 and 4 → 8 channels: two 1×1 projections.
        assert_eq!(
            params(&residual, 3),
            params(&plain, 3) + (3 * 4 + 4) + (4 * 8 + 8)
        );
        // 4 → 4 keeps the identity; only 4 → 8 is projected.
        assert_eq!(params(&residual, 4), params(&plain, 4) + (4 * 8 + 8));
    }

    #[test]
    fn even_kernel_is_rejected() {
        let ctx = BuildContext::new(0).with_key("model");
        let err =
            CnnConfig::from_params(&serde_json::json!({"kernel": 4}), &ctx).expect_err("even");
        assert!(err.to_string().contains("model.kernel"), "{err}");
    }
}
