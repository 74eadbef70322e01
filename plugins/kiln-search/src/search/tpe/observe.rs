//! Reading the study once per ask: every usable trial's coordinates, and the split into
//! the "below" (good) and "above" (the rest) groups.
//!
//! As in Optuna's TPE: complete trials rank by value (direction-aware, NaN last); pruned
//! ones come after all complete ones, those that got further first, then by their last
//! intermediate value; with the constant liar, running trials join "above" as the worst
//! observations; failed and waiting trials are ignored. `n_below = min(ceil(gamma * n),
//! max_below)` over the complete and pruned trials. With several objectives the complete
//! trials are split by Pareto rank instead (see [`super::pareto`]), and all "below"
//! observations weigh the same (Optuna 5 dropped MOTPE's hypervolume weights after
//! benchmarking them).

use super::TpeConfig;
use super::axis::Axis;
use super::pareto;
use kiln_core::{Direction, FrozenTrial, SearchSpace, StudyView, TrialState};
use std::cmp::Ordering;

/// The usable trials, in study order, as rows of coordinates: one column per parameter of
/// the space, NaN where the parameter was inactive or its value is not one of the space's
/// (the space changed).
#[derive(Debug, Clone, Default)]
pub(super) struct Observations {
    /// Columns per row: the number of parameters of the space.
    width: usize,
    /// The rows, one after the other.
    coords: Vec<f64>,
    /// Whether each row is in the "below" group.
    pub below: Vec<bool>,
    /// Whether the study has several objectives (the "below" rows then weigh the same).
    pub multi_objective: bool,
}

/// Where a single-objective trial ranks, best first: complete trials (class 0) by loss,
/// then pruned ones (class 1) by how far they got (negated step) and their last loss, then
/// (class 2) multi-objective trials without a finite value per objective; ties go to the
/// earlier trial. NaN losses are replaced by infinity, so that they rank last.
type Rank = (u8, f64, f64, u64);

fn rank_order(a: &Rank, b: &Rank) -> Ordering {
    (a.0.cmp(&b.0))
        .then(a.1.total_cmp(&b.1))
        .then(a.2.total_cmp(&b.2))
        .then(a.3.cmp(&b.3))
}

fn nan_last(loss: f64) -> f64 {
    if loss.is_nan() { f64::INFINITY } else { loss }
}

/// The loss of `value` under `direction` (smaller is better).
fn loss(value: f64, direction: Direction) -> f64 {
    match direction {
        Direction::Minimize => value,
        Direction::Maximize => -value,
    }
}

