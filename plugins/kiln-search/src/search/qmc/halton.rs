//! Halton points, optionally scrambled by random digit permutations.
//!
//! Dimension `j` is the radical inverse of the point index in the `j`-th prime base: the
//! base-`b` digits of the index, mirrored about the radix point. Plain Halton points in
//! neighbouring large bases are strongly correlated (dimensions 17 and 18, bases 59 and 61,
//! fall on a few lines for the first thousands of points), which scrambling removes.
//!
//! The scramble draws, per dimension and per digit position, a random permutation of the
//! digits `0..b` and applies it to every digit of the expansion — trailing zeros included,
//! down to double precision, so that point 0 is no longer the origin. Every `b^k` prefix
//! of each axis still holds one point per interval of width `b^-k`.

use kiln_core::Rng;

/// The `n`-th prime (0-based), by trial division: spaces have tens of dimensions.
fn nth_prime(n: usize) -> u64 {
    let mut found = 0;
    let mut candidate = 1u64;
    loop {
        candidate += 1;
        if (2..)
            .take_while(|d| d * d <= candidate)
            .all(|d| !candidate.is_multiple_of(d))
        {
            if found == n {
                return candidate;
            }
            found += 1;
        }
    }
}

/// One dimension: its base and, when scrambled, one digit permutation per position.
#[derive(Debug, Clone)]
struct Axis {
    base: u64,
    perms: Vec<Vec<u64>>,
}

impl Axis {
    fn new(dim: usize, scramble: Option<&mut Rng>) -> Self {
        let base = nth_prime(dim);
        let Some(rng) = scramble else {
            return Axis {
                base,
                perms: Vec::new(),
            };
        };
        // Enough digits that the last one is below double precision.
        let digits = (53.0 / (base as f64).log2()).ceil() as usize;
        let perms = (0..digits)
            .map(|_| {
                let mut p: Vec<u64> = (0..base).collect();
                rng.shuffle(&mut p);
                p
            })
            .collect();
        Axis { base, perms }
    }

    fn point(&self, mut index: u64) -> f64 {
        let b = self.base as f64;
        let mut x = 0.0;
        let mut scale = 1.0 / b;
        if self.perms.is_empty() {
            while index > 0 {
                x += (index % self.base) as f64 * scale;
                index /= self.base;
                scale /= b;
            }
            return x;
        }
        for perm in &self.perms {
            x += perm[(index % self.base) as usize] as f64 * scale;
            index /= self.base;
            scale /= b;
        }
        // The sum of the largest digits may round up to 1.
        x.min(1.0 - f64::EPSILON / 2.0)
    }
}

/// A Halton sequence in as many dimensions as asked for; each dimension is built (and
/// scrambled from its own seeded stream) on first use.
#[derive(Debug, Clone)]
pub struct Halton {
    seed: Option<u64>,
    axes: Vec<Axis>,
}

impl Halton {
    /// Plain Halton (`seed = None`) or scrambled from `seed`.
    pub fn new(seed: Option<u64>) -> Self {
        Halton {
            seed,
            axes: Vec::new(),
        }
    }

    /// Coordinate `dim` of point `index`, in `[0, 1)`.
    pub fn coordinate(&mut self, index: u64, dim: usize) -> f64 {
        while self.axes.len() <= dim {
            let d = self.axes.len();
            let mut rng = self.seed.map(|s| Rng::derive(s, &[0x4A17, d as u64]));
            self.axes.push(Axis::new(d, rng.as_mut()));
        }
        self.axes[dim].point(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_and_plain_points() {
        let p: Vec<u64> = (0..10).map(nth_prime).collect();
        assert_eq!(p, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        let mut h = Halton::new(None);
        let first: Vec<f64> = (0..5).map(|i| h.coordinate(i, 0)).collect();
        assert_eq!(first, [0.0, 0.5, 0.25, 0.75, 0.125]);
        assert!((h.coordinate(5, 1) - (2.0 / 3.0 + 1.0 / 9.0)).abs() < 1e-15);
    }

    #[test]
    fn scrambled_axes_stay_stratified() {
        let mut h = Halton::new(Some(3));
        for dim in [0, 1, 4, 20] {
            let b = nth_prime(dim);
            let n = b * b;
            let mut count = vec![0u32; n as usize];
            for i in 0..n {
                let x = h.coordinate(i, dim);
                assert!((0.0..1.0).contains(&x));
                count[(x * n as f64) as usize] += 1;
            }
            assert!(count.iter().all(|&c| c == 1), "dim {dim}: {count:?}");
        }
        assert_ne!(h.coordinate(0, 0), 0.0);
        assert_ne!(
            Halton::new(Some(4)).coordinate(7, 2),
            h.coordinate(7, 2),
            "seeds give different scrambles"
        );
    }
}
