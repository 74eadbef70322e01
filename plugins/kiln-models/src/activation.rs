use kiln_core::burn::Tensor;
use kiln_core::burn::tensor::activation;
use kiln_core::{Error, Result};
use serde::Deserialize;

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
}

/// An activation with its parameter, stored in modules as a skipped (non-parameter) field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    kind: ActivationKind,
    negative_slope: f64,
}

impl Activation {
    /// Validates the slope (used by `leaky_relu` only).
    pub fn new(kind: ActivationKind, negative_slope: f64, key: &str) -> Result<Self> {
        if !(0.0..1.0).contains(&negative_slope) {
            return Err(Error::config(
                format!("{key}.negative_slope"),
                format!("must be in [0, 1), got {negative_slope}"),
            ));
        }
        Ok(Activation {
            kind,
            negative_slope,
        })
    }

    /// Applies the activation.
    pub fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self.kind {
            ActivationKind::Relu => activation::relu(x),
            ActivationKind::LeakyRelu => activation::leaky_relu(x, self.negative_slope),
            ActivationKind::Gelu => activation::gelu(x),
            ActivationKind::Silu => activation::silu(x),
            ActivationKind::Tanh => activation::tanh(x),
        }
    }
}
