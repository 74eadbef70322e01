//! Sobol' points in base 2, optionally scrambled (linear matrix scramble + digital shift).
//!
//! Point `i` of dimension `j` is the XOR of the direction numbers `v_k` selected by the bits
//! of `gray(i) = i ^ (i >> 1)`: the Gray-code order of Antonov and Saleev, the order SciPy
//! and Joe–Kuo's reference generator produce. Every power-of-two prefix of the sequence is
//! a (t, m, s)-net, so 2^m trials cover every elementary interval of each axis exactly once.
//!
//! Scrambling follows Matoušek's random linear scramble, as SciPy does: each dimension's
//! direction numbers are multiplied (over GF(2), digits most significant first) by a random
//! lower-triangular matrix with a unit diagonal, and every point is XORed with a random
//! digital shift. Both maps are bijections of the digit expansions that keep the net
//! property, while removing the origin and the correlations between high dimensions that
//! plague the plain sequence.

use super::joe_kuo::JOE_KUO;
use kiln_core::Rng;

/// Bits per coordinate: 2^32 points before the sequence repeats, a resolution of 2^-32.
const BITS: usize = 32;

/// Dimensions with direction numbers: the first, plus one per table row.
pub const MAX_DIMS: usize = JOE_KUO.len() + 1;

/// The direction numbers of one dimension, as `BITS`-bit binary fractions (bit 31 = 1/2).
fn directions(dim: usize) -> [u32; BITS] {
    let mut v = [0u32; BITS];
    if dim == 0 {
        for (k, vk) in v.iter_mut().enumerate() {
            *vk = 1 << (BITS - 1 - k);
        }
        return v;
    }
    let (s, a, m) = JOE_KUO[dim - 1];
    let s = s as usize;
    for k in 0..BITS {
        v[k] = if k < s {
            m[k] << (BITS - 1 - k)
        } else {
            // Bratley–Fox recurrence: the primitive polynomial's inner coefficients are
            // the bits of `a`, highest degree first.
            let mut x = v[k - s] ^ (v[k - s] >> s);
            for i in 1..s {
                if (a >> (s - 1 - i)) & 1 == 1 {
                    x ^= v[k - i];
                }
            }
            x
        };
    }
    v
}

/// Multiplies `x` (digits most significant first) by the lower-triangular matrix whose
/// row `p` is `rows[p]`: output digit `p` is the parity of `rows[p] & x`.
fn apply_rows(rows: &[u32; BITS], x: u32) -> u32 {
    let mut out = 0u32;
    for (p, row) in rows.iter().enumerate() {
        if (row & x).count_ones() % 2 == 1 {
            out |= 1 << (BITS - 1 - p);
        }
    }
    out
}

/// One dimension of the (scrambled) sequence.
#[derive(Debug, Clone)]
struct Axis {
    v: [u32; BITS],
    shift: u32,
}

impl Axis {
    fn new(dim: usize, scramble: Option<&mut Rng>) -> Self {
        let mut v = directions(dim);
        let Some(rng) = scramble else {
            return Axis { v, shift: 0 };
        };
        // Row p keeps its own digit (the unit diagonal) and mixes in a random subset of the
        // more significant digits 0..p, which sit in the higher bits.
        let mut rows = [0u32; BITS];
        for (p, row) in rows.iter_mut().enumerate() {
            let own = 1u32 << (BITS - 1 - p);
            let higher = !(own | (own - 1));
            *row = own | (rng.next_u64() as u32 & higher);
        }
        for vk in v.iter_mut() {
            *vk = apply_rows(&rows, *vk);
        }
        Axis {
            v,
            shift: rng.next_u64() as u32,
        }
    }

    fn point(&self, index: u64) -> f64 {
        let mut gray = index ^ (index >> 1);
        let mut x = self.shift;
        let mut k = 0;
        while gray != 0 && k < BITS {
            if gray & 1 == 1 {
                x ^= self.v[k];
            }
            gray >>= 1;
            k += 1;
        }
        f64::from(x) / (1u64 << BITS) as f64
    }
}

/// A Sobol' sequence over the first [`MAX_DIMS`] dimensions; each dimension is built (and
/// scrambled from its own seeded stream) on first use, so the points of a dimension do not
/// depend on how many dimensions are in use.
#[derive(Debug, Clone)]
pub struct Sobol {
    seed: Option<u64>,
    axes: Vec<Axis>,
}

impl Sobol {
    /// Plain Sobol' (`seed = None`) or scrambled from `seed`.
    pub fn new(seed: Option<u64>) -> Self {
        Sobol {
            seed,
            axes: Vec::new(),
        }
    }

