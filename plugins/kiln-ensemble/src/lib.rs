//! kiln's built-in ensemblers.
//!
//! | ensembler | kind | parameters | notes |
//! |---|---|---|---|
//! | soft vote | `soft_vote` | `select` (`all` or `greedy`), `max_members` | averages probabilities; greedy forward selection on validation accuracy (Caruana et al., 2004) |

mod soft_vote;

pub use soft_vote::{SoftVote, SoftVoteConfig};

use kiln_core::{Registrar, Result};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.ensembler(
        "soft_vote",
        "average the members' class probabilities; members chosen greedily on validation",
        |params, ctx| Ok(Box::new(SoftVote::new(ctx.parse(params)?))),
    )
}

kiln_core::submit_plugin!(register);
