//! Template plugin: one search strategy, `centre_out`, that tries the centre of the space
//! first and then random points. Replace it with yours; keep the three pieces:
//! a plugin type with a validated config, a `register` function, `declare_plugin!`.

use kiln_core::{
    BuildContext, Params, Registrar, Result, Rng, SearchSpace, SearchStrategy, StudyView,
    Suggestion,
};
use serde::Deserialize;

/// Parameters, validated once when the pipeline is checked. Unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentreOutConfig {
    /// Overrides the pipeline's seed.
    pub seed: Option<u64>,
}

/// The centre of the space, then uniform random points.
#[derive(Debug, Clone)]
pub struct CentreOut {
    seed: u64,
}

impl SearchStrategy for CentreOut {
    fn ask(
        &mut self,
        space: &SearchSpace,
        _study: &StudyView<'_>,
        number: u64,
    ) -> Result<Suggestion> {
        if number == 0 {
            let mut centre = Params::new();
            for p in space.params() {
                if SearchSpace::is_active(p, &centre) {
                    centre.insert(p.name.clone(), p.distribution.from_unit(0.5));
                }
            }
            return Ok(Suggestion::new(centre));
        }
        // One stream per trial: reproducible whatever the order trials finish in.
        Ok(Suggestion::new(
            space.sample_uniform(&mut Rng::derive(self.seed, &[number])),
        ))
    }
}

/// Registers the plugins of this library — the same code a static plugin would have.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.search(
        "centre_out",
        "the centre of the space, then random points",
        |params, ctx: &BuildContext| {
            let c: CentreOutConfig = ctx.parse(params)?;
            Ok(Box::new(CentreOut {
                seed: c.seed.unwrap_or(ctx.seed),
            }))
        },
    )
}

kiln_core::declare_plugin!(register);

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        kiln_core::testing::check_search_strategy(|seed| Box::new(super::CentreOut { seed }));
    }
}
