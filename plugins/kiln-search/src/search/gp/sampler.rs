//! The GP strategy: read the study, fit the process, maximise expected improvement.

use super::GpConfig;
use super::model::Gp;
use kiln_core::{
    Direction, Distribution, Params, Result, Rng, SearchSpace, SearchStrategy, StudyView,
    Suggestion, TrialState,
};

/// Gaussian-process Bayesian optimisation (see the module docs of `gp`).
#[derive(Debug, Clone)]
pub struct GpSearch {
    config: GpConfig,
    seed: u64,
}

impl GpSearch {
    /// A GP search with `config` (valid: see `GpConfig::check`), seeded with `seed`.
    pub fn new(config: GpConfig, seed: u64) -> Self {
        GpSearch { config, seed }
    }
}

/// The parameters the process models: unconditional, numeric, with more than one value.
fn modelled(space: &SearchSpace) -> Vec<usize> {
    space
        .params()
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.condition.is_none()
                && !matches!(p.distribution, Distribution::Categorical { .. })
                && p.distribution.single().is_none()
        })
        .map(|(i, _)| i)
        .collect()
}

/// Expected improvement below `best` of a normal `(mean, sd)`.
fn expected_improvement(mean: f64, sd: f64, best: f64) -> f64 {
    let z = (best - mean) / sd;
    let cdf = 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
    let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    ((best - mean) * cdf + sd * pdf).max(0.0)
}

impl GpSearch {
    /// The observations: modelled coordinates and the first objective as a loss, of the
    /// complete trials with a finite value; at most `max_observations` of them (the best
    /// half, then the most recent).
    fn observations(
        &self,
        space: &SearchSpace,
        dims: &[usize],
        study: &StudyView<'_>,
    ) -> (Vec<Vec<f64>>, Vec<f64>) {
        let sign = if study.direction() == Direction::Maximize {
            -1.0
        } else {
            1.0
        };
        let specs = space.params();
        let mut rows: Vec<(Vec<f64>, f64)> = study
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .filter_map(|t| {
                let loss = sign * t.values.as_ref()?.first()?;
                if !loss.is_finite() {
                    return None;
                }
                let x: Option<Vec<f64>> = dims
                    .iter()
                    .map(|&i| specs[i].distribution.to_unit(t.params.get(&specs[i].name)?))
                    .collect();
                Some((x?, loss))
            })
            .collect();
        let cap = self.config.max_observations;
        if rows.len() > cap {
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.sort_by(|&a, &b| rows[a].1.total_cmp(&rows[b].1).then(a.cmp(&b)));
            let mut keep = vec![false; rows.len()];
            for &i in &order[..cap / 2] {
                keep[i] = true;
            }
            let mut left = cap - cap / 2;
            for i in (0..rows.len()).rev() {
                if left == 0 {
                    break;
                }
                if !keep[i] {
                    keep[i] = true;
                    left -= 1;
                }
            }
            let mut i = 0;
            rows.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        rows.into_iter().unzip()
    }

    /// The point of the unit cube with the largest expected improvement found: random
    /// points and perturbations of the best observations, the best few then refined by
    /// coordinate steps.
    fn maximise(&self, gp: &Gp, x: &[Vec<f64>], y: &[f64], rng: &mut Rng) -> Vec<f64> {
        let d = x.first().map_or(0, Vec::len);
        let best = y.iter().copied().fold(f64::INFINITY, f64::min);
        let ei = |p: &[f64]| {
            let (m, s) = gp.predict(p);
            expected_improvement(m, s, best)
        };
        let mut order: Vec<usize> = (0..y.len()).collect();
        order.sort_by(|&a, &b| y[a].total_cmp(&y[b]).then(a.cmp(&b)));
        let mut candidates: Vec<Vec<f64>> = (0..self.config.n_candidates)
            .map(|_| (0..d).map(|_| rng.uniform()).collect())
            .collect();
        for &i in order.iter().take(5) {
            for _ in 0..self.config.n_candidates / 16 {
                candidates.push(
                    x[i].iter()
                        .map(|&v| (v + 0.05 * rng.normal()).clamp(0.0, 1.0))
                        .collect(),
                );
            }
        }
        let mut scored: Vec<(f64, Vec<f64>)> =
            candidates.into_iter().map(|p| (ei(&p), p)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.truncate(3);
        let mut winner = (f64::NEG_INFINITY, vec![0.5; d]);
        for (mut value, mut p) in scored {
            let mut step = 0.05;
            for _ in 0..4 {
                for j in 0..d {
                    for dir in [1.0, -1.0] {
                        let mut q = p.clone();
                        q[j] = (q[j] + dir * step).clamp(0.0, 1.0);
                        let v = ei(&q);
                        if v > value {
                            value = v;
                            p = q;
                            break;
                        }
                    }
                }
                step *= 0.5;
            }
            if value > winner.0 {
                winner = (value, p);
            }
        }
        winner.1
    }
}

impl SearchStrategy for GpSearch {
    fn ask(
        &mut self,
        space: &SearchSpace,
        study: &StudyView<'_>,
        number: u64,
    ) -> Result<Suggestion> {
        let mut rng = Rng::derive(self.seed, &[number]);
        let dims = modelled(space);
        let (x, mut y) = self.observations(space, &dims, study);
        if dims.is_empty() || y.len() < self.config.n_startup_trials.max(2) {
            return Ok(Suggestion::new(space.sample_uniform(&mut rng)));
        }
        // Standardised losses: the process assumes zero mean and unit scale.
        let n = y.len() as f64;
        let mean = y.iter().sum::<f64>() / n;
        let sd = (y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        let sd = if sd > 0.0 { sd } else { 1.0 };
        y.iter_mut().for_each(|v| *v = (*v - mean) / sd);
        let Some(gp) = Gp::fit(&x, &y, 4) else {
            return Ok(Suggestion::new(space.sample_uniform(&mut rng)));
        };
        let u = self.maximise(&gp, &x, &y, &mut rng);
        let specs = space.params();
        let mut chosen = Params::new();
        for (i, spec) in specs.iter().enumerate() {
            if !SearchSpace::is_active(spec, &chosen) {
                continue;
            }
            let value = match dims.iter().position(|&k| k == i) {
                Some(j) => spec.distribution.from_unit(u[j]),
                None => spec.distribution.sample(&mut rng),
            };
            chosen.insert(spec.name.clone(), value);
        }
        Ok(Suggestion::new(chosen))
    }
}
