//! An example kiln plugin loaded from a shared library at run time:
//!
//! | family | kind | parameters |
//! |---|---|---|
//! | search | `annealing` | `seed`, `t0` (1.0), `cooling` (0.95), `step` (0.15) |
//! | augmenter | `gaussian_noise` | `p` (0.5), `sigma` (0.1) |
//!
//! Build it with `cargo build --release -p kiln-example-dynamic`, then
//! `kiln run PIPELINE --plugin target/release/libkiln_example_dynamic.so` with
//! `search = { kind = "annealing" }` in the pipeline. The registration code is the same as
//! a static plugin's; `declare_plugin!` is the only addition.

mod annealing;
mod noise;

pub use annealing::Annealing;
pub use noise::GaussianNoise;

use kiln_core::{Registrar, Result};

/// Registers this library's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.search(
        "annealing",
        "simulated annealing in the unit cube, replayed from the study (stateless)",
        |params, ctx| Ok(Box::new(Annealing::from_params(params, ctx)?)),
    )?;
    r.augmenter(
        "gaussian_noise",
        "add Gaussian pixel noise to each image with probability `p`",
        |params, ctx| Ok(Box::new(GaussianNoise::from_params(params, ctx)?)),
    )
}

#[cfg(not(feature = "fake-incompatible"))]
kiln_core::declare_plugin!(register);

/// A record that claims another compiler and ABI version, to test that the loader refuses
/// it (feature `fake-incompatible`).
#[cfg(feature = "fake-incompatible")]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub static KILN_PLUGIN_DECLARATION: kiln_core::abi::PluginDeclaration = {
    let mut d = kiln_core::abi::PluginDeclaration::new(
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        register,
    );
    d.abi_version = 999;
    d.rustc_version = kiln_core::abi::StrRef::new("rustc 1.0.0-nightly (fake 2015-05-15)");
    d
};
