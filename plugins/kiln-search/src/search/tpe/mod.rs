//! (work in progress)
use kiln_core::{Registrar, Result};

/// Registers this module's strategies.
pub fn register(_r: &mut Registrar<'_>) -> Result<()> {
    Ok(())
}
