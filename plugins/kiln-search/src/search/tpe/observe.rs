//! Reading the study once per ask: every usable trial's coordinates, and the split into
//! the "below" (good) and "above" (the rest) groups.
//!
//! Like Optuna's TPE: complete trials rank by value (direction-aware); pruned ones come
//! after all complete ones, those that got further first, then by their last intermediate
//! value; with the constant liar, running trials join "above" as the worst observations;
//! failed and waiting trials are ignored. `n_below = min(ceil(gamma * n), max_below)` over
//! the complete and pruned trials. With several objectives the complete trials are split
//! by Pareto rank instead (see [`super::pareto`]), and all "below" observations weigh the
//! same (Optuna 5 dropped MOTPE's hypervolume weights after benchmarking them).

use super::axis::Axis;
use super::pareto;
use kiln_core::{Direction, FrozenTrial, SearchSpace, StudyView, TrialState};
use std::cmp::Ordering;

/// How the study is split.
#[derive(Debug, Clone, Copy)]
pub(super) struct SplitParams {
    /// Running trials count as the worst observations.
    pub constant_liar: bool,
    /// Fraction of the finished trials that are "below".
    pub gamma: f64,
    /// Cap on the "below" group.
    pub max_below: usize,
}

/// The usable trials, in study order, as rows of coordinates (one column per parameter of
/// the space, NaN where the parameter was inactive or unreadable).
#[derive(Debug, Clone, Default)]
pub(super) struct Observations {
    /// Columns per row: the number of parameters of the space.
    pub width: usize,
    /// `rows × width` coordinates.
    pub coords: Vec<f64>,
    /// Whether each row is in the "below" group.
    pub below: Vec<bool>,
    /// Each row's trial number.
    pub numbers: Vec<u64>,
    /// Whether the study has several objectives (the "below" rows then weigh the same).
    pub multi_objective: bool,
    /// Buffers of the split, kept between asks.
    keys: Vec<(Key, usize)>,
    front: Vec<f64>,
    front_rows: Vec<usize>,
}

/// A row's rank key: class (0 complete, 1 pruned, 2 unusable values), two keys, number.
type Key = (u8, f64, f64, u64);

fn cmp_key(a: &Key, b: &Key) -> Ordering {
    a.0.cmp(&b.0)
        .then(a.1.total_cmp(&b.1))
        .then(a.2.total_cmp(&b.2))
        .then(a.3.cmp(&b.3))
}

/// NaN ranks worst.
fn finite_or_worst(x: f64) -> f64 {
    if x.is_nan() { f64::INFINITY } else { x }
}

/// What the strategy remembers of finished trials between asks, by trial number: their
/// coordinates and results. Reading a thousand trials' parameter maps (heap nodes and
/// heap-allocated names) dominates an ask otherwise; a finished trial never changes, so
/// this is a cache, not state: a fresh or restored strategy rebuilds it from the study and
/// asks the same. It assumes that a strategy serves one study, where a number names one
/// trial: a finished trial under a remembered number, in the same state and with as many
/// parameters, is taken to be the one read before. It is dropped when the space or the
/// number of objectives changes; running trials are always read afresh.
#[derive(Debug, Clone, Default)]
pub(super) struct TrialMemo {
    space: Option<SearchSpace>,
    n_objectives: usize,
    /// By trial number: 0 unknown, 1 complete, 2 pruned.
    state: Vec<u8>,
    /// By trial number: how many parameters the trial had.
    n_params: Vec<u32>,
    /// `width` coordinates per trial number.
    coords: Vec<f64>,
    /// `n_objectives` values per trial number (NaN when missing).
    values: Vec<f64>,
    /// Pruned trials' last intermediate `(step, value)`; `step` NaN when none.
    last: Vec<(f64, f64)>,
}

const COMPLETE: u8 = 1;
const PRUNED: u8 = 2;

