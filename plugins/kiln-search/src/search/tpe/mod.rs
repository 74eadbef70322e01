//! stub
use kiln_core::{Registrar, Result};
/// stub
pub fn register(_r: &mut Registrar<'_>) -> Result<()> {
    Ok(())
}
