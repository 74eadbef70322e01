//! Eigen decomposition of small symmetric matrices by the cyclic Jacobi method.
//!
//! CMA-ES needs `C = B diag(λ) Bᵀ` once per generation for matrices of a few dozen rows
//! at most. Jacobi rotations are slower than QR-based solvers for large matrices but
//! simple, unconditionally stable and accurate to machine precision even for tiny
//! eigenvalues, which is what an ill-conditioned covariance needs.

/// The eigenvalues (unordered) and eigenvectors of the symmetric `n × n` matrix `a`
/// (row-major; only its symmetric part is used). The eigenvectors are the columns of the
/// returned row-major matrix, orthonormal, with `vectors[i * n + k]` the `i`-th
/// component of the eigenvector of `values[k]`.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "symmetric_eigen: a is not n × n");
    let mut m: Vec<f64> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            0.5 * (a[i * n + j] + a[j * n + i])
        })
        .collect();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let norm2: f64 = m.iter().map(|x| x * x).sum();
    for _sweep in 0..64 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum();
        if off <= norm2 * 1e-32 || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes m[p][q]: t = tan(angle), the smaller root of
                // t² + 2θt − 1 = 0, which keeps the rotation below 45° and the sweep stable.
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                m[p * n + q] = 0.0;
                m[q * n + p] = 0.0;
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let values = (0..n).map(|i| m[i * n + i]).collect();
    (values, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::Rng;

    #[test]
    fn decomposes_random_symmetric_matrices() {
        let mut rng = Rng::new(4);
        for n in [1, 2, 3, 7, 20] {
            let mut a = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..=i {
                    let x = rng.normal() * if i == j { 10.0 } else { 1.0 };
                    a[i * n + j] = x;
                    a[j * n + i] = x;
                }
            }
            let (values, v) = symmetric_eigen(&a, n);
            for k in 0..n {
                for i in 0..n {
                    let av: f64 = (0..n).map(|j| a[i * n + j] * v[j * n + k]).sum();
                    assert!(
                        (av - values[k] * v[i * n + k]).abs() < 1e-9,
                        "n={n} A v = λ v"
                    );
                }
                for l in 0..n {
                    let dot: f64 = (0..n).map(|i| v[i * n + k] * v[i * n + l]).sum();
                    let want = if k == l { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-12, "n={n} orthonormal");
                }
            }
        }
    }

    #[test]
    fn keeps_tiny_eigenvalues_accurate() {
        // diag(1, 1e-12) rotated by 30°.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let (l1, l2) = (1.0, 1e-12);
        let a = [
            c * c * l1 + s * s * l2,
            c * s * (l1 - l2),
            c * s * (l1 - l2),
            s * s * l1 + c * c * l2,
        ];
        let (mut values, _) = symmetric_eigen(&a, 2);
        values.sort_by(f64::total_cmp);
        assert!((values[0] - l2).abs() < 1e-14, "{values:?}");
        assert!((values[1] - l1).abs() < 1e-15);
    }
}