impl TrialMemo {
    /// Drops everything unless it was read for `space` and `n_objectives`.
    fn check(&mut self, space: &SearchSpace, n_objectives: usize) {
        if self.space.as_ref() != Some(space) || self.n_objectives != n_objectives {
            *self = TrialMemo {
                space: Some(space.clone()),
                n_objectives,
                ..TrialMemo::default()
            };
        }
    }
}

/// Reads a trial's coordinates into `row` by merging its (sorted) parameter names with the
/// space's, sorted in `by_name`.
fn read_coords(t: &FrozenTrial, by_name: &[(&str, usize)], axes: &[Axis<'_>], row: &mut [f64]) {
    row.fill(f64::NAN);
    let mut j = 0;
    'params: for (name, value) in &t.params {
        // One comparison per step: both lists are sorted by name.
        while j < by_name.len() {
            match by_name[j].0.cmp(name.as_str()) {
                Ordering::Less => j += 1,
                Ordering::Equal => {
                    let i = by_name[j].1;
                    row[i] = axes[i].coordinate(value).unwrap_or(f64::NAN);
                    j += 1;
                    continue 'params;
                }
                Ordering::Greater => continue 'params,
            }
        }
        break;
    }
}

impl Observations {
    /// Reads `study` (leaving out trial `number`, the one being asked), through `memo`.
    #[cfg(test)]
    pub fn collect(
        memo: &mut TrialMemo,
        space: &SearchSpace,
        axes: &[Axis<'_>],
        study: &StudyView<'_>,
        number: u64,
        p: &SplitParams,
    ) -> Self {
        let mut obs = Observations::default();
        obs.refill(memo, space, axes, study, number, p);
        obs
    }

    /// `Observations::collect` (the tests' entry point) into `self`, reusing its buffers.
    pub fn refill(
        &mut self,
        memo: &mut TrialMemo,
        space: &SearchSpace,
        axes: &[Axis<'_>],
        study: &StudyView<'_>,
        number: u64,
        p: &SplitParams,
    ) {
        let width = space.params().len();
        let m = study.directions.len().max(1);
        memo.check(space, m);
        // Parameter indices by name, for trials read afresh (built on the first).
        let mut by_name: Vec<(&str, usize)> = Vec::new();
        let sign = |d: Direction| if d == Direction::Minimize { 1.0 } else { -1.0 };
        let signs: Vec<f64> = study.directions.iter().map(|&d| sign(d)).collect();
        let sign0 = sign(study.direction());
        let multi = signs.len() > 1;
        // Trial numbers are dense from 0; far larger ones are simply not remembered.
        let memo_limit = 4 * study.trials.len() + 1024;

        let mut coords = std::mem::take(&mut self.coords);
        coords.clear();
        let mut numbers = std::mem::take(&mut self.numbers);
        numbers.clear();
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        let mut front = std::mem::take(&mut self.front); // multi-objective loss vectors
        front.clear();
        let mut front_rows = std::mem::take(&mut self.front_rows);
        front_rows.clear();
        let mut fresh_values: Vec<f64> = vec![f64::NAN; m];
        let mut rows = 0;
        for t in study.trials {
            let code = match t.state {
                TrialState::Complete => COMPLETE,
                TrialState::Pruned => PRUNED,
                TrialState::Running if p.constant_liar => 0,
                _ => continue,
            };
            if t.number == number {
                continue;
            }
            let slot = t.number as usize;
            let start = coords.len();
            numbers.push(t.number);
            let (values, last): (&[f64], (f64, f64)) = if code != 0
                && memo.state.get(slot) == Some(&code)
                && memo.n_params[slot] as usize == t.params.len()
            {
                coords.extend_from_slice(&memo.coords[slot * width..][..width]);
                (&memo.values[slot * m..][..m], memo.last[slot])
            } else {
                if by_name.is_empty() {
                    let params = space.params().iter().enumerate();
                    by_name.extend(params.map(|(i, s)| (s.name.as_str(), i)));
                    by_name.sort_unstable();
                }
                coords.resize(start + width, f64::NAN);
                read_coords(t, &by_name, axes, &mut coords[start..]);
                let vs = t.values.as_deref().unwrap_or(&[]);
                fresh_values.fill(f64::NAN);
                if vs.len() == m {
                    fresh_values.copy_from_slice(vs);
                }
                let last = t
                    .last_intermediate()
                    .map_or((f64::NAN, f64::NAN), |(s, v)| (s as f64, v));
                if code != 0 && slot < memo_limit {
                    if memo.state.len() <= slot {
                        memo.state.resize(slot + 1, 0);
                        memo.n_params.resize(slot + 1, 0);
                        memo.coords.resize((slot + 1) * width, f64::NAN);
                        memo.values.resize((slot + 1) * m, f64::NAN);
                        memo.last.resize(slot + 1, (f64::NAN, f64::NAN));
                    }
                    memo.state[slot] = code;
                    memo.n_params[slot] = t.params.len() as u32;
                    memo.coords[slot * width..][..width].copy_from_slice(&coords[start..]);
                    memo.values[slot * m..][..m].copy_from_slice(&fresh_values);
                    memo.last[slot] = last;
                }
                (&fresh_values[..], last)
            };
            let key: Option<Key> = match code {
                COMPLETE if multi => {
                    if values.iter().all(|v| v.is_finite()) {
                        front.extend(values.iter().zip(&signs).map(|(v, s)| v * s));
                        front_rows.push(rows);
                        None
                    } else {
                        Some((2, 0.0, 0.0, t.number))
                    }
                }
                COMPLETE => Some((0, finite_or_worst(values[0] * sign0), 0.0, t.number)),
                PRUNED if last.0.is_nan() => Some((1, 1.0, 0.0, t.number)),
                PRUNED => Some((1, -last.0, finite_or_worst(last.1 * sign0), t.number)),
                _ => None,
            };
            if let Some(k) = key {
                keys.push((k, rows));
            }
            rows += 1;
        }

        let n = keys.len() + front_rows.len();
        let n_below = ((p.gamma * n as f64).ceil() as usize)
            .min(p.max_below)
            .min(n);
        let mut below = std::mem::take(&mut self.below);
        below.clear();
        below.resize(rows, false);
        let mut rest = n_below;
        if multi && !front_rows.is_empty() {
            let take = rest.min(front_rows.len());
            for i in pareto::select_below(&front, signs.len(), take) {
                below[front_rows[i]] = true;
            }
            rest -= take;
        }
        if rest > 0 {
            if rest < keys.len() {
                keys.select_nth_unstable_by(rest - 1, |a, b| cmp_key(&a.0, &b.0));
            }
            for &(_, row) in keys.iter().take(rest) {
                below[row] = true;
            }
        }
        *self = Observations {
            width,
            coords,
            below,
            numbers,
            multi_objective: multi,
            keys,
            front,
            front_rows,
        };
    }

    /// Number of rows.
    #[cfg(test)]
    pub fn rows(&self) -> usize {
        self.below.len()
    }

    /// The coordinates of row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        &self.coords[r * self.width..(r + 1) * self.width]
    }
}

/// Optuna's `default_weights`: 1 for the newest 25 observations, a linear ramp from
/// `1/n` up to 1 for the older ones (oldest first).
pub(super) fn default_weights(n: usize, out: &mut Vec<f64>) {
    out.clear();
    if n > 25 {
        let ramp = n - 25;
        let lo = 1.0 / n as f64;
        out.extend((0..ramp).map(|i| {
            if ramp == 1 {
                lo
            } else {
                lo + (1.0 - lo) * i as f64 / (ramp - 1) as f64
            }
        }));
    }
    out.resize(n, 1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_ramp_for_old_observations() {
        let mut w = Vec::new();
        default_weights(10, &mut w);
        assert_eq!(w, vec![1.0; 10]);
        default_weights(100, &mut w);
        assert_eq!(w.len(), 100);
        assert!((w[0] - 0.01).abs() < 1e-12);
        assert!((w[74] - 1.0).abs() < 1e-12);
        assert!(w.windows(2).all(|p| p[0] <= p[1]));
    }
}
