//! Elite selection: non-dominated sorting and crowding distance (Deb et al. 2002).
//!
//! Objectives arrive as losses (every direction turned into minimisation). Fronts are
//! peeled one at a time, each by comparing the trials still unranked, and only until the
//! elite is full: the first fronts of a long study are small, so this stays far below the
//! full quadratic sort.

use crate::search::pareto::{crowding_distances, dominates};

/// The elite of `losses` (`m` values per trial, row-major): the indices of the best
/// `size` trials by front, the last front cut by crowding distance (larger first, ties
/// by index), each with its front rank and crowding distance.
pub(super) fn select_elite(losses: &[f64], m: usize, size: usize) -> Vec<Member> {
    let n = losses.len().checked_div(m).unwrap_or(0);
    let row = |i: usize| &losses[i * m..(i + 1) * m];
    let mut elite: Vec<Member> = Vec::with_capacity(size.min(n));
    // One objective: the fronts are the distinct values, in order; no comparisons of all
    // pairs needed.
    let mut sorted: Vec<usize> = Vec::new();
    if m == 1 {
        sorted.extend(0..n);
        sorted.sort_by(|&a, &b| losses[a].total_cmp(&losses[b]).then(a.cmp(&b)));
    }
    let mut next = 0; // into `sorted`
    let mut left: Vec<usize> = if m == 1 { Vec::new() } else { (0..n).collect() };
    let mut rank = 0;
    while elite.len() < size && (next < sorted.len() || !left.is_empty()) {
        let front: Vec<usize> = if m == 1 {
            let value = losses[sorted[next]];
            // Bitwise equality, so that a NaN (which the caller should not pass) still
            // forms a front and the loop advances.
            let end = sorted[next + 1..]
                .iter()
                .position(|&i| losses[i].to_bits() != value.to_bits())
                .map_or(sorted.len(), |p| next + 1 + p);
            let front = sorted[next..end].to_vec();
            next = end;
            front
        } else {
            let front: Vec<usize> = left
                .iter()
                .copied()
                .filter(|&i| !left.iter().any(|&j| j != i && dominates(row(j), row(i))))
                .collect();
            left.retain(|i| !front.contains(i));
            front
        };
        let crowding = crowding_distances(losses, m, &front);
        let mut members: Vec<Member> = front
            .iter()
            .zip(crowding)
            .map(|(&index, crowding)| Member {
                index,
                rank,
                crowding,
            })
            .collect();
        if elite.len() + members.len() > size {
            members.sort_by(|a, b| {
                b.crowding
                    .total_cmp(&a.crowding)
                    .then(a.index.cmp(&b.index))
            });
            members.truncate(size - elite.len());
        }
        elite.extend(members);
        rank += 1;
    }
    elite
}

/// A member of the elite population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Member {
    /// Index of the trial among those given to [`select_elite`].
    pub index: usize,
    /// Its front: 0 for the non-dominated trials.
    pub rank: usize,
    /// Its crowding distance within its front (infinite at the extremes).
    pub crowding: f64,
}

impl Member {
    /// The tournament order: lower front, then larger crowding distance.
    pub fn beats(&self, other: &Member) -> bool {
        self.rank < other.rank || (self.rank == other.rank && self.crowding > other.crowding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fronts_then_crowding() {
        // Two objectives: (0,3) (1,1) (3,0) form the first front, (2,2) the second, (3,3)
        // the third.
        let losses = [0.0, 3.0, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0, 3.0, 0.0];
        let elite = select_elite(&losses, 2, 4);
        let by_index: Vec<(usize, usize)> = elite.iter().map(|e| (e.index, e.rank)).collect();
        assert_eq!(by_index, vec![(0, 0), (2, 0), (4, 0), (1, 1)]);
        // The middle of the first front is crowded by its neighbours: finite distance.
        assert!(elite[0].crowding.is_infinite() && elite[2].crowding.is_infinite());
        assert!(
            (elite[1].crowding - 2.0).abs() < 1e-12,
            "{}",
            elite[1].crowding
        );
        // Cutting the first front keeps its extremes.
        let cut = select_elite(&losses, 2, 2);
        let kept: Vec<usize> = cut.iter().map(|e| e.index).collect();
        assert_eq!(kept, vec![0, 4]);
    }

    #[test]
    fn one_objective_ranks_by_value() {
        let losses = [3.0, 1.0, 2.0, 1.0];
        let elite = select_elite(&losses, 1, 3);
        let ranks: Vec<(usize, usize)> = elite.iter().map(|e| (e.index, e.rank)).collect();
        assert_eq!(ranks, vec![(1, 0), (3, 0), (2, 1)]);
        assert!(elite[0].beats(&elite[2]));
    }
}
