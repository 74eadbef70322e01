use kiln_core::{BuildContext, Result, Rng, SearchSpace, SearchStrategy, StudyView, Suggestion};
use serde::Deserialize;

/// Parameters of [`RandomSearch`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomConfig {
    /// Overrides the pipeline's seed.
    pub seed: Option<u64>,
}

/// Uniform (log-uniform for log parameters) random search.
///
/// Each trial draws from its own stream, derived from the seed and the trial number, so
/// the sequence does not depend on how many workers run or in which order trials finish,
/// and a resumed study continues it with no saved state.
#[derive(Debug, Clone)]
pub struct RandomSearch {
    seed: u64,
}

impl RandomSearch {
    /// A random search seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        RandomSearch { seed }
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: RandomConfig = ctx.parse(params)?;
        Ok(RandomSearch::new(c.seed.unwrap_or(ctx.seed)))
    }
}

impl SearchStrategy for RandomSearch {
    fn ask(&mut self, space: &SearchSpace, _: &StudyView<'_>, number: u64) -> Result<Suggestion> {
        let mut rng = Rng::derive(self.seed, &[number]);
        Ok(Suggestion::new(space.sample_uniform(&mut rng)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        kiln_core::testing::check_search_strategy(|seed| Box::new(super::RandomSearch::new(seed)));
    }
}
