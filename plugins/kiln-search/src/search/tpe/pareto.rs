//! Multi-objective split (MOTPE): the "below" group is filled front by front in
//! non-domination order; the front that does not fit whole is cut by crowding distance
//! (most isolated points first, its extremes always), where Optuna solves a hypervolume
//! subset selection: both keep the cut spread along the front, crowding distance at a
//! fraction of the cost and for any number of objectives.
//!
//! Points are loss vectors (maximised objectives negated), stored row-major, `m` per point.

use crate::search::pareto::{crowding_distances, dominates};
use std::cmp::Ordering;

/// Indices of the `k` best points of `points` (`m` objectives each).
pub(super) fn select_below(points: &[f64], m: usize, k: usize) -> Vec<usize> {
    let n = points.len() / m.max(1);
    let at = |i: usize| &points[i * m..(i + 1) * m];
    // Lexicographic order: a point can only be dominated by points before it, so each
    // front is found in one pass that compares against the front's members only.
    let mut remaining: Vec<usize> = (0..n).collect();
    remaining.sort_by(|&a, &b| {
        at(a)
            .iter()
            .zip(at(b))
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(a.cmp(&b))
    });
    let mut chosen: Vec<usize> = Vec::with_capacity(k);
    while chosen.len() < k && !remaining.is_empty() {
        let mut front: Vec<usize> = Vec::new();
        let mut rest: Vec<usize> = Vec::new();
        for &i in &remaining {
            if front.iter().any(|&f| dominates(at(f), at(i))) {
                rest.push(i);
            } else {
                front.push(i);
            }
        }
        let room = k - chosen.len();
        if front.len() <= room {
            chosen.extend(&front);
        } else {
            let crowd = crowding_distances(points, m, &front);
            let mut order: Vec<usize> = (0..front.len()).collect();
            order.sort_by(|&a, &b| crowd[b].total_cmp(&crowd[a]).then(front[a].cmp(&front[b])));
            chosen.extend(order.iter().take(room).map(|&j| front[j]));
        }
        remaining = rest;
    }
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fronts_fill_below_and_crowding_cuts_the_last() {
        // Front 0: (0,4) (1,2) (2,1) (4,0); front 1: (3,3); front 2: (5,5).
        let pts = [0.0, 4.0, 1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 4.0, 0.0, 5.0, 5.0];
        assert_eq!(select_below(&pts, 2, 5), vec![0, 1, 2, 3, 4]);
        // Only two of front 0: its extremes (infinite crowding distance).
        assert_eq!(select_below(&pts, 2, 2), vec![0, 4]);
        assert_eq!(select_below(&pts, 2, 6).len(), 6);
    }
}
