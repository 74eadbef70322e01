//! The log-mesh grid: the seed's method for parameters that interact.
//!
//! Each numeric axis is a mesh in the unit cube of its distribution (`Distribution::to_unit`):
//! on a log axis consecutive mesh values differ by `factor` (10 by default); on a linear axis
//! the range is cut into `linear_steps` cells. The first mesh holds the `points` middle values
//! of every axis (categoricals: every choice), and every point is shifted at random within
//! its cell, so the mesh does not hide what lies between its points.
//!
//! When all points of the mesh are in and the best one lies on the mesh's border along an
//! axis, the mesh is extended one step beyond that border — along that axis, through the
//! best point — and tested there, again and again, until the best point is inside or the
//! distribution's bound (the hard bound) is reached. Then the next round starts, centred on
//! the best point with its own `factor` and epoch budget (coarse-to-fine), or the search is
//! done ([`kiln_core::Error::Exhausted`]).
//!
//! Values from different rounds are never compared: each round has its own budget.
//! State (rounds, cells, values) is saved as JSON; results are matched to cells by their
//! parameters, so a trial re-run after a crash counts for its cell.

use kiln_core::{
    BuildContext, Distribution, Error, FrozenTrial, Params, Result, Rng, SearchSpace,
    SearchStrategy, StudyView, Suggestion, TrialState,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// One round of the mesh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundConfig {
    /// Ratio of consecutive values on log axes.
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// Mesh values per axis in the first mesh of the round (odd keeps the centre on it).
    #[serde(default = "default_points")]
    pub points: usize,
    /// Epochs per trial in this round; `None` keeps the stage's.
    pub epochs: Option<usize>,
}

fn default_factor() -> f64 {
    10.0
}
fn default_points() -> usize {
    3
}

/// Parameters of [`LogMesh`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogMeshConfig {
    /// Rounds, coarse to fine. Absent: one round of `factor`, `points`, `epochs`.
    pub rounds: Option<Vec<RoundConfig>>,
    /// Ratio of consecutive values on log axes (single round).
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// Mesh values per axis (single round).
    #[serde(default = "default_points")]
    pub points: usize,
    /// Epochs per trial (single round).
    pub epochs: Option<usize>,
    /// Cells across the whole range of a linear axis in the first round; later rounds
    /// shrink linear cells by the ratio of their factors.
    #[serde(default = "default_linear_steps")]
    pub linear_steps: usize,
    /// Shift every point at random within its cell.
    #[serde(default = "yes")]
    pub jitter: bool,
    /// Extend the mesh beyond its border while the best point lies on it.
    #[serde(default = "yes")]
    pub expand: bool,
    /// Most extensions per round.
    #[serde(default = "default_max_expansions")]
    pub max_expansions: usize,
    /// Overrides the pipeline's seed.
    pub seed: Option<u64>,
}

fn default_linear_steps() -> usize {
    8
}
fn default_max_expansions() -> usize {
    8
}
fn yes() -> bool {
    true
}

/// A mesh cell: an index per numeric axis (0 = the round's centre), a choice per categorical.
type Cell = Vec<i64>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct RoundState {
    /// Centre of the round's mesh in the unit cube, per axis.
    centre: Vec<f64>,
    /// Cells to propose, in order.
    queue: VecDeque<Cell>,
    /// Proposed cells and the parameters given out for them.
    asked: Vec<(Cell, Params)>,
    /// Results: cell → value (`None` for failed trials; JSON has no NaN).
    values: Vec<(Cell, Option<f64>)>,
    expansions: usize,
    /// Filler points given out while the round's last cells were still running.
    fillers: u64,
}

/// Saved state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    round: usize,
    rounds: Vec<RoundState>,
    done: bool,
}

/// The log-mesh grid with jitter, border expansion and coarse-to-fine rounds.
#[derive(Debug, Clone)]
pub struct LogMesh {
    rounds: Vec<RoundConfig>,
    linear_steps: usize,
    jitter: bool,
    expand: bool,
    max_expansions: usize,
    seed: u64,
    state: State,
}

