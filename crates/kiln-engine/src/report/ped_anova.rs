//! Parameter importance by PED-ANOVA (Watanabe et al., IJCAI 2023; conditional spaces as in
//! the KDD 2026 follow-up), as Optuna's `PedAnovaImportanceEvaluator` computes it with its
//! defaults: how much more often the best 10 % of the complete trials took some values of a
//! parameter than all complete trials did, measured as the Pearson divergence between the
//! two densities ([`super::parzen`]) and normalised so that the importances sum to 1.
//!
//! A parameter that is active in only some trials (a conditional one) is scored per regime
//! (each distribution it was drawn from, or inactive), each regime weighted by its share of
//! the top and of all trials; regimes with fewer than two trials are left out.

use super::parzen::{density, grid_index, grid_size, is_single};
use kiln_core::{Distribution, Params};
use std::collections::BTreeMap;

/// The share of trials PED-ANOVA calls the top ones (Optuna's `target_quantile`).
const TARGET_QUANTILE: f64 = 0.1;
/// Regimes with fewer trials are left out.
const MIN_TRIALS_IN_REGIME: usize = 2;
/// Added to both densities so that the ratio is always defined.
const EPS: f64 = 1e-12;

/// One complete trial as PED-ANOVA sees it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The trial's parameters.
    pub params: &'a Params,
    /// The distribution each parameter was drawn from.
    pub distributions: &'a BTreeMap<String, Distribution>,
    /// The objective, signed so that lower is better (a maximised one negated).
    pub loss: f64,
}

/// The importance of every parameter that some observation has, most important first;
/// they sum to 1 (equal shares when nothing can be told apart). Trials with a non-finite
/// loss are ignored.
pub fn importances(trials: &[Observation<'_>]) -> Vec<(String, f64)> {
    let trials: Vec<&Observation<'_>> = trials.iter().filter(|t| t.loss.is_finite()).collect();
    let mut names: Vec<&String> = trials.iter().flat_map(|t| t.distributions.keys()).collect();
    names.sort();
    names.dedup();
    let mut scores: Vec<(String, f64)> = names.iter().map(|n| ((*n).clone(), 0.0)).collect();
    let top = top_quantile(&trials);
    if trials.len() > 1 && !top.is_empty() {
        // The top trials' share of all of them (γ'/γ in the paper; γ = 1 here).
        let quantile = top.len() as f64 / trials.len() as f64;
        for (name, score) in &mut scores {
            *score = quantile.powi(2) * raw_importance(name, &trials, &top);
        }
    }
    let total: f64 = scores.iter().map(|(_, s)| s).sum();
    let n = scores.len() as f64;
    for (_, s) in &mut scores {
        *s = if total > 0.0 { *s / total } else { 1.0 / n };
    }
    // Most important first; ties by name so that the order is stable.
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scores
}

/// Which trials are in the top quantile: those whose loss is at most the ⌈q·n⌉-th
/// smallest (ties all in, as Optuna's filter keeps them).
fn top_quantile(trials: &[&Observation<'_>]) -> Vec<bool> {
    if trials.is_empty() {
        return Vec::new();
    }
    let mut losses: Vec<f64> = trials.iter().map(|t| t.loss).collect();
    losses.sort_by(f64::total_cmp);
    let k = ((TARGET_QUANTILE * trials.len() as f64).ceil() as usize).clamp(1, trials.len());
    let cutoff = losses[k - 1];
    trials.iter().map(|t| t.loss <= cutoff).collect()
}

/// Σ over regimes of α²/β · divergence, before scaling by the quantile.
fn raw_importance(name: &str, trials: &[&Observation<'_>], top: &[bool]) -> f64 {
    // Trials grouped by the distribution the parameter had (None: inactive).
    let mut regimes: Vec<(Option<&Distribution>, Vec<usize>)> = Vec::new();
    for (i, t) in trials.iter().enumerate() {
        let d = t.distributions.get(name);
        match regimes.iter_mut().find(|(r, _)| *r == d) {
            Some((_, members)) => members.push(i),
            None => regimes.push((d, vec![i])),
        }
    }
    let n_top = top.iter().filter(|t| **t).count() as f64;
    let n_all = trials.len() as f64;
    let mut score = 0.0;
    for (dist, members) in regimes {
        let Some(dist) = dist else { continue };
        if members.len() < MIN_TRIALS_IN_REGIME || is_single(dist) {
            continue;
        }
        let top_members: Vec<usize> = members.iter().copied().filter(|i| top[*i]).collect();
        if top_members.is_empty() {
            continue;
        }
        let alpha = top_members.len() as f64 / n_top;
        let beta = members.len() as f64 / n_all;
        score += alpha.powi(2) / beta * divergence(name, dist, trials, &top_members, &members);
    }
    score
}

/// Pearson divergence Σ p_all · (p_top / p_all − 1)² between the two densities on the grid.
fn divergence(
    name: &str,
    dist: &Distribution,
    trials: &[&Observation<'_>],
    top: &[usize],
    all: &[usize],
) -> f64 {
    let counts = |members: &[usize]| {
        let mut c = vec![0usize; grid_size(dist)];
        for i in members {
            if let Some(cell) = trials[*i]
                .params
                .get(name)
                .and_then(|v| grid_index(dist, v))
                .filter(|cell| *cell < c.len())
            {
                c[cell] += 1;
            }
        }
        c
    };
    let categorical = matches!(dist, Distribution::Categorical { .. });
    let p_top = density(&counts(top), categorical);
    let p_all = density(&counts(all), categorical);
    p_top
        .iter()
        .zip(&p_all)
        .map(|(t, a)| {
            let (t, a) = (t + EPS, a + EPS);
            a * (t / a - 1.0).powi(2)
        })
        .sum()
}

#[cfg(test)]
#[path = "ped_anova_tests.rs"]
mod tests;
