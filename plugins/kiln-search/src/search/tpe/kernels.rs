//! The kernels of one dimension of a Parzen estimator, and the log-term each adds.
//!
//! Numeric dimensions hold Gaussians truncated to `[0, 1]` whose widths follow Optuna 5: each
//! point's larger gap to its sorted neighbours (the bounds count as neighbours, except for
//! the outermost points unless `consider_endpoints`), clipped to `[1 / min(100, n + 2), 1]`
//! (the "magic clip"); the prior kernel sits at 0.5 with width 1. A discrete dimension scores
//! the mass of the candidate's cell, as Optuna's discrete truncated normals do. A categorical
//! dimension is Optuna's kernel: the observed choice plus `prior_weight / n_kernels` on every
//! choice, normalised; the prior is uniform.

use super::axis::Axis;
use super::math;

/// Marks the prior kernel of a categorical dimension.
pub(super) const PRIOR: u32 = u32::MAX;

/// Optuna's bandwidth floor ("magic clip"): the range over `min(100, 1 + kernels)`.
pub(super) fn min_sigma(n: usize) -> f64 {
    1.0 / (100.0f64).min(2.0 + n as f64)
}

/// The Gaussian kernels of a numeric dimension; the prior is the last.
#[derive(Debug)]
pub(super) struct NumericDim {
    pub mu: Vec<f64>,
    pub sigma: Vec<f64>,
    pub inv_sigma: Vec<f64>,
    pub discrete: bool,
    /// [`Self::norm`] of every kernel.
    pub log_norm: Vec<f64>,
    inv_floor: f64,
    ln_floor_term: f64,
}

impl NumericDim {
    /// Kernels at `column` (coordinates in `[0, 1]`) plus the prior, with normalisers.
    pub fn new(column: &[f64], discrete: bool, consider_endpoints: bool) -> Self {
        let mut d = Self::without_norms(column, consider_endpoints);
        d.discrete = discrete;
        d.log_norm = (0..d.mu.len()).map(|k| d.norm(k)).collect();
        d
    }

    /// Continuous kernels at `column` plus the prior, without normalisers yet.
    fn without_norms(column: &[f64], consider_endpoints: bool) -> Self {
        let n = column.len();
        let mut mu: Vec<f64> = Vec::with_capacity(n + 1);
        mu.extend(column.iter().map(|x| x.clamp(0.0, 1.0)));
        let floor = min_sigma(n);
        let mut sigma = clipped_gaps(&mu, consider_endpoints, floor);
        mu.push(0.5);
        sigma.push(1.0);
        // Most widths sit at the floor: one division for all of those.
        let inv_floor = 1.0 / floor;
        let inv_sigma = sigma
            .iter()
            .map(|&s| if s == floor { inv_floor } else { 1.0 / s })
            .collect();
        NumericDim {
            mu,
            sigma,
            inv_sigma,
            discrete: false,
            log_norm: Vec::new(),
            inv_floor,
            ln_floor_term: math::ln(inv_floor) - math::LN_SQRT_2PI,
        }
    }

    /// Kernel `k`'s normaliser: continuous `-ln σ - ln √2π - ln Z`, discrete `-ln Z`.
    #[inline]
    fn norm(&self, k: usize) -> f64 {
        let inv = self.inv_sigma[k];
        let z = -math::ln_unit_mass(self.mu[k], inv);
        if self.discrete {
            z
        } else if inv == self.inv_floor {
            // Most widths sit at the floor: one logarithm for all of those.
            z + self.ln_floor_term
        } else {
            z + math::ln(inv) - math::LN_SQRT_2PI
        }
    }

    /// The largest normaliser.
    pub fn max_log_norm(&self) -> f64 {
        math::max_of(&self.log_norm)
    }
}

/// The categorical kernels of a dimension; the prior is the last.
#[derive(Debug)]
pub(super) struct CategoricalDim {
    pub n_choices: usize,
    /// The observed choice of each kernel, [`PRIOR`] for the prior.
    pub obs: Vec<u32>,
    pub ln_hit: f64,
    pub ln_miss: f64,
    pub ln_prior: f64,
    /// Probability of drawing the observed choice on top of the uniform floor.
    pub p_obs: f64,
}

