//! kiln's built-in models.
//!
//! | model | kind | hyperparameters (all searchable as `model.<name>`) |
//! |---|---|---|
//! | multi-layer perceptron | `mlp` | `layers` (2), `width` (256), `activation`, `negative_slope`, `dropout` (0), `batch_norm` (false) |
//! | small CNN | `cnn` | `conv_layers` (2), `filters` (16, doubling per block), `kernel` (3), `dense` (128, 0 for none), `activation`, `negative_slope`, `dropout` (0), `batch_norm` (true) |
//!
//! Activations: `relu`, `leaky_relu` (with `negative_slope`), `gelu`, `silu`, `tanh`.

mod activation;
mod cnn;
mod mlp;

pub use activation::Activation;
pub use cnn::{Cnn, CnnConfig};
pub use mlp::{Mlp, MlpConfig};

use kiln_core::{Registrar, Result};

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
