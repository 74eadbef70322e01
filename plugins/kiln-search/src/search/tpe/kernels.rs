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
#[derive(Debug, Clone, Default)]
pub(super) struct NumericDim {
    pub mu: Vec<f64>,
    pub sigma: Vec<f64>,
    pub inv_sigma: Vec<f64>,
    pub discrete: bool,
    /// Every kernel's normaliser (see [`NormMemo::get`]).
    pub log_norm: Vec<f64>,
    /// What the last fit used, kept so that [`NumericDim::append`] can extend it: the
    /// bandwidth floor, the endpoint rule, and the cells of the bandwidth rule.
    floor: f64,
    consider_endpoints: bool,
    cells: Vec<Cell>,
    /// The centres, widths and normalisers before the current fit (see
    /// [`NumericDim::fit`]): kernel `k` of consecutive fits is usually the same trial.
    prev_mu: Vec<f64>,
    prev_sigma: Vec<f64>,
    prev_log_norm: Vec<f64>,
}

impl NumericDim {
    /// Refits to kernels at `column` plus the prior, reusing the buffers.
    pub fn fit(
        &mut self,
        column: &[f64],
        discrete: bool,
        consider_endpoints: bool,
        scratch: &mut FitScratch,
    ) {
        let n = column.len();
        // The previous kernels, to reuse their normalisers (below).
        let (prev_floor, prev_discrete) = (self.floor, self.discrete);
        std::mem::swap(&mut self.mu, &mut self.prev_mu);
        std::mem::swap(&mut self.sigma, &mut self.prev_sigma);
        std::mem::swap(&mut self.log_norm, &mut self.prev_log_norm);
        self.discrete = discrete;
        self.consider_endpoints = consider_endpoints;
        self.mu.clear();
        self.mu.extend(column.iter().map(|x| x.clamp(0.0, 1.0)));
        let floor = min_sigma(n);
        self.floor = floor;
        clipped_gaps_into(
            &self.mu,
            consider_endpoints,
            floor,
            &mut self.sigma,
            &mut self.cells,
        );
        self.mu.push(0.5);
        self.sigma.push(1.0);
        let k_count = self.mu.len();
        self.inv_sigma.resize(k_count, 0.0);
        self.log_norm.resize(k_count, 0.0);
        let norms = Normalisers::new(floor, discrete);
        // A normaliser is a pure function of the kernel's centre and width (and of the
        // dimension's discreteness), unless it is the common one, which also depends on
        // the floor. Kernel `k` of the previous fit is usually the same trial with the
        // same width: its normaliser is reused when it was not the common one, read in
        // order rather than through the memo (whose random reads miss the cache).
        let prev = (prev_discrete == discrete).then_some((
            &self.prev_mu[..],
            &self.prev_sigma[..],
            &self.prev_log_norm[..],
        ));
        let kernels = self.mu.iter().zip(&self.sigma);
        let out = self.inv_sigma.iter_mut().zip(self.log_norm.iter_mut());
        for (k, ((&m, &s), (inv_out, ln_out))) in kernels.zip(out).enumerate() {
            (*inv_out, *ln_out) = norms.of(m, s, |inv, far| {
                let reused = prev.and_then(|(pm, ps, pl)| {
                    let same = pm.get(k)?.to_bits() == m.to_bits()
                        && ps.get(k)?.to_bits() == s.to_bits()
                        && !(far && s == prev_floor);
                    same.then(|| pl[k])
                });
                reused.unwrap_or_else(|| scratch.norms.get(m, inv, discrete))
            });
        }
    }

    /// Whether [`NumericDim::append`] may extend this fit: continuous, and with so many
    /// observations that the bandwidth floor no longer depends on their number.
    pub fn can_append(&self) -> bool {
        !self.discrete && self.mu.len() >= 99 && self.floor == min_sigma(self.mu.len() - 1)
    }

