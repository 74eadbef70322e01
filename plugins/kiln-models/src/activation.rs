// `#[derive(Module)]` expands to paths under `burn::`.
use kiln_core::burn;
use kiln_core::burn::Tensor;
use kiln_core::burn::module::Module;
use kiln_core::burn::nn::{PRelu, PReluConfig};
use kiln_core::burn::prelude::Device;
use kiln_core::burn::tensor::activation;
use kiln_core::{Error, Result};
use serde::Deserialize;

/// The initial negative slope of `prelu` (PyTorch's).
pub const PRELU_INIT: f64 = 0.25;

/// A pointwise non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationKind {
    /// max(0, x)
    Relu,
    /// x if x > 0 else slope · x
    LeakyRelu,
    /// Gaussian error linear unit
    Gelu,
    /// x · sigmoid(x)
    Silu,
    /// tanh(x)
    Tanh,
    /// x if x ≥ 0 else a · x, with a learnable slope `a` per layer (one scalar shared by all
    /// units or channels of the layer), initialised to [`PRELU_INIT`]. The slope is an
    /// ordinary parameter: weight decay and `optimizer.l1` apply to it too.
    Prelu,
    /// x if x > 0 else α · (exp(x) − 1), α = `elu_alpha`
    Elu,
}

/// An activation with its fixed parameters, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    kind: ActivationKind,
    negative_slope: f64,
    elu_alpha: f64,
}

impl Activation {
    /// Validates the slope (used by `leaky_relu` only) and α (used by `elu` only); `key` is
    /// the model's config path, used in errors.
    pub fn new(
        kind: ActivationKind,
        negative_slope: f64,
        elu_alpha: f64,
        key: &str,
    ) -> Result<Self> {
        if !(0.0..1.0).contains(&negative_slope) {
            return Err(Error::config(
                format!("{key}.negative_slope"),
                format!("must be in [0, 1), got {negative_slope}"),
            ));
        }
        if !(elu_alpha > 0.0 && elu_alpha.is_finite()) {
            return Err(Error::config(
                format!("{key}.elu_alpha"),
                format!("must be finite and > 0, got {elu_alpha}"),
            ));
        }
        Ok(Activation {
            kind,
            negative_slope,
            elu_alpha,
        })
    }

    /// The activation of one layer: carries the learnable slope for `prelu`, nothing else.
    pub fn layer(&self, device: &Device) -> LayerActivation {
        LayerActivation {
            prelu: (self.kind == ActivationKind::Prelu)
                .then(|| PReluConfig::new().with_alpha(PRELU_INIT).init(device)),
            activation: *self,
        }
    }
}

/// One layer's activation, a module so that `prelu`'s slope is trained and checkpointed
/// (`<layer>.prelu.alpha`); for the other kinds it holds no parameter.
#[derive(Module, Debug)]
pub struct LayerActivation {
    prelu: Option<PRelu>,
    #[module(skip)]
    activation: Activation,
}

impl LayerActivation {
    /// Applies the activation.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let a = &self.activation;
        match a.kind {
            ActivationKind::Relu => activation::relu(x),
            ActivationKind::LeakyRelu => activation::leaky_relu(x, a.negative_slope),
            ActivationKind::Gelu => activation::gelu(x),
            ActivationKind::Silu => activation::silu(x),
            ActivationKind::Tanh => activation::tanh(x),
            ActivationKind::Elu => activation::elu(x, a.elu_alpha),
            ActivationKind::Prelu => match &self.prelu {
                Some(prelu) => prelu.forward(x),
                None => unreachable!("a prelu layer is built with its slope"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::burn::prelude::TensorData;

    fn values(kind: ActivationKind, x: &[f32]) -> Vec<f32> {
        let device = Device::flex();
        let act = Activation::new(kind, 0.1, 2.0, "model")
            .expect("valid")
            .layer(&device);
        let t = Tensor::<1>::from_data(TensorData::new(x.to_vec(), [x.len()]), &device);
        act.forward(t).into_data().try_to_vec::<f32>().expect("f32")
    }

    #[test]
    fn prelu_starts_at_its_initial_slope_and_elu_uses_alpha() {
        assert_eq!(values(ActivationKind::Prelu, &[-2.0, 3.0]), vec![-0.5, 3.0]);
        let elu = values(ActivationKind::Elu, &[-1.0, 0.5]);
        assert!(
            (elu[0] - 2.0 * ((-1.0f32).exp() - 1.0)).abs() < 1e-6,
            "{elu:?}"
        );
        assert_eq!(elu[1], 0.5);
    }

    #[test]
    fn prelu_has_one_parameter_per_layer_and_others_none() {
        let device = Device::flex();
        let make = |kind| {
            Activation::new(kind, 0.01, 1.0, "model")
                .expect("valid")
                .layer(&device)
                .num_params()
        };
        assert_eq!(make(ActivationKind::Prelu), 1);
        assert_eq!(make(ActivationKind::Elu), 0);
        assert_eq!(make(ActivationKind::Relu), 0);
    }

    #[test]
    fn bad_elu_alpha_names_the_key() {
        let err = Activation::new(ActivationKind::Elu, 0.01, 0.0, "model").expect_err("alpha 0");
        assert!(err.to_string().contains("model.elu_alpha"), "{err}");
    }
}