impl CategoricalDim {
    /// Kernels at the choice indices `column`, plus the prior.
    pub fn new(column: &[f64], n_choices: usize, prior_weight: f64) -> Self {
        let n = column.len();
        let mut obs: Vec<u32> = column.iter().map(|&x| x as u32).collect();
        obs.push(PRIOR);
        let c = n_choices as f64;
        // Each observation kernel: prior_weight / n_kernels on every choice, +1 on its own;
        // normalised by the row sum.
        let floor = prior_weight / (n + 1) as f64;
        let row_sum = c * floor + 1.0;
        CategoricalDim {
            n_choices,
            obs,
            ln_hit: ((floor + 1.0) / row_sum).ln(),
            ln_miss: (floor / row_sum).ln(),
            ln_prior: -c.ln(),
            p_obs: 1.0 / row_sum,
        }
    }
}

/// One dimension's kernels.
#[derive(Debug)]
pub(super) enum Dim {
    Numeric(NumericDim),
    Categorical(CategoricalDim),
}

impl Dim {
    /// An upper bound of the log-term any kernel adds in this dimension.
    pub fn max_term(&self) -> f64 {
        match self {
            Dim::Numeric(d) => d.max_log_norm(),
            Dim::Categorical(d) => d.ln_hit.max(d.ln_prior),
        }
    }
}

/// A small cache of discrete cell masses, keyed by kernel centre and width and by the
/// cell's edges (a pure function of the key, so it may live across asks): the
/// observations of a discrete parameter repeat, and each mass costs two error functions.
#[derive(Debug, Clone)]
pub(super) struct Memo {
    slots: Vec<([u64; 4], f64)>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            slots: vec![([u64::MAX; 4], 0.0); 64],
        }
    }
}

impl Memo {
    fn get(&mut self, key: [u64; 4], f: impl FnOnce() -> f64) -> f64 {
        let h = (key[0] ^ key[1].rotate_left(16) ^ key[2].rotate_left(32) ^ key[3].rotate_left(48))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = &mut self.slots[(h >> 58) as usize];
        if slot.0 != key {
            *slot = (key, f());
        }
        slot.1
    }
}

/// The log-term kernel `k` adds in `dim` at coordinate `x`.
#[inline]
pub(super) fn term(dim: &Dim, k: usize, x: f64, axis: &Axis<'_>, memo: &mut Memo) -> f64 {
    match dim {
        Dim::Numeric(d) if !d.discrete => {
            let z = (x - d.mu[k]) * d.inv_sigma[k];
            d.log_norm[k] - 0.5 * z * z
        }
        Dim::Numeric(d) => {
            let (m, is) = (d.mu[k], d.inv_sigma[k]);
            let (_, lo, hi) = axis.cell(x);
            let mass = memo.get(
                [m.to_bits(), is.to_bits(), lo.to_bits(), hi.to_bits()],
                || math::ln_gauss_mass((lo - m) * is, (hi - m) * is),
            );
            d.log_norm[k] + mass
        }
        Dim::Categorical(d) => {
            let o = d.obs[k];
            if o == PRIOR {
                d.ln_prior
            } else if o == x as u32 {
                d.ln_hit
            } else {
                d.ln_miss
            }
        }
    }
}

