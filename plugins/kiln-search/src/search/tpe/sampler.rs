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
use super::observe::{Observations, SplitParams, TrialMemo, default_weights};
use super::parzen::{EvalScratch, Mixture, MixtureParams};
use kiln_core::{
    Params, Result, Rng, SearchSpace, SearchStrategy, StudyView, Suggestion, TrialState,
};

/// Tree-structured Parzen Estimator search (see the module docs of `tpe`).
///
/// Stateless: each ask draws from its own stream `Rng::derive(seed, [number])` and reads
/// everything else from the study, so parallel and resumed runs reproduce the sequence
/// (`save_state` is `null`). What it keeps between asks are caches that never change a
/// suggestion: finished trials' coordinates by number (see `TrialMemo`) and scratch
/// buffers.
#[derive(Debug, Clone)]
pub struct TpeSearch {
    config: TpeConfig,
    seed: u64,
    scratch: Scratch,
    memo: TrialMemo,
    /// The last ask's observations, kept for their buffers.
    observations: Observations,
}

/// Buffers reused from one ask to the next (not state: never saved; each is overwritten
/// before it is read, except the memo of discrete cell masses, a pure function of its key).
#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Observation coordinates, one column per dimension of the group.
    below: Vec<Vec<f64>>,
    above: Vec<Vec<f64>>,
    w_below: Vec<f64>,
    w_above: Vec<f64>,
    cands: Vec<f64>,
    log_l: Vec<f64>,
    log_g: Vec<f64>,
    eval: EvalScratch,
    /// Each observation's group (see `sample_group`).
    group: Vec<u8>,
    /// The trial numbers of this ask's "above" rows, and of those `g` was last fitted to
    /// (with the group and the space): see `sample_group`.
    above_rows: Vec<u64>,
    g_rows: Vec<u64>,
    g_dims: Vec<usize>,
    g_space: Option<SearchSpace>,
    /// The "below" and "above" estimators, refitted in place.
    l: Mixture,
    g: Mixture,
}

impl TpeSearch {
    /// A TPE search with `config`, seeded with `seed` (the config's `seed` is ignored here;
    /// [`super::register`] resolves it). The config must be valid (see `TpeConfig::check`).
    pub fn new(config: TpeConfig, seed: u64) -> Self {
        TpeSearch {
            config,
            seed,
            scratch: Scratch::default(),
            memo: TrialMemo::default(),
            observations: Observations::default(),
        }
    }

    fn mixture_params(&self) -> MixtureParams {
        MixtureParams {
            consider_endpoints: self.config.consider_endpoints,
            prior_weight: self.config.prior_weight,
        }
    }

    /// Samples the parameters `members` (indices into the space) jointly into `chosen`.
    fn sample_group(
        &mut self,
        space: &SearchSpace,
        axes: &[Axis<'_>],
        obs: &Observations,
        members: &[usize],
        rng: &mut Rng,
        chosen: &mut Params,
    ) {
        let specs = space.params();
        let dims: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| !axes[i].is_single())
            .collect();
        for &i in members.iter().filter(|&&i| axes[i].is_single()) {
            chosen.insert(specs[i].name.clone(), axes[i].value(0.5));
        }
        if dims.is_empty() {
            return;
        }
        let group_axes: Vec<&Axis<'_>> = dims.iter().map(|&i| &axes[i]).collect();
        let p = self.mixture_params();
        let n_candidates = self.config.n_ei_candidates.max(1);
        let s = &mut self.scratch;
        for cols in [&mut s.below, &mut s.above] {
            cols.resize_with(dims.len(), Vec::new);
            cols.iter_mut().for_each(Vec::clear);
        }
        s.w_below.clear();
        let mut n_above = 0;
        // Each row's group (0: a parameter inactive, 1: below, 2: above), then the columns.
        s.group.clear();
        s.group
            .extend(obs.below.iter().enumerate().map(|(r, &below)| {
                let row = obs.row(r);
                if dims.iter().any(|&i| row[i].is_nan()) {
                    0
                } else if below {
                    1
                } else {
                    2
                }
            }));
        s.above_rows.clear();
        s.above_rows.extend(
            s.group
                .iter()
                .zip(&obs.numbers)
                .filter(|&(&g, _)| g == 2)
                .map(|(_, &number)| number),
        );
        // When the "above" rows are those `g` was fitted to plus new ones after them (a
        // sequential study, once it is past the bandwidth floor's growth), `g` is extended
        // with the new rows only: the same estimator, bit for bit, for a fraction of the
        // work. Anything else (new "below" trials, running trials that finished, another
        // group or space) refits.
        let fitted = s.g_rows.len();
        let extend = s.g.can_append()
            && s.g_dims == dims
            && s.g_space.as_ref() == Some(space)
            && s.above_rows.len() > fitted
            && s.above_rows[..fitted] == s.g_rows[..];
        let skip_above = if extend { fitted } else { 0 };
        // One pass over the rows, each row's coordinates into its group's columns.
        let mut above_seen = 0;
        for (r, &g) in s.group.iter().enumerate() {
            let cols = match g {
                1 => &mut s.below,
                2 => {
                    above_seen += 1;
                    if above_seen <= skip_above {
                        continue;
                    }
                    &mut s.above
                }
                _ => continue,
            };
            let row = obs.row(r);
            for (col, &i) in cols.iter_mut().zip(&dims) {
                col.push(row[i]);
            }
        }
        n_above += s.above_rows.len();
        s.w_below.resize(s.below.first().map_or(0, Vec::len), 1.0);
        if s.w_below.is_empty() && n_above == 0 {
            // Never observed (a branch no trial took yet): nothing to learn from.
            for &i in &dims {
                chosen.insert(specs[i].name.clone(), specs[i].distribution.sample(rng));
            }
            return;
        }
        if !obs.multi_objective {
            // Optuna's recency ramp; flat for the (at most 25 by default) below group.
            default_weights(s.w_below.len(), &mut s.w_below);
        }
        default_weights(n_above, &mut s.w_above);
        s.l.fit(&s.below, &s.w_below, &group_axes, &p);
        s.l.sample(rng, n_candidates, &group_axes, &mut s.cands);
        s.l.log_pdf(&s.cands, &group_axes, &mut s.log_l, &mut s.eval);
        if extend {
            s.g.append(&s.above, &s.w_above, &p);
        } else {
            s.g.fit(&s.above, &s.w_above, &group_axes, &p);
            if s.g_space.as_ref() != Some(space) {
                s.g_space = Some(space.clone());
            }
            s.g_dims.clone_from(&dims);
        }
        std::mem::swap(&mut s.g_rows, &mut s.above_rows);
        s.g.log_pdf(&s.cands, &group_axes, &mut s.log_g, &mut s.eval);
        let mut best = 0;
        let mut best_score = f64::NEG_INFINITY;
        for (c, (ll, lg)) in s.log_l.iter().zip(&s.log_g).enumerate() {
            let score = ll - lg;
            if score > best_score {
                best = c;
                best_score = score;
            }
        }
        let d = dims.len();
        for (j, &i) in dims.iter().enumerate() {
            let u = s.cands[best * d + j];
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
        let split = SplitParams {
            constant_liar: self.config.constant_liar,
            gamma: self.config.gamma,
            max_below: self.config.max_below,
        };
        let mut obs = std::mem::take(&mut self.observations);
        obs.refill(&mut self.memo, space, &axes, study, number, &split);

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
        self.observations = obs;
        Ok(Suggestion::new(chosen))
    }
}
