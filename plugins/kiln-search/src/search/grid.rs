use kiln_core::{
    BuildContext, Distribution, Error, ParamValue, Params, Result, Rng, SearchSpace,
    SearchStrategy, StudyView, Suggestion,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Parameters of [`GridSearch`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GridConfig {
    /// Points per numeric axis, spread evenly (log-evenly for log parameters) from low to
    /// high; integers and steps are rounded and duplicates dropped.
    pub points: usize,
    /// Explicit values for some parameters, overriding `points` for them.
    pub values: BTreeMap<String, Vec<ParamValue>>,
    /// Visit the grid in a seeded random order instead of in order.
    pub shuffle: bool,
    /// Overrides the pipeline's seed (for `shuffle`).
    pub seed: Option<u64>,
}

impl Default for GridConfig {
    fn default() -> Self {
        GridConfig {
            points: 3,
            values: BTreeMap::new(),
            shuffle: false,
            seed: None,
        }
    }
}

/// Exhaustive grid search. Every combination of the axes' values (inactive conditional
/// parameters removed, duplicates merged) is proposed once; the next point is the first
/// one no trial of the study has yet, so a resumed or parallel study never repeats one.
#[derive(Debug, Clone)]
pub struct GridSearch {
    config: GridConfig,
    seed: u64,
}

impl GridSearch {
    /// A grid with `config`, seeded with `seed`.
    pub fn new(config: GridConfig, seed: u64) -> Result<Self> {
        if config.points == 0 {
            return Err(Error::config("points", "must be at least 1"));
        }
        Ok(GridSearch { config, seed })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: GridConfig = ctx.parse(params)?;
        if c.points == 0 {
            return Err(Error::config(
                format!("{}.points", ctx.key),
                "must be at least 1",
            ));
        }
        let seed = c.seed.unwrap_or(ctx.seed);
        GridSearch::new(c, seed)
    }

    fn axis(&self, name: &str, d: &Distribution) -> Vec<ParamValue> {
        if let Some(v) = self.config.values.get(name) {
            return v.iter().filter(|x| d.contains(x)).cloned().collect();
        }
        let mut out: Vec<ParamValue> = match d {
            Distribution::Categorical { choices } => choices.clone(),
            _ => {
                let n = self.config.points;
                (0..n)
                    .map(|i| {
                        d.from_unit(if n == 1 {
                            0.5
                        } else {
                            i as f64 / (n - 1) as f64
                        })
                    })
                    .collect()
            }
        };
        out.dedup();
        out
    }

    /// Every point of the grid, in visiting order.
    pub fn points(&self, space: &SearchSpace) -> Vec<Params> {
        let mut grid: Vec<Params> = vec![Params::new()];
        for spec in space.params() {
            let axis = self.axis(&spec.name, &spec.distribution);
            let mut next = Vec::with_capacity(grid.len() * axis.len().max(1));
            for p in grid {
                if SearchSpace::is_active(spec, &p) && !axis.is_empty() {
                    for v in &axis {
                        let mut q = p.clone();
                        q.insert(spec.name.clone(), v.clone());
                        next.push(q);
                    }
                } else {
                    next.push(p);
                }
            }
            grid = next;
        }
        if self.config.shuffle {
            Rng::new(self.seed).shuffle(&mut grid);
        }
        grid
    }
}

impl SearchStrategy for GridSearch {
    fn ask(&mut self, space: &SearchSpace, study: &StudyView<'_>, _: u64) -> Result<Suggestion> {
        let points = self.points(space);
        points
            .into_iter()
            .find(|p| !study.trials.iter().any(|t| &t.params == p))
            .map(Suggestion::new)
            .ok_or_else(|| Error::Exhausted("every grid point has been tried".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conforms() {
        kiln_core::testing::check_search_strategy(|seed| {
            Box::new(GridSearch::new(GridConfig::default(), seed).expect("grid"))
        });
    }

    #[test]
    fn visits_every_point_once_then_reports_exhaustion() {
        let space = kiln_core::testing::mixed_space();
        let g = GridSearch::new(
            GridConfig {
                points: 2,
                ..GridConfig::default()
            },
            0,
        )
        .expect("grid");
        let pts = g.points(&space);
        // 6 numeric axes × 2 points × (relu + gelu + leaky_relu × 2 slopes) = 64 × 4.
        assert_eq!(pts.len(), 64 * 4);
        for p in &pts {
            space.check(p).expect("grid point inside the space");
        }
    }
}