impl Observations {
    /// Reads `study`, leaving out trial `number` (the one being asked), and splits it with
    /// the config's `constant_liar`, `gamma` and `max_below`.
    pub fn collect(
        space: &SearchSpace,
        axes: &[Axis<'_>],
        study: &StudyView<'_>,
        number: u64,
        split: &TpeConfig,
    ) -> Self {
        let specs = space.params();
        let multi_objective = study.directions.len() > 1;
        let mut obs = Observations {
            width: specs.len(),
            coords: Vec::with_capacity(study.trials.len() * specs.len()),
            below: Vec::with_capacity(study.trials.len()),
            multi_objective,
        };
        // The trials that rank by `Rank`, and the rows and loss vectors of the complete
        // trials of a multi-objective study with a finite value per objective.
        let mut ranked: Vec<(Rank, usize)> = Vec::with_capacity(study.trials.len());
        let mut front_rows: Vec<usize> = Vec::new();
        let mut front_losses: Vec<f64> = Vec::new();
        let usable = study.trials.iter().filter(|t| {
            t.number != number
                && match t.state {
                    TrialState::Complete | TrialState::Pruned => true,
                    TrialState::Running => split.constant_liar,
                    _ => false,
                }
        });
        let mut by_name: Vec<(&str, usize)> =
            specs.iter().map(|s| s.name.as_str()).zip(0..).collect();
        by_name.sort_unstable();
        for (row, t) in usable.enumerate() {
            obs.coords.resize(obs.coords.len() + specs.len(), f64::NAN);
            let start = row * specs.len();
            read_coordinates(t, &by_name, axes, &mut obs.coords[start..]);
            obs.below.push(false);
            let rank = |class, first, second| (class, first, second, t.number);
            match t.state {
                TrialState::Complete if multi_objective => match finite_losses(t, study) {
                    Some(losses) => {
                        front_rows.push(row);
                        front_losses.extend(losses);
                    }
                    None => ranked.push((rank(2, 0.0, 0.0), row)),
                },
                TrialState::Complete => {
                    let value = t.value().unwrap_or(f64::NAN);
                    let first = nan_last(loss(value, study.direction()));
                    ranked.push((rank(0, first, 0.0), row));
                }
                TrialState::Pruned => {
                    // A trial that reported nothing ranks as if at step -1.
                    let (step, value) = t
                        .last_intermediate()
                        .map_or((-1.0, 0.0), |(s, v)| (s as f64, v));
                    let second = nan_last(loss(value, study.direction()));
                    ranked.push((rank(1, -step, second), row));
                }
                // Running (constant liar): always "above".
                _ => {}
            }
        }

        let n = ranked.len() + front_rows.len();
        let n_below = ((split.gamma * n as f64).ceil() as usize)
            .min(split.max_below)
            .min(n);
        let from_front = n_below.min(front_rows.len());
        if from_front > 0 {
            let m = study.directions.len();
            for i in pareto::select_below(&front_losses, m, from_front) {
                obs.below[front_rows[i]] = true;
            }
        }
        let from_ranked = n_below - from_front;
        if from_ranked > 0 {
            // Which trials are the best matters, not their order.
            ranked.select_nth_unstable_by(from_ranked - 1, |a, b| rank_order(&a.0, &b.0));
            for &(_, row) in &ranked[..from_ranked] {
                obs.below[row] = true;
            }
        }
        obs
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.below.len()
    }

    /// The coordinates of row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        &self.coords[r * self.width..(r + 1) * self.width]
    }
}

/// Writes the coordinates of trial `t` into `row` (NaN stays where a parameter is missing).
/// `by_name` lists the space's parameters sorted by name, as a trial's parameters are: one
/// pass over both, cheaper than looking each name up in the trial's map.
fn read_coordinates(
    t: &FrozenTrial,
    by_name: &[(&str, usize)],
    axes: &[Axis<'_>],
    row: &mut [f64],
) {
    let mut space = by_name.iter().peekable();
    for (name, value) in &t.params {
        while let Some(&&(space_name, i)) = space.peek() {
            let order = space_name.cmp(name.as_str());
            if order.is_gt() {
                break; // not a parameter of the space
            }
            space.next();
            if order.is_eq() {
                row[i] = axes[i].coordinate(value).unwrap_or(f64::NAN);
                break;
            }
        }
    }
}

/// A complete trial's values as losses, when there is one finite value per objective.
fn finite_losses(t: &FrozenTrial, study: &StudyView<'_>) -> Option<Vec<f64>> {
    let values = t.values.as_deref()?;
    let all_finite = values.iter().all(|v| v.is_finite());
    (values.len() == study.directions.len() && all_finite).then(|| {
        let pairs = values.iter().zip(study.directions);
        pairs.map(|(&v, &d)| loss(v, d)).collect()
    })
}

/// Optuna's `default_weights`: 1 for the newest 25 observations, a linear ramp from
/// `1/n` up to 1 for the older ones (oldest first), so that old trials count less.
pub(super) fn default_weights(n: usize) -> Vec<f64> {
    let (ramp, lo) = (n.saturating_sub(25), 1.0 / n as f64);
    let weight = |i: usize| match i {
        _ if i >= ramp => 1.0,
        _ if ramp == 1 => lo,
        _ => lo + (1.0 - lo) * i as f64 / (ramp - 1) as f64,
    };
    (0..n).map(weight).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_ramp_for_old_observations() {
        assert_eq!(default_weights(10), vec![1.0; 10]);
        let w = default_weights(100);
        assert_eq!(w.len(), 100);
        assert!((w[0] - 0.01).abs() < 1e-12);
        assert!((w[74] - 1.0).abs() < 1e-12);
        assert!(w.windows(2).all(|p| p[0] <= p[1]));
    }
}