    /// Coordinate `dim < MAX_DIMS` of point `index`, in `[0, 1)`.
    pub fn coordinate(&mut self, index: u64, dim: usize) -> f64 {
        while self.axes.len() <= dim {
            let d = self.axes.len();
            let mut rng = self.seed.map(|s| Rng::derive(s, &[0x50B0, d as u64]));
            self.axes.push(Axis::new(d, rng.as_mut()));
        }
        self.axes[dim].point(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `x^s + a_1 x^(s-1) + … + 1` (inner coefficients in `a`) is primitive over GF(2).
    fn primitive(s: u32, a: u32) -> bool {
        let poly = (1u64 << s) | (u64::from(a) << 1) | 1;
        let mulmod = |x: u64, y: u64| {
            let (mut x, mut y, mut r) = (x, y, 0u64);
            while y != 0 {
                if y & 1 == 1 {
                    r ^= x;
                }
                y >>= 1;
                x <<= 1;
                if (x >> s) & 1 == 1 {
                    x ^= poly;
                }
            }
            r
        };
        let pow = |mut e: u64| {
            // x itself, reduced (x = 1 modulo x + 1).
            let (mut r, mut b) = (1u64, if s == 1 { 1 } else { 2 });
            while e != 0 {
                if e & 1 == 1 {
                    r = mulmod(r, b);
                }
                b = mulmod(b, b);
                e >>= 1;
            }
            r
        };
        let order = (1u64 << s) - 1;
        let mut factors = Vec::new();
        let (mut n, mut q) = (order, 2);
        while q * q <= n {
            if n.is_multiple_of(q) {
                factors.push(q);
                while n.is_multiple_of(q) {
                    n /= q;
                }
            }
            q += 1;
        }
        if n > 1 {
            factors.push(n);
        }
        pow(order) == 1 && factors.iter().all(|f| pow(order / f) != 1)
    }

    #[test]
    fn table_lists_every_primitive_polynomial_in_order_with_valid_numbers() {
        let all: Vec<(u32, u32)> = (1..=10u32)
            .flat_map(|s| (0..1u32 << (s - 1)).map(move |a| (s, a)))
            .filter(|&(s, a)| primitive(s, a))
            .take(JOE_KUO.len())
            .collect();
        let table: Vec<(u32, u32)> = JOE_KUO.iter().map(|&(s, a, _)| (s, a)).collect();
        assert_eq!(table, all);
        for (s, _, m) in JOE_KUO {
            assert_eq!(m.len(), s as usize);
            for (k, mk) in m.iter().enumerate() {
                assert!(mk % 2 == 1 && *mk < 1 << (k + 1), "m = {m:?}");
            }
        }
    }

    #[test]
    fn plain_sequence_matches_the_reference_points() {
        // scipy.stats.qmc.Sobol(d=3, scramble=False).random(8)
        let expected = [
            [0.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.75, 0.25, 0.25],
            [0.25, 0.75, 0.75],
            [0.375, 0.375, 0.625],
            [0.875, 0.875, 0.125],
            [0.625, 0.125, 0.875],
            [0.125, 0.625, 0.375],
        ];
        let mut s = Sobol::new(None);
        for (i, row) in expected.iter().enumerate() {
            for (d, x) in row.iter().enumerate() {
                assert_eq!(s.coordinate(i as u64, d), *x, "point {i}, dim {d}");
            }
        }
    }

    /// Every pair of the first `dims` dimensions of the first 2^m points: each 2^a × 2^(m-a)
    /// box holds the same number of points when the pair forms a (t, m, 2)-net with t ≤ t_max.
    fn max_t(s: &mut Sobol, m: u32, d1: usize, d2: usize) -> u32 {
        let n = 1u64 << m;
        let pts: Vec<(f64, f64)> = (0..n)
            .map(|i| (s.coordinate(i, d1), s.coordinate(i, d2)))
            .collect();
        (0..=m)
            .find(|&t| {
                (0..=m - t).all(|a| {
                    let (bx, by) = (1u64 << a, 1u64 << (m - t - a));
                    let mut count = vec![0u32; (bx * by) as usize];
                    for (x, y) in &pts {
                        let i = (x * bx as f64) as u64 * by + (y * by as f64) as u64;
                        count[i as usize] += 1;
                    }
                    count.iter().all(|&c| c == 1 << t)
                })
            })
            .unwrap_or(m)
    }

    #[test]
    fn scrambling_keeps_the_net_property_and_moves_the_points() {
        let mut plain = Sobol::new(None);
        let mut scrambled = Sobol::new(Some(11));
        for (d1, d2) in [(0, 1), (1, 2), (3, 7), (20, 40), (100, 127)] {
            assert_eq!(
                max_t(&mut plain, 8, d1, d2),
                max_t(&mut scrambled, 8, d1, d2),
                "t-value of dims ({d1}, {d2})"
            );
        }
        assert_eq!(max_t(&mut scrambled, 8, 0, 1), 0);
        assert_ne!(scrambled.coordinate(0, 0), 0.0);
        let other = Sobol::new(Some(12)).coordinate(5, 3);
        assert_ne!(scrambled.coordinate(5, 3), other);
        // Each axis alone is perfectly stratified.
        for d in [0, 5, 127] {
            let mut seen = [false; 64];
            for i in 0..64 {
                seen[(scrambled.coordinate(i, d) * 64.0) as usize] = true;
            }
            assert!(seen.iter().all(|s| *s), "dim {d}");
        }
    }
}