/// Optuna 5's bandwidths, clipped to `[floor, 1]`: each point's larger gap to its sorted
/// neighbours, the bounds 0 and 1 counting as neighbours; unless `consider_endpoints`, the
/// lowest and highest points (of two or more) only look inwards.
///
/// No sort is needed. With cells of width `floor`, a point with a neighbour inside its own
/// cell on a side has a gap below `floor` on that side, which the clip erases; so only each
/// cell's lowest and highest point (by value, then index: the sorted order) can get more
/// than the floor, from the highest point of the previous non-empty cell and the lowest of
/// the next one. Linear in the number of points.
pub(super) fn clipped_gaps(mu: &[f64], consider_endpoints: bool, floor: f64) -> Vec<f64> {
    let n = mu.len();
    let mut sigma = vec![floor; n];
    if n == 0 {
        return sigma;
    }
    let cells = (1.0 / floor).round().max(1.0) as usize;
    // Per cell: count, lowest and highest point as (value, index).
    let mut count = vec![0u32; cells];
    let mut low = vec![(f64::INFINITY, 0u32); cells];
    let mut high = vec![(f64::NEG_INFINITY, 0u32); cells];
    for (i, &x) in mu.iter().enumerate() {
        let c = ((x * cells as f64) as usize).min(cells - 1);
        count[c] += 1;
        // Ties keep the lower index lowest and the higher index highest, as a sort would.
        if x < low[c].0 || count[c] == 1 {
            low[c] = (x, i as u32);
        }
        if x >= high[c].0 {
            high[c] = (x, i as u32);
        }
    }
    let filled: Vec<usize> = (0..cells).filter(|&c| count[c] > 0).collect();
    let inward = !consider_endpoints && n >= 2;
    let mut widen = |i: u32, g: f64| {
        let v = &mut sigma[i as usize];
        *v = v.max(g.min(1.0));
    };
    for (j, &c) in filled.iter().enumerate() {
        let before = if j == 0 { 0.0 } else { high[filled[j - 1]].0 };
        let after = filled.get(j + 1).map_or(1.0, |&d| low[d].0);
        let (first, last) = (j == 0, j + 1 == filled.len());
        let (lo, hi) = (low[c], high[c]);
        // The lowest point's left gap, and the right gap of the highest (the same point
        // when it is alone in its cell).
        if !(inward && first) {
            widen(lo.1, lo.0 - before);
        }
        let top = if count[c] == 1 { lo } else { hi };
        if !(inward && last) {
            widen(top.1, after - top.0);
        }
    }
    sigma
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::Rng;

    /// Optuna's rule by sorting, for comparison.
    fn sorted_gaps(mu: &[f64], consider_endpoints: bool, floor: f64) -> Vec<f64> {
        let n = mu.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| mu[a].total_cmp(&mu[b]).then(a.cmp(&b)));
        let mut sigma = vec![0.0; n];
        for (j, &i) in order.iter().enumerate() {
            let left = if j == 0 { 0.0 } else { mu[order[j - 1]] };
            let right = if j + 1 == n { 1.0 } else { mu[order[j + 1]] };
            let g = if !consider_endpoints && n >= 2 && j == 0 {
                right - mu[i]
            } else if !consider_endpoints && n >= 2 && j + 1 == n {
                mu[i] - left
            } else {
                (mu[i] - left).max(right - mu[i])
            };
            sigma[i] = g.clamp(floor, 1.0);
        }
        sigma
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn gaps_follow_the_sorted_neighbours() {
        // Sorted 0.1, 0.2, 0.5: the ends look inwards, the middle takes its larger gap.
        assert!(close(
            &clipped_gaps(&[0.5, 0.1, 0.2], false, 0.01),
            &[0.3, 0.1, 0.3]
        ));
        assert!(close(
            &clipped_gaps(&[0.5, 0.1, 0.2], true, 0.01),
            &[0.5, 0.1, 0.3]
        ));
        assert!(close(&clipped_gaps(&[0.3], false, 0.01), &[0.7]));
        let mut rng = Rng::new(1);
        for round in 0..300 {
            let n = 1 + rng.below(400) as usize;
            let levels = (1 + rng.below(12)) as f64;
            let mu: Vec<f64> = (0..n)
                .map(|_| match round % 3 {
                    0 => rng.uniform(),
                    1 => (rng.uniform() * levels).floor() / levels,
                    _ => (0.3 + 0.02 * rng.normal()).clamp(0.0, 1.0),
                })
                .collect();
            for ends in [false, true] {
                let floor = min_sigma(n);
                let (got, want) = (
                    clipped_gaps(&mu, ends, floor),
                    sorted_gaps(&mu, ends, floor),
                );
                assert!(
                    close(&got, &want),
                    "n {n}, endpoints {ends}: {got:?} vs {want:?}"
                );
            }
        }
    }
}
