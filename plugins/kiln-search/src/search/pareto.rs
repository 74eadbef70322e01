//! Pareto dominance and crowding distance on loss vectors (every objective minimised,
//! `m` values per point, row-major), shared by TPE's multi-objective split and NSGA-II's
//! selection.

/// Whether `a` dominates `b`: no worse in every loss and better in one.
pub(crate) fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut better = false;
    for (x, y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        better |= x < y;
    }
    better
}

/// Crowding distance of each member of `front` (indices into `points`): per objective, the
/// gap between its neighbours normalised by the objective's range; the extremes (and
/// every member of a front of at most two) get infinity. Ties sort by position in `front`.
pub(crate) fn crowding_distances(points: &[f64], m: usize, front: &[usize]) -> Vec<f64> {
    let mut dist = vec![0.0; front.len()];
    if front.len() <= 2 {
        dist.fill(f64::INFINITY);
        return dist;
    }
    let mut order: Vec<usize> = (0..front.len()).collect();
    for k in 0..m {
        let value = |p: usize| points[front[p] * m + k];
        order.sort_by(|&a, &b| value(a).total_cmp(&value(b)).then(a.cmp(&b)));
        let (lo, hi) = (value(order[0]), value(order[order.len() - 1]));
        dist[order[0]] = f64::INFINITY;
        dist[order[order.len() - 1]] = f64::INFINITY;
        if hi > lo {
            for w in order.windows(3) {
                dist[w[1]] += (value(w[2]) - value(w[0])) / (hi - lo);
            }
        }
    }
    dist
}
