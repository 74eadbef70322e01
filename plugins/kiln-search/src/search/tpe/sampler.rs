//! The TPE strategy: read the study, split it, and for each group of parameters sample
//! candidates from the "below" estimator `l(x)` and keep the one maximising `l(x) / g(x)`.
//!
//! Conditional parameters are handled by walking the space level by level, parents first,
//! as [`SearchSpace::sample_uniform`] does: first every unconditional parameter, then the
//! parameters the chosen values switched on, and so on. In multivariate mode each level is
//! split into groups of parameters sharing the same condition (they are always active
//! together, like the groups of Optuna's `group=True` decomposition) and every group is
//! modelled jointly from the trials where all its members were active. In univariate mode
//! every parameter is its own group. Parameters with one possible value are set directly.

use super::TpeConfig;
use super::axis::Axis;
use super::observe::{Observations, default_weights};
use super::parzen::ParzenEstimator;
use kiln_core::{
    Params, Result, Rng, SearchSpace, SearchStrategy, StudyView, Suggestion, TrialState,
};

/// Tree-structured Parzen Estimator search (see the module docs of `tpe`).
///
/// Stateless: each ask draws from its own stream `Rng::derive(seed, [number])` and reads
/// everything else from the study, so parallel and resumed runs reproduce the sequence
/// (`save_state` is `null`).
#[derive(Debug, Clone)]
pub struct TpeSearch {
    config: TpeConfig,
    seed: u64,
}

impl TpeSearch {
    /// A TPE search with `config`, seeded with `seed` (the config's `seed` is ignored here;
    /// [`crate::register`] resolves it). The config must be valid (see `TpeConfig::check`).
    pub fn new(config: TpeConfig, seed: u64) -> Self {
        TpeSearch { config, seed }
    }

    /// Samples the parameters `members` (indices into the space) jointly into `chosen`.
    fn sample_group(
        &self,
        space: &SearchSpace,
        axes: &[Axis<'_>],
        obs: &Observations,
        members: &[usize],
        rng: &mut Rng,
        chosen: &mut Params,
    ) {
        let specs = space.params();
        let (single, dims): (Vec<usize>, Vec<usize>) =
            members.iter().partition(|&&i| axes[i].is_single());
        for &i in &single {
            chosen.insert(specs[i].name.clone(), axes[i].value(0.5));
        }
        if dims.is_empty() {
            return;
        }
        // The coordinates of the trials where every member was active, "below" and "above".
        let mut below: Vec<Vec<f64>> = vec![Vec::new(); dims.len()];
        let mut above: Vec<Vec<f64>> = vec![Vec::with_capacity(obs.rows()); dims.len()];
        for r in 0..obs.rows() {
            let row = obs.row(r);
            if dims.iter().any(|&i| row[i].is_nan()) {
                continue;
            }
            let columns = if obs.below[r] { &mut below } else { &mut above };
            for (column, &i) in columns.iter_mut().zip(&dims) {
                column.push(row[i]);
            }
        }
        let (n_below, n_above) = (below[0].len(), above[0].len());
        if n_below + n_above == 0 {
            // A branch no trial took yet: nothing to learn from.
            for &i in &dims {
                chosen.insert(specs[i].name.clone(), specs[i].distribution.sample(rng));
            }
            return;
        }
        // Optuna's recency ramp (flat for a "below" group of at most 25); with several
        // objectives every "below" observation weighs the same.
        let below_weights = if obs.multi_objective {
            vec![1.0; n_below]
        } else {
            default_weights(n_below)
        };
        let above_weights = default_weights(n_above);
        let group_axes: Vec<&Axis<'_>> = dims.iter().map(|&i| &axes[i]).collect();
        let l = ParzenEstimator::fit(below, &below_weights, &group_axes, &self.config);
        let candidates: Vec<Vec<f64>> = (0..self.config.n_ei_candidates.max(1))
            .map(|_| l.sample(rng, &group_axes))
            .collect();
        let log_l = l.log_pdf(&candidates, &group_axes);
        let g = ParzenEstimator::fit(above, &above_weights, &group_axes, &self.config);
        let log_g = g.log_pdf(&candidates, &group_axes);
        // The largest l / g; the first of equal ones.
        let mut best = 0;
        let mut best_score = f64::NEG_INFINITY;
        for (c, (ll, lg)) in log_l.iter().zip(&log_g).enumerate() {
            if ll - lg > best_score {
                best = c;
                best_score = ll - lg;
            }
        }
        for (&i, &u) in dims.iter().zip(&candidates[best]) {
            chosen.insert(specs[i].name.clone(), axes[i].value(u));
        }
    }
}

impl SearchStrategy for TpeSearch {
    fn ask(
        &mut self,
        space: &SearchSpace,
        study: &StudyView<'_>,
        number: u64,
    ) -> Result<Suggestion> {
        let mut rng = Rng::derive(self.seed, &[number]);
        let complete = study
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.number != number)
            .count();
        if space.is_empty() || complete < self.config.n_startup_trials {
            return Ok(Suggestion::new(space.sample_uniform(&mut rng)));
        }
        let axes: Vec<Axis<'_>> = space
            .params()
            .iter()
            .map(|p| Axis::new(&p.distribution))
            .collect();
        let obs = Observations::collect(space, &axes, study, number, &self.config);

        let specs = space.params();
        let parent: Vec<Option<usize>> = specs
            .iter()
            .map(|s| {
                let c = s.condition.as_ref()?;
                specs.iter().position(|q| q.name == c.parent)
            })
            .collect();
        let mut done = vec![false; specs.len()];
        let mut chosen = Params::new();
        loop {
            // Decidable now: unconditional parameters, and those whose parent was set by an
            // earlier level (not this one: its value is not chosen yet).
            let ready: Vec<usize> = (0..specs.len())
                .filter(|&i| !done[i] && parent[i].is_none_or(|pi| done[pi]))
                .collect();
            if ready.is_empty() {
                break;
            }
            let mut level: Vec<usize> = Vec::new();
            for &i in &ready {
                done[i] = true;
                if SearchSpace::is_active(&specs[i], &chosen) {
                    level.push(i);
                }
            }
            // Groups: one per distinct condition (multivariate) or one per parameter.
            let mut groups: Vec<Vec<usize>> = Vec::new();
            for &i in &level {
                let joint = self.config.multivariate;
                match groups
                    .iter_mut()
                    .find(|g| joint && specs[g[0]].condition == specs[i].condition)
                {
                    Some(g) => g.push(i),
                    None => groups.push(vec![i]),
                }
            }
            for g in &groups {
                self.sample_group(space, &axes, &obs, g, &mut rng, &mut chosen);
            }
        }
        Ok(Suggestion::new(chosen))
    }
}
