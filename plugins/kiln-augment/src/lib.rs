//! kiln's built-in augmenters.
//!
//! | augmenter | kind | parameters | notes |
//! |---|---|---|---|
//! | horizontal flip | `hflip` | `p` (0.5) | mirrors each sample with probability `p`, one draw per sample |

mod hflip;

pub use hflip::{HFlip, HFlipConfig};

use kiln_core::{Registrar, Result};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.augmenter(
        "hflip",
        "mirror each image left-right with probability `p`",
        |params, ctx| Ok(Box::new(HFlip::from_params(params, ctx)?)),
    )
}

kiln_core::submit_plugin!(register);
