//! kiln's built-in models.
//!
//! | model | kind | hyperparameters (all searchable as `model.<name>`) |
//! |---|---|---|
//! | multi-layer perceptron | `mlp` | `layers` (2), `width` (256), `activation`, `negative_slope`, `elu_alpha`, `dropout` (0), `batch_norm` (false), `residual` (false) |
//! | small CNN | `cnn` | `conv_layers` (2), `filters` (16, doubling per block), `kernel` (3), `dense` (128, 0 for none), `activation`, `negative_slope`, `elu_alpha`, `dropout` (0), `batch_norm` (true), `residual` (false) |
//!
//! Activations (`activation`, default `relu`): `relu`, `leaky_relu` (with `negative_slope`,
//! 0.01), `gelu`, `silu`, `tanh`, `elu` (with `elu_alpha`, 1.0, > 0) and `prelu`, whose
//! negative slope is learned: one scalar per hidden layer (shared by its units or channels),
//! starting at 0.25 and trained, decayed and checkpointed like any other weight.
//!
//! `residual` adds skips. In the MLP every hidden layer after the first computes
//! `x + f(x)` (f: linear → [batch norm] → activation → dropout; all hidden layers have width
//! `width`, the first changes it from the pixels and has no skip), so it needs `layers` ≥ 2
//! (else `model.residual` is rejected). In the CNN every conv block computes
//! `s(x) + act(bn(conv(x)))` before its pool, `s` the identity when the block keeps the
//! channel count and a 1×1 convolution (with bias, no batch norm) when it changes it. Off, the
//! networks are exactly those of before (same parameters, same initialisation).
//!
//! Both models implement `forward_probed`: every hidden layer's pre-activation (after batch
//! norm, before the non-linearity) as `conv<i>` (`[B·H·W, C]`) and `dense<i>` (`[B, units]`;
//! the CNN's hidden dense layer is `dense0`), from the same code path as `forward`.

mod activation;
mod cnn;
mod mlp;

pub use activation::Activation;
pub use cnn::{Cnn, CnnConfig};
pub use mlp::{Mlp, MlpConfig};

use kiln_core::burn::Tensor;
use kiln_core::model::LayerProbe;
use kiln_core::{Registrar, Result};

/// Records a hidden layer's pre-activation when probing; `name` and `pre_activation` are
/// only evaluated then, so a plain forward pass pays nothing.
fn probe(
    probes: &mut Option<&mut Vec<LayerProbe>>,
    name: impl FnOnce() -> String,
    pre_activation: impl FnOnce() -> Tensor<2>,
) {
    if let Some(probes) = probes.as_deref_mut() {
        probes.push(LayerProbe {
            name: name(),
            pre_activation: pre_activation(),
        });
    }
}

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.model(
        "mlp",
        "fully connected network: depth, width, activation, dropout, batch norm",
        |params, ctx| Ok(Box::new(MlpConfig::from_params(params, ctx)?)),
    )?;
    r.model(
        "cnn",
        "conv blocks (conv, batch norm, activation, 2×2 max-pool) then a dense head",
        |params, ctx| Ok(Box::new(CnnConfig::from_params(params, ctx)?)),
    )?;
    Ok(())
}

kiln_core::submit_plugin!(register);

#[cfg(test)]
mod test_support {
    use kiln_core::Classifier;
    use kiln_core::burn::Tensor;
    use kiln_core::burn::prelude::{Device, TensorData};

    /// On the validation form of `model`: `forward_probed` gives `forward`'s logits and the
    /// layers `expected` (name, `[samples, units]`) for a batch of 3 images `[c, h, w]`.
    pub fn check_probes<M: Classifier>(
        model: &M,
        chw: [usize; 3],
        expected: &[(&str, [usize; 2])],
    ) {
        let model = model.valid();
        let [c, h, w] = chw;
        let n = 3 * c * h * w;
        let pixels: Vec<f32> = (0..n)
            .map(|i| ((i * 37) % 101) as f32 / 101.0 - 0.3)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [3, c, h, w]), &Device::flex());
        let plain: Vec<f32> = model
            .forward(x.clone())
            .into_data()
            .try_to_vec()
            .expect("f32");
        let (logits, probes) = model.forward_probed(x);
        let probed: Vec<f32> = logits.into_data().try_to_vec().expect("f32");
        assert_eq!(plain, probed, "forward_probed changed the logits");
        let got: Vec<(String, [usize; 2])> = probes
            .iter()
            .map(|p| (p.name.clone(), p.pre_activation.dims()))
            .collect();
        let want: Vec<(String, [usize; 2])> =
            expected.iter().map(|(n, d)| (n.to_string(), *d)).collect();
        assert_eq!(got, want);
    }
}
