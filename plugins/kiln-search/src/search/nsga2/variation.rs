//! A child from two parents: crossover, mutation, and repair of conditional parameters.

use super::{Crossover, Nsga2Config};
use kiln_core::{Distribution, ParamSpec, ParamValue, Params, Rng, SearchSpace};

/// The child of `a` and `b`: every active parameter of `space`, parents first.
///
/// Each parameter consumes the same draws whatever happens to it (the swap and mutation
/// coins), so that one parameter's fate does not shift the random stream of the next.
pub(super) fn child(
    space: &SearchSpace,
    a: &Params,
    b: &Params,
    config: &Nsga2Config,
    rng: &mut Rng,
) -> Params {
    let mix = rng.uniform() < config.crossover_prob;
    let mutation_prob = config
        .mutation_prob
        .unwrap_or(1.0 / space.params().len().max(1) as f64);
    let mut chosen = Params::new();
    for spec in space.params() {
        if !SearchSpace::is_active(spec, &chosen) {
            continue;
        }
        let swap = rng.uniform() < config.swapping_prob;
        let mutate = rng.uniform() < mutation_prob;
        let (from_a, from_b) = (valid(a, spec), valid(b, spec));
        let inherited = match (mix, config.crossover, from_a, from_b) {
            (false, _, Some(v), _) => Some(v.clone()),
            (true, Crossover::Sbx, Some(x), Some(y)) => sbx(spec, x, y, swap, config.sbx_eta, rng),
            (true, _, x, y) => {
                let (first, second) = if swap { (y, x) } else { (x, y) };
                first.or(second).cloned()
            }
            // Copying `a`, which lacks the parameter (it was inactive there): take `b`'s.
            (false, _, None, y) => y.cloned(),
        };
        let value = match inherited {
            Some(v) if !mutate => v,
            _ => spec.distribution.sample(rng),
        };
        chosen.insert(spec.name.clone(), value);
    }
    chosen
}

/// A parent's value of `spec`, if it has one that is valid in today's space.
fn valid<'a>(parent: &'a Params, spec: &ParamSpec) -> Option<&'a ParamValue> {
    parent
        .get(&spec.name)
        .filter(|v| spec.distribution.contains(v))
}

/// Simulated binary crossover of `x` and `y` in the unit interval (log-aware, rounded back
/// to the distribution); one of the two children, chosen by `second`. Categoricals have no
/// order: one parent's choice.
fn sbx(
    spec: &ParamSpec,
    x: &ParamValue,
    y: &ParamValue,
    second: bool,
    eta: f64,
    rng: &mut Rng,
) -> Option<ParamValue> {
    let d = &spec.distribution;
    if matches!(d, Distribution::Categorical { .. }) {
        return Some(if second { y.clone() } else { x.clone() });
    }
    let (ux, uy) = (d.to_unit(x)?, d.to_unit(y)?);
    let u = rng.uniform();
    let beta = if u <= 0.5 {
        (2.0 * u).powf(1.0 / (eta + 1.0))
    } else {
        (1.0 / (2.0 * (1.0 - u))).powf(1.0 / (eta + 1.0))
    };
    let c = if second {
        0.5 * ((1.0 - beta) * ux + (1.0 + beta) * uy)
    } else {
        0.5 * ((1.0 + beta) * ux + (1.0 - beta) * uy)
    };
    Some(d.from_unit(c.clamp(0.0, 1.0)))
}
