use kiln_core::{
    BuildContext, Error, FrozenTrial, Params, Result, Rng, SearchSpace, SearchStrategy, StudyView,
    Suggestion, TrialState,
};
use serde::Deserialize;

/// Parameters of [`Annealing`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnnealingConfig {
    /// Overrides the pipeline's seed.
    pub seed: Option<u64>,
    /// Starting temperature, in units of the objective's spread.
    pub t0: f64,
    /// Temperature factor per finished trial.
    pub cooling: f64,
    /// Proposal step in the unit cube, at temperature 1.
    pub step: f64,
}

impl Default for AnnealingConfig {
    fn default() -> Self {
        AnnealingConfig {
            seed: None,
            t0: 1.0,
            cooling: 0.95,
            step: 0.15,
        }
    }
}

/// Simulated annealing. The walk is replayed from the study's finished trials on every ask
/// (each acceptance draw comes from its trial's own stream), so the strategy keeps no
/// state: a resumed study continues exactly.
#[derive(Debug, Clone)]
pub struct Annealing {
    config: AnnealingConfig,
    seed: u64,
}

impl Annealing {
    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: AnnealingConfig = ctx.parse(params)?;
        if !(c.cooling > 0.0 && c.cooling <= 1.0) {
            return Err(Error::config(
                format!("{}.cooling", ctx.key),
                format!("must be in (0, 1], got {}", c.cooling),
            ));
        }
        if !(c.t0 > 0.0 && c.step > 0.0) {
            return Err(Error::config(
                ctx.key.clone(),
                "`t0` and `step` must be > 0",
            ));
        }
        Ok(Annealing {
            seed: c.seed.unwrap_or(ctx.seed),
            config: c,
        })
    }

    fn propose(
        &self,
        space: &SearchSpace,
        current: Option<&Params>,
        temperature: f64,
        rng: &mut Rng,
    ) -> Params {
        let Some(current) = current else {
            return space.sample_uniform(rng);
        };
        let mut out = Params::new();
        for p in space.params() {
            if !SearchSpace::is_active(p, &out) {
                continue;
            }
            let here = current.get(&p.name).and_then(|v| p.distribution.to_unit(v));
            let v = match here {
                Some(u) => {
                    let s = self.config.step * temperature.clamp(0.05, 1.0);
                    p.distribution
                        .from_unit((u + s * rng.normal()).clamp(0.0, 1.0))
                }
                // Categorical, or newly active: keep the current choice mostly, sometimes move.
                None => match current.get(&p.name) {
                    Some(v) if rng.uniform() > 0.3 * temperature.min(1.0) => v.clone(),
                    _ => p.distribution.sample(rng),
                },
            };
            out.insert(p.name.clone(), v);
        }
        out
    }
}

impl SearchStrategy for Annealing {
    fn ask(
        &mut self,
        space: &SearchSpace,
        study: &StudyView<'_>,
        number: u64,
    ) -> Result<Suggestion> {
        let dir = study.direction();
        let mut finished: Vec<&FrozenTrial> = study
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.value().is_some_and(f64::is_finite))
            .collect();
        finished.sort_by_key(|t| t.number);
        let spread = {
            let v: Vec<f64> = finished.iter().filter_map(|t| t.value()).collect();
            let (lo, hi) = v
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                    (a.min(*x), b.max(*x))
                });
            if hi > lo { hi - lo } else { 1.0 }
        };
        let mut current: Option<(&Params, f64)> = None;
        let mut temperature = self.config.t0;
        for t in &finished {
            let value = t.value().unwrap_or(f64::NAN);
            let accept = match current {
                None => true,
                Some((_, cur)) if dir.better(value, cur) || value == cur => true,
                Some((_, cur)) => {
                    let delta = (value - cur).abs() / spread;
                    Rng::derive(self.seed, &[t.number, 1]).uniform() < (-delta / temperature).exp()
                }
            };
            if accept {
                current = Some((&t.params, value));
            }
            temperature *= self.config.cooling;
        }
        let mut rng = Rng::derive(self.seed, &[number, 0]);
        Ok(Suggestion::new(self.propose(
            space,
            current.map(|(p, _)| p),
            temperature,
            &mut rng,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conforms() {
        kiln_core::testing::check_search_strategy(|seed| {
            Box::new(
                Annealing::from_params(&serde_json::json!({}), &BuildContext::new(seed))
                    .expect("valid"),
            )
        });
    }
}