    /// Extends the fit with observations `column` placed after the existing ones, with
    /// exactly the result [`NumericDim::fit`] gives on all of them (tested): the new
    /// points enter their cells, every cell extreme is widened afresh (a few hundred
    /// points at most), and only the kernels whose width may have changed get new
    /// normalisers. Needs [`NumericDim::can_append`].
    pub fn append(&mut self, column: &[f64], scratch: &mut FitScratch) {
        // The prior comes off the end and goes back after the new points.
        self.mu.pop();
        self.sigma.pop();
        self.inv_sigma.pop();
        self.log_norm.pop();
        let floor = self.floor;
        let touched = &mut scratch.touched;
        touched.clear();
        let n_cells = self.cells.len();
        let (scale, last_cell) = (n_cells as f64, n_cells - 1);
        for &x in column {
            let x = x.clamp(0.0, 1.0);
            let i = self.mu.len() as u32;
            self.mu.push(x);
            self.sigma.push(floor);
            touched.push(i);
            let cell = &mut self.cells[((x * scale) as i32 as usize).min(last_cell)];
            // The old extremes of the cell may lose that status: they are redone below.
            if cell.low < f64::INFINITY {
                touched.push(cell.low_at);
                touched.push(cell.high_at);
            }
            if x < cell.low {
                cell.low = x;
                cell.low_at = i;
            }
            if x >= cell.high {
                cell.high = x;
                cell.high_at = i;
            }
        }
        // Every extreme back to the floor, then widened as `clipped_gaps_into` does.
        for cell in self.cells.iter().filter(|c| c.low < f64::INFINITY) {
            touched.push(cell.low_at);
            touched.push(cell.high_at);
        }
        for &k in touched.iter() {
            self.sigma[k as usize] = floor;
        }
        let n = self.mu.len();
        widen_extremes(
            &self.cells,
            !self.consider_endpoints && n >= 2,
            &mut self.sigma,
        );
        self.inv_sigma.resize(n, 0.0);
        self.log_norm.resize(n, 0.0);
        let discrete = self.discrete;
        let norms = Normalisers::new(floor, discrete);
        let memo = &mut scratch.norms;
        for &k in touched.iter() {
            let (k, m) = (k as usize, self.mu[k as usize]);
            (self.inv_sigma[k], self.log_norm[k]) =
                norms.of(m, self.sigma[k], |inv, _| memo.get(m, inv, discrete));
        }
        self.mu.push(0.5);
        self.sigma.push(1.0);
        let (inv, ln) = norms.of(0.5, 1.0, |inv, _| memo.get(0.5, inv, discrete));
        self.inv_sigma.push(inv);
        self.log_norm.push(ln);
    }

    /// The largest normaliser.
    pub fn max_log_norm(&self) -> f64 {
        math::max_of(&self.log_norm)
    }
}

/// A kernel's inverse width and normaliser from its centre and width, for one floor.
struct Normalisers {
    floor: f64,
    inv_floor: f64,
    /// The normaliser of a kernel at the floor width far from both bounds.
    common: f64,
}

impl Normalisers {
    fn new(floor: f64, discrete: bool) -> Self {
        // Most widths sit at the floor: one division and one logarithm for all of those.
        let inv_floor = 1.0 / floor;
        let ln_floor_term = math::ln(inv_floor) - math::LN_SQRT_2PI;
        Normalisers {
            floor,
            inv_floor,
            common: if discrete { 0.0 } else { ln_floor_term },
        }
    }

    /// Whether a kernel lies beyond 6 √2 widths from both bounds.
    #[inline(always)]
    fn far(&self, m: f64, inv: f64) -> bool {
        let reach = 6.0 * std::f64::consts::SQRT_2;
        m * inv >= reach && (1.0 - m) * inv >= reach
    }

    /// `(1/σ, normaliser)`: the common one for kernels at the floor width beyond 6 √2
    /// widths from both bounds (they lose under 3e-17 to them); for the others, what
    /// `other(1/σ, far from both bounds)` finds (remembered, or the full computation).
    #[inline]
    fn of(&self, m: f64, s: f64, other: impl FnOnce(f64, bool) -> f64) -> (f64, f64) {
        let at_floor = s == self.floor;
        let inv = if at_floor { self.inv_floor } else { 1.0 / s };
        let far = self.far(m, inv);
        let ln = if at_floor && far {
            self.common
        } else {
            other(inv, far)
        };
        (inv, ln)
    }
}

/// The categorical kernels of a dimension; the prior is the last.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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
#[cfg(test)]
pub(super) fn clipped_gaps(mu: &[f64], consider_endpoints: bool, floor: f64) -> Vec<f64> {
    let mut sigma = Vec::new();
    clipped_gaps_into(mu, consider_endpoints, floor, &mut sigma, &mut Vec::new());
    sigma
}

/// What [`NumericDim::fit`] keeps between fits: buffers, and remembered normalisers.
#[derive(Debug, Clone, Default)]
pub(super) struct FitScratch {
    norms: NormMemo,
    /// Kernels whose width an append may have changed.
    touched: Vec<u32>,
}

/// Normalisers by kernel centre, inverse width and discreteness: a pure function of the
/// key, so remembering them never changes a result. Direct-mapped, 2,048 slots.
#[derive(Debug, Clone)]
struct NormMemo {
    keys: Vec<[u64; 3]>,
    values: Vec<f64>,
}

impl Default for NormMemo {
    fn default() -> Self {
        NormMemo {
            keys: vec![[u64::MAX; 3]; 1 << 11],
            values: vec![0.0; 1 << 11],
        }
    }
}

