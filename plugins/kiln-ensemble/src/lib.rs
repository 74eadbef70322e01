//! kiln's built-in ensemblers.
//!
//! An ensembler is fitted once on the candidates' validation predictions and gives each a
//! weight (0 leaves it out); the same weights combine the members' test predictions.
//!
//! | ensembler | kind | parameters | fitted on validation | combines |
//! |---|---|---|---|---|
//! | soft vote | `soft_vote` | — | nothing: equal weights | mean probability |
//! | hard vote | `hard_vote` | — | nothing: equal weights | share of votes for each member's top class; ties to the higher mean probability |
//! | weighted average | `weighted` | `iterations` (500), `tolerance` (1e-9), `prune` (0.01) | weights minimising the log-loss of the average (EM on the mixture weights) | weighted mean probability |
//! | greedy selection | `greedy` | `init_k` (1), `max_members` (25), `metric` (`accuracy` or `nll`), `bags` (1), `bag_fraction` (0.5) | pick counts, Caruana et al. (2004): forward selection with replacement, best prefix kept, optional bagging from the seed | weighted mean probability |

mod greedy;
mod hard_vote;
mod soft_vote;
mod weighted;

pub use greedy::{Greedy, GreedyConfig, Metric};
pub use hard_vote::{HardVote, HardVoteConfig};
pub use soft_vote::{SoftVote, SoftVoteConfig};
pub use weighted::{Weighted, WeightedConfig};

use kiln_core::{Registrar, Result};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.ensembler(
        "soft_vote",
        "average the members' class probabilities, all members alike",
        |params, ctx| {
            let _: SoftVoteConfig = ctx.parse(params)?;
            Ok(Box::new(SoftVote))
        },
    )?;
    r.ensembler(
        "hard_vote",
        "majority vote of the members' top classes",
        |params, ctx| {
            let _: HardVoteConfig = ctx.parse(params)?;
            Ok(Box::new(HardVote))
        },
    )?;
    r.ensembler(
        "weighted",
        "weighted average, weights fitted to the validation log-loss",
        |params, ctx| Ok(Box::new(Weighted::from_params(params, ctx)?)),
    )?;
    r.ensembler(
        "greedy",
        "greedy forward selection with replacement on validation (Caruana et al., 2004)",
        |params, ctx| Ok(Box::new(Greedy::from_params(params, ctx)?)),
    )?;
    Ok(())
}

kiln_core::submit_plugin!(register);