impl LogMesh {
    /// A log mesh from a validated config.
    pub fn new(c: LogMeshConfig, seed: u64, key: &str) -> Result<Self> {
        let rounds = c.rounds.clone().unwrap_or_else(|| {
            vec![RoundConfig {
                factor: c.factor,
                points: c.points,
                epochs: c.epochs,
            }]
        });
        if rounds.is_empty() {
            return Err(Error::config(
                format!("{key}.rounds"),
                "needs at least one round",
            ));
        }
        for (i, r) in rounds.iter().enumerate() {
            if !(r.factor > 1.0 && r.factor.is_finite()) {
                return Err(Error::config(
                    format!("{key}.rounds[{i}].factor"),
                    format!("must be > 1, got {}", r.factor),
                ));
            }
            if r.points == 0 || r.points > 33 {
                return Err(Error::config(
                    format!("{key}.rounds[{i}].points"),
                    format!("must be in 1..=33, got {}", r.points),
                ));
            }
            if r.epochs == Some(0) {
                return Err(Error::config(
                    format!("{key}.rounds[{i}].epochs"),
                    "must be at least 1",
                ));
            }
        }
        if c.linear_steps < 2 {
            return Err(Error::config(
                format!("{key}.linear_steps"),
                "must be at least 2",
            ));
        }
        Ok(LogMesh {
            rounds,
            linear_steps: c.linear_steps,
            jitter: c.jitter,
            expand: c.expand,
            max_expansions: c.max_expansions,
            seed: c.seed.unwrap_or(seed),
            state: State::default(),
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        LogMesh::new(ctx.parse(params)?, ctx.seed, &ctx.key)
    }

    /// The default coarse-to-fine schedule: factor 10 with 2-epoch trials, then factor 3
    /// with the stage's epochs.
    pub fn coarse_to_fine(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let mut c: LogMeshConfig = ctx.parse(params)?;
        if c.rounds.is_none() {
            c.rounds = Some(vec![
                RoundConfig {
                    factor: 10.0,
                    points: 3,
                    epochs: Some(2),
                },
                RoundConfig {
                    factor: 3.0,
                    points: 3,
                    epochs: None,
                },
            ]);
        }
        LogMesh::new(c, ctx.seed, &ctx.key)
    }

    /// Step of axis `d` in the unit cube for round `r`.
    fn step(&self, dist: &Distribution, r: usize) -> f64 {
        let factor = self.rounds[r].factor;
        match dist.numeric_bounds() {
            Some((lo, hi, true)) if hi > lo => factor.ln() / (hi.ln() - lo.ln()),
            Some(_) => {
                // Linear axes: the first round's factor sets the cell size; finer rounds
                // shrink it in proportion to their factor.
                let first = self.rounds[0].factor.ln();
                (1.0 / self.linear_steps as f64) * factor.ln() / first
            }
            None => 0.0,
        }
    }

    fn start_round(&mut self, space: &SearchSpace, centre: Vec<f64>) {
        let r = self.state.round;
        let points = self.rounds[r].points as i64;
        let half = (points - 1) / 2;
        let mut axes: Vec<Vec<i64>> = Vec::new();
        for (d, p) in space.params().iter().enumerate() {
            match &p.distribution {
                Distribution::Categorical { choices } => {
                    axes.push((0..choices.len() as i64).collect())
                }
                dist => {
                    let step = self.step(dist, r);
                    axes.push(
                        (-half..points - half)
                            .filter(|&k| {
                                (-1e-9..=1.0 + 1e-9).contains(&(centre[d] + k as f64 * step))
                            })
                            .collect(),
                    );
                }
            }
        }
        let mut cells: Vec<Cell> = vec![Vec::new()];
        for axis in &axes {
            let axis: &[i64] = if axis.is_empty() { &[0] } else { axis };
            cells = cells
                .into_iter()
                .flat_map(|c| axis.iter().map(move |&k| [c.as_slice(), &[k]].concat()))
                .collect();
        }
        self.state.rounds.push(RoundState {
            centre,
            queue: cells.into(),
            ..RoundState::default()
        });
    }

    fn params_of(&self, space: &SearchSpace, cell: &Cell, salt: u64) -> Params {
        let r = self.state.round;
        let round = &self.state.rounds[r];
        let mut rng = Rng::derive(self.seed, &[r as u64, salt]);
        let mut out = Params::new();
        for (d, p) in space.params().iter().enumerate() {
            let value = match &p.distribution {
                Distribution::Categorical { choices } => choices
                    .get(cell[d] as usize)
                    .cloned()
                    .unwrap_or_else(|| choices[0].clone()),
                dist => {
                    let step = self.step(dist, r);
                    let mut u = round.centre[d] + cell[d] as f64 * step;
                    if self.jitter {
                        u += (rng.uniform() - 0.5) * step;
                    }
                    dist.from_unit(u.clamp(0.0, 1.0))
                }
            };
            if SearchSpace::is_active(p, &out) {
                out.insert(p.name.clone(), value);
            }
        }
        out
    }

    fn best(&self, space: &SearchSpace, study: &StudyView<'_>) -> Option<(Cell, f64)> {
        let dir = study.direction();
        let round = self.state.rounds.get(self.state.round)?;
        let _ = space;
        round
            .values
            .iter()
            .filter_map(|(c, v)| v.filter(|v| v.is_finite()).map(|v| (c, v)))
            .fold(None, |best: Option<(Cell, f64)>, (c, v)| match best {
                Some((_, b)) if !dir.better(v, b) => best,
                _ => Some((c.clone(), v)),
            })
    }

    /// Extension cells beyond the border the best cell lies on, within hard bounds.
    fn expansions(&self, space: &SearchSpace, best: &Cell) -> Vec<Cell> {
        let r = self.state.round;
        let round = &self.state.rounds[r];
        let known: Vec<&Cell> = round.asked.iter().map(|(c, _)| c).collect();
        let mut out = Vec::new();
        for (d, p) in space.params().iter().enumerate() {
            if matches!(p.distribution, Distribution::Categorical { .. }) {
                continue;
            }
            let along: Vec<i64> = known
                .iter()
                .filter(|c| c.iter().enumerate().all(|(e, k)| e == d || *k == best[e]))
                .map(|c| c[d])
                .collect();
            let (Some(&lo), Some(&hi)) = (along.iter().min(), along.iter().max()) else {
                continue;
            };
            let step = self.step(&p.distribution, r);
            for (edge, dirn) in [(lo, -1i64), (hi, 1)] {
                if best[d] != edge {
                    continue;
                }
                let k = edge + dirn;
                let u = round.centre[d] + k as f64 * step;
                let at_bound = round.centre[d] + edge as f64 * step;
                // Stop at the hard bound: one cell may straddle it (clamped), none beyond.
                if (dirn < 0 && at_bound <= 1e-9)
                    || (dirn > 0 && at_bound >= 1.0 - 1e-9)
                    || !(u > -step && u < 1.0 + step)
                {
                    continue;
                }
                let mut cell = best.clone();
                cell[d] = k;
                if !known.contains(&&cell) && !out.contains(&cell) {
                    out.push(cell);
                }
            }
        }
        out
    }
}

fn centre_of(space: &SearchSpace, params: Option<&Params>) -> Vec<f64> {
    space
        .params()
        .iter()
        .map(|p| {
            params
                .and_then(|ps| ps.get(&p.name))
                .and_then(|v| p.distribution.to_unit(v))
                .unwrap_or(0.5)
        })
        .collect()
}

impl SearchStrategy for LogMesh {
    fn ask(
        &mut self,
        space: &SearchSpace,
        study: &StudyView<'_>,
        number: u64,
    ) -> Result<Suggestion> {
        if self.state.done {
            return Err(Error::Exhausted("every mesh round is finished".into()));
        }
        if self.state.rounds.is_empty() {
            self.start_round(space, centre_of(space, None));
        }
        loop {
            let r = self.state.round;
            let epochs = self.rounds[r].epochs;
            if let Some(cell) = self.state.rounds[r].queue.pop_front() {
                let salt = self.state.rounds[r].asked.len() as u64;
                let params = self.params_of(space, &cell, salt);
                self.state.rounds[r].asked.push((cell, params.clone()));
                return Ok(Suggestion { params, epochs });
            }
            let pending = {
                let round = &self.state.rounds[r];
                round.asked.len() > round.values.len()
            };
            if pending {
                // Parallel workers outran the mesh: sample inside the round's hull while
                // the last cells finish (these fillers never decide the border).
                let filler = self.state.rounds[r].fillers;
                self.state.rounds[r].fillers += 1;
                let mut rng = Rng::derive(self.seed, &[r as u64, u64::MAX - filler, number]);
                let round = &self.state.rounds[r];
                let mut params = Params::new();
                for (d, p) in space.params().iter().enumerate() {
                    let v = match &p.distribution {
                        Distribution::Categorical { .. } => p.distribution.sample(&mut rng),
                        dist => {
                            let step = self.step(dist, r);
                            let u = round.centre[d]
                                + (rng.uniform() - 0.5) * step * self.rounds[r].points as f64;
                            dist.from_unit(u.clamp(0.0, 1.0))
                        }
                    };
                    if SearchSpace::is_active(p, &params) {
                        params.insert(p.name.clone(), v);
                    }
                }
                return Ok(Suggestion { params, epochs });
            }
            let best = self.best(space, study);
            if let Some((cell, _)) = &best
                && self.expand
                && self.state.rounds[r].expansions < self.max_expansions
            {
                let more = self.expansions(space, cell);
                if !more.is_empty() {
                    let round = &mut self.state.rounds[r];
                    round.expansions += 1;
                    round.queue.extend(more);
                    continue;
                }
            }
            if r + 1 >= self.rounds.len() {
                self.state.done = true;
                return Err(Error::Exhausted(
                    "the best point is inside the mesh (or at a hard bound)".into(),
                ));
            }
            let centre = match best {
                Some((cell, _)) => {
                    let params = self.state.rounds[r]
                        .asked
                        .iter()
                        .find(|(c, _)| *c == cell)
                        .map(|(_, p)| p.clone());
                    centre_of(space, params.as_ref())
                }
                None => self.state.rounds[r].centre.clone(),
            };
            self.state.round += 1;
            self.start_round(space, centre);
        }
    }

    fn tell(&mut self, trial: &FrozenTrial) -> Result<()> {
        let value = match trial.state {
            TrialState::Complete => trial.value().unwrap_or(f64::NAN),
            TrialState::Pruned => trial.last_intermediate().map_or(f64::NAN, |(_, v)| v),
            _ => f64::NAN,
        };
        for round in &mut self.state.rounds {
            if let Some((cell, _)) = round.asked.iter().find(|(_, p)| *p == trial.params) {
                let cell = cell.clone();
                if !round.values.iter().any(|(c, _)| *c == cell) {
                    round
                        .values
                        .push((cell, Some(value).filter(|v| v.is_finite())));
                }
                return Ok(());
            }
        }
        Ok(())
    }

    fn save_state(&self) -> Result<serde_json::Value> {
        serde_json::to_value(&self.state)
            .map_err(|e| Error::Training(format!("log mesh state: {e}")))
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        if state.is_null() {
            return Ok(());
        }
        self.state = serde_json::from_value(state.clone()).map_err(|e| {
            Error::config("search.state", format!("unreadable log mesh state: {e}"))
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