impl NormMemo {
    /// A kernel's [`normaliser`], remembered.
    #[inline]
    fn get(&mut self, mu: f64, inv: f64, discrete: bool) -> f64 {
        let key = [mu.to_bits(), inv.to_bits(), u64::from(discrete)];
        let h =
            (key[0] ^ key[1].rotate_left(29) ^ key[2]).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 53;
        let slot = h as usize;
        if self.keys[slot] == key {
            self.values[slot]
        } else {
            self.fill(slot, key, mu, inv, discrete)
        }
    }

    /// A miss: computes, remembers and returns the normaliser (out of line, so that the
    /// hit path inlines without it).
    #[cold]
    #[inline(never)]
    fn fill(&mut self, slot: usize, key: [u64; 3], mu: f64, inv: f64, discrete: bool) -> f64 {
        let value = normaliser(mu, inv, discrete);
        self.keys[slot] = key;
        self.values[slot] = value;
        value
    }
}

/// A kernel's normaliser: continuous `-ln Z + (ln(1/σ) - ln √2π)`, discrete `-ln Z`,
/// where `Z` is the mass the kernel puts on `[0, 1]`.
#[inline]
fn normaliser(mu: f64, inv: f64, discrete: bool) -> f64 {
    let z = -math::ln_unit_mass(mu, inv);
    if discrete {
        z
    } else {
        z + (math::ln(inv) - math::LN_SQRT_2PI)
    }
}

impl FitScratch {
    /// The kernels whose width the last [`NumericDim::append`] may have changed (every
    /// new one among them; some more than once).
    pub fn touched(&self) -> &[u32] {
        &self.touched
    }
}

/// A cell's lowest and highest point, as value and index.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cell {
    low: f64,
    high: f64,
    low_at: u32,
    high_at: u32,
}

impl Cell {
    const EMPTY: Cell = Cell {
        low: f64::INFINITY,
        high: f64::NEG_INFINITY,
        low_at: 0,
        high_at: 0,
    };
}

/// `clipped_gaps` (the tests' entry point) into `sigma`, with reusable buffers.
pub(super) fn clipped_gaps_into(
    mu: &[f64],
    consider_endpoints: bool,
    floor: f64,
    sigma: &mut Vec<f64>,
    cells: &mut Vec<Cell>,
) {
    let n = mu.len();
    sigma.clear();
    sigma.resize(n, floor);
    if n == 0 {
        return;
    }
    let n_cells = ((1.0 / floor).round() as usize).max(1);
    cells.clear();
    cells.resize(n_cells, Cell::EMPTY);
    let cells = &mut cells[..n_cells];
    let (scale, last_cell) = (n_cells as f64, n_cells - 1);
    for (i, &x) in mu.iter().enumerate() {
        // Through i32: a cheaper conversion than to usize (x * scale is in [0, n_cells]).
        let cell = &mut cells[((x * scale) as i32 as usize).min(last_cell)];
        // Ties keep the lower index lowest and the higher index highest, as a sort would
        // (every point is below the initial +inf, so the first of a cell always lands).
        if x < cell.low {
            cell.low = x;
            cell.low_at = i as u32;
        }
        if x >= cell.high {
            cell.high = x;
            cell.high_at = i as u32;
        }
    }
    widen_extremes(cells, !consider_endpoints && n >= 2, sigma);
}

/// Widens each cell's extremes to their gaps (at most 1) to the neighbouring non-empty
/// cells' extremes (the bounds 0 and 1 beyond the outermost, which with `inward` only look
/// inwards). `sigma` holds the floor for every point this may widen. One pass: each
/// non-empty cell widens its lowest point's left gap and the previous non-empty cell's
/// highest point's right gap (widening takes a maximum, so the order does not matter).
fn widen_extremes(cells: &[Cell], inward: bool, sigma: &mut [f64]) {
    let mut widen = |i: u32, g: f64| {
        let v = &mut sigma[i as usize];
        *v = v.max(g.min(1.0));
    };
    // The previous non-empty cell's highest point, as value and index.
    let mut prev: Option<(f64, u32)> = None;
    for cell in cells.iter().filter(|c| c.low < f64::INFINITY) {
        match prev {
            Some((top, top_at)) => {
                widen(cell.low_at, cell.low - top);
                widen(top_at, cell.low - top);
            }
            None if !inward => widen(cell.low_at, cell.low),
            None => {}
        }
        // Alone in its cell exactly when its lowest and highest point are the same one (of
        // equal points, the lowest is the first and the highest the last).
        prev = Some(if cell.low_at == cell.high_at {
            (cell.low, cell.low_at)
        } else {
            (cell.high, cell.high_at)
        });
    }
    if let Some((top, top_at)) = prev.filter(|_| !inward) {
        widen(top_at, 1.0 - top);
    }
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
