//! Numerical kernels of the Parzen estimators: exp and ln, the complementary error
//! function, log-masses of Gaussian intervals, truncated-normal draws, sums of exponentials.
//!
//! `exp`, `ln` and the normal draws' `cos` are written out (range reduction + series)
//! rather than taken from libm for two reasons: they are branch-light, so the loops over a
//! thousand observations vectorise or at least pipeline, and they are plain IEEE
//! arithmetic, so suggestions are bit-identical on every platform. Accuracy (~1e-14
//! relative) is far beyond what an argmax over 24 candidates needs. Where a single value
//! is waited on (a normal draw, a normaliser the memo missed) the series are summed by
//! Estrin's scheme, for a shorter dependency chain.

use kiln_core::Rng;

/// `ln(sqrt(2π))`.
pub(super) const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// `1/k!` for `k = 0..11`: the Taylor series of `e^r`, whose remainder is below 1e-14 on
/// `|r| <= ln(2)/2`.
const INV_FACT: [f64; 12] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
];

/// The range reduction of [`exp`]: `x = n ln 2 + r` with `|r| <= ln(2)/2`, returned as `r`
/// and the shifted float whose low mantissa bits hold `n` (see [`exp_scale`]).
#[inline(always)]
fn exp_reduce(x: f64) -> (f64, f64) {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // 1.5 * 2^52: adding and subtracting it rounds to the nearest integer.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    let xc = x.clamp(-708.0, 709.0);
    let shifted = xc * std::f64::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    (xc - n * LN2_HI - n * LN2_LO, shifted)
}

/// `e^r · 2^n` from the series value `p` of `e^r` and [`exp_reduce`]'s shifted float; 0
/// below -708 (instead of a subnormal).
#[inline(always)]
fn exp_scale(x: f64, p: f64, shifted: f64) -> f64 {
    // `shifted`'s low mantissa bits hold n (plus 2^51, which the shift pushes out): 2^n
    // without a float-to-integer conversion, so that loops of exp vectorise.
    let scale = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    if x < -708.0 { 0.0 } else { p * scale }
}

/// `e^x`, relative error ~1e-14; 0 below -708 (instead of a subnormal).
#[inline(always)]
pub(super) fn exp(x: f64) -> f64 {
    let (r, shifted) = exp_reduce(x);
    // Horner: a fixed-length loop over constants, unrolled by the compiler.
    let mut p = INV_FACT[11];
    for c in INV_FACT[..11].iter().rev() {
        p = p * r + c;
    }
    exp_scale(x, p, shifted)
}

/// `ln x` for `x > 0`, relative error ~1e-15: the exponent, plus `2 atanh((m-1)/(m+1))` of
/// the mantissa `m` in `[√½, √2]` by its series (see [`ln_normal`]). Same reasons as
/// [`exp`]; other inputs (zero, negative, subnormal, infinite, NaN) go to the standard
/// library.
#[inline(always)]
pub(super) fn ln(x: f64) -> f64 {
    if !(f64::MIN_POSITIVE..f64::INFINITY).contains(&x) {
        return x.ln();
    }
    ln_normal(x)
}

/// `1/(2k+1)` for `k = 0..9`: `ln m = 2 (f + f³/3 + ... + f¹⁹/19)` with
/// `f = (m-1)/(m+1)`; `|f| <= 0.1716`, so the next term is below 1e-16.
const INV_ODD: [f64; 10] = [
    1.0,
    1.0 / 3.0,
    1.0 / 5.0,
    1.0 / 7.0,
    1.0 / 9.0,
    1.0 / 11.0,
    1.0 / 13.0,
    1.0 / 15.0,
    1.0 / 17.0,
    1.0 / 19.0,
];

/// The range reduction of [`ln_normal`]: `x = 2^e m` with `m` in `[√½, √2]`, returned as
/// `e` and `f = (m-1)/(m+1)`.
#[inline(always)]
fn ln_reduce(x: f64) -> (f64, f64) {
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let high = m > std::f64::consts::SQRT_2;
    let m = if high { m * 0.5 } else { m };
    let e = (e + i64::from(high)) as f64;
    (e, (m - 1.0) / (m + 1.0))
}

/// [`ln`] for `x` known to be positive, finite and normal: no branch, so that loops of it
/// vectorise. Other inputs give meaningless results.
#[inline(always)]
pub(super) fn ln_normal(x: f64) -> f64 {
    let (e, f) = ln_reduce(x);
    let f2 = f * f;
    let mut p = INV_ODD[9];
    for c in INV_ODD[..9].iter().rev() {
        p = p * f2 + c;
    }
    e * std::f64::consts::LN_2 + 2.0 * f * p
}

/// `Σ c[i] y^i` by Estrin's scheme (pairs of terms, then pairs of pairs): a third of
/// Horner's dependency chain, for values that something waits on. Rounds differently
/// from Horner in the last place.
#[inline(always)]
fn estrin10(c: &[f64; 10], y: f64) -> f64 {
    let (y2, y4) = (y * y, y * y * (y * y));
    let pair = |i: usize| c[i] + y * c[i + 1];
    let q0 = pair(0) + y2 * pair(2);
    let q1 = pair(4) + y2 * pair(6);
    q0 + y4 * (q1 + y4 * pair(8))
}

/// [`estrin10`] for twelve coefficients.
#[inline(always)]
fn estrin12(c: &[f64; 12], y: f64) -> f64 {
    let (y2, y4) = (y * y, y * y * (y * y));
    let pair = |i: usize| c[i] + y * c[i + 1];
    let q0 = pair(0) + y2 * pair(2);
    let q1 = pair(4) + y2 * pair(6);
    let q2 = pair(8) + y2 * pair(10);
    q0 + y4 * (q1 + y4 * q2)
}

/// Coefficients of Numerical Recipes' `erfcc` Chebyshev fit (fractional error of erfc
/// below 1.2e-7 everywhere), lowest order first.
const ERFC_FIT: [f64; 10] = [
    -1.265_512_23,
    1.000_023_68,
    0.374_091_96,
    0.096_784_18,
    -0.186_288_06,
    0.278_868_07,
    -1.135_203_98,
    1.488_515_87,
    -0.822_152_23,
    0.170_872_77,
];

/// `(t, ln(erfc(x)) - ln(t))` for `x >= 0`, with `t = 1 / (1 + x/2)`.
#[inline(always)]
fn erfc_parts(x: f64) -> (f64, f64) {
    let t = 1.0 / (1.0 + 0.5 * x);
    let mut poly = ERFC_FIT[9];
    for c in ERFC_FIT[..9].iter().rev() {
        poly = poly * t + c;
    }
    (t, poly - x * x)
}

/// `ln(erfc(x))` for `x >= 0`. Works in log space, so deep tails do not underflow.
#[inline(always)]
pub(super) fn ln_erfc_pos(x: f64) -> f64 {
    let (t, rest) = erfc_parts(x);
    t.ln() + rest
}

/// `erfc(x)` for `x >= 0`.
#[inline(always)]
pub(super) fn erfc_pos(x: f64) -> f64 {
    let (t, rest) = erfc_parts(x);
    t * exp(rest)
}

/// `ln Z` where `Z` is the mass a normal `(mu, 1/inv_sigma)` puts on `[0, 1]`, for
/// `mu` in `[0, 1]` (then `Z >= 0.34`, so no cancellation).
#[inline(always)]
pub(super) fn ln_unit_mass(mu: f64, inv_sigma: f64) -> f64 {
    let a = mu * inv_sigma * FRAC_1_SQRT_2;
    let b = (1.0 - mu) * inv_sigma * FRAC_1_SQRT_2;
    // erfc(6) < 3e-17: kernels that far from both bounds lose nothing to them.
    if a >= 6.0 && b >= 6.0 {
        return 0.0;
    }
    // Short dependency chains (Estrin's scheme): a miss of the normaliser memo waits on
    // this.
    let tail = |t: f64| {
        if t < 6.0 {
            erfc_pos_short_chain(t.max(0.0))
        } else {
            0.0
        }
    };
    let tails = 0.5 * (tail(a) + tail(b));
    if tails < 1e-5 {
        // ln(1 - t) by its series: exact to 1e-20 here, and no logarithm.
        -tails - 0.5 * tails * tails
    } else {
        // 1 - tails is in [1/3, 1].
        ln_short_chain(1.0 - tails)
    }
}

/// [`erfc_pos`] with its fit and the exponential summed by Estrin's scheme.
#[inline(always)]
fn erfc_pos_short_chain(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = estrin10(&ERFC_FIT, t);
    t * exp_short_chain(poly - x * x)
}

/// [`exp`] with its series summed by Estrin's scheme.
#[inline(always)]
fn exp_short_chain(x: f64) -> f64 {
    let (r, shifted) = exp_reduce(x);
    exp_scale(x, estrin12(&INV_FACT, r), shifted)
}

/// `ln(Φ(b) - Φ(a))` for the standard normal, `a < b`.
pub(super) fn ln_gauss_mass(a: f64, b: f64) -> f64 {
    let w = b - a;
    let m = 0.5 * (a + b);
    if w * (1.0 + m.abs()) < 0.25 {
        // Narrow interval: midpoint rule with its second-order correction
        // (φ'' = (m² - 1) φ); error ~1e-6, and no transcendental but one ln.
        let c = w * w * (m * m - 1.0) / 24.0;
        return w.ln() - 0.5 * m * m - LN_SQRT_2PI + c - 0.5 * c * c;
    }
    if a >= 0.0 {
        upper_tail_mass(a, b)
    } else if b <= 0.0 {
        upper_tail_mass(-b, -a)
    } else {
        let lower = 0.5 * erfc_pos(-a * FRAC_1_SQRT_2);
        let upper = 0.5 * erfc_pos(b * FRAC_1_SQRT_2);
        (1.0 - lower - upper).ln()
    }
}

/// `ln(Φ(-a) - Φ(-b))` for `0 <= a < b`, computed in log space.
fn upper_tail_mass(a: f64, b: f64) -> f64 {
    let la = ln_erfc_pos(a * FRAC_1_SQRT_2);
    if !b.is_finite() {
        return la - std::f64::consts::LN_2;
    }
    let lb = ln_erfc_pos(b * FRAC_1_SQRT_2);
    let rest = (-(lb - la).exp()).ln_1p();
    la - std::f64::consts::LN_2 + rest
}

/// A draw of the normal `(mu, sigma)` truncated to `[0, 1]`, by rejection. With `mu` in
/// `[0, 1]` and `sigma <= 1` at least a third of the draws are accepted.
///
/// The normal draws are [`normal`]'s. Marsaglia's polar method (no cosine) was measured
/// as a replacement: a few per cent faster per ask, but its different random stream moved
/// the 100-seed median regret on branin from 0.013 to 0.025 (hartmann6 from 0.080 to
/// 0.070): a reminder of how much these medians depend on the stream.
#[inline]
pub(super) fn sample_truncated(rng: &mut Rng, mu: f64, sigma: f64) -> f64 {
    for _ in 0..100 {
        let x = mu + sigma * normal(rng);
        if (0.0..=1.0).contains(&x) {
            return x;
        }
    }
    mu.clamp(0.0, 1.0)
}

/// A standard normal draw: the core's Box–Muller draw (`Rng::normal`, the same two
/// uniforms, the same formula) with this module's logarithm and [`cos_2pi`] in place of
/// the C library's, which cost a third of the candidates' sampling (both with short
/// dependency chains: a draw is latency-bound). They agree with it to
/// a few units in the last place (tested): the same stream, up to rounding.
#[inline]
pub(super) fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.uniform(); // (0, 1]
    let u2 = rng.uniform();
    (-2.0 * ln_short_chain(u1)).sqrt() * cos_2pi(u2)
}

/// [`ln_normal`] with its series summed by Estrin's scheme: a normal draw waits on it.
#[inline(always)]
fn ln_short_chain(x: f64) -> f64 {
    let (e, f) = ln_reduce(x);
    e * std::f64::consts::LN_2 + 2.0 * f * estrin10(&INV_ODD, f * f)
}

/// `cos(2π u)` for `u` in `[0, 1)`, to a few 1e-16: folded by symmetry onto `x = 2π w`
/// with `w` in `[0, 1/4]`, where the Taylor series of cos to x²² is exact to 1e-19.
/// Branch-free, and summed by Estrin's scheme for a short dependency chain.
#[inline(always)]
pub(super) fn cos_2pi(u: f64) -> f64 {
    // cos(2πu) = -cos(2π|u - 1/2|); past a quarter turn, cos(2πw) = -cos(2π(1/2 - w)).
    let w = (u - 0.5).abs();
    let flip = w > 0.25;
    let w = if flip { 0.5 - w } else { w };
    let sign = if flip { 1.0 } else { -1.0 };
    let x = std::f64::consts::TAU * w;
    let x2 = x * x;
    // 1 / (2i)! with alternating signs.
    const COEFFS: [f64; 12] = [
        1.0,
        -1.0 / 2.0,
        1.0 / 24.0,
        -1.0 / 720.0,
        1.0 / 40_320.0,
        -1.0 / 3_628_800.0,
        1.0 / 479_001_600.0,
        -1.0 / 87_178_291_200.0,
        1.0 / 20_922_789_888_000.0,
        -1.0 / 6_402_373_705_728_000.0,
        1.0 / 2_432_902_008_176_640_000.0,
        -1.0 / 1_124_000_727_777_607_680_000.0,
    ];
    sign * estrin12(&COEFFS, x2)
}

/// The largest value (`-inf` for none), with four independent running maxima so that there
/// is no loop-carried latency.
pub(super) fn max_of(v: &[f64]) -> f64 {
    let mut m = [f64::NEG_INFINITY; 4];
    let mut chunks = v.chunks_exact(4);
    for c in &mut chunks {
        for i in 0..4 {
            m[i] = if c[i] > m[i] { c[i] } else { m[i] };
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    m.iter().fold(tail, |a, &b| a.max(b))
}

/// [`max_of`] in single precision.
#[cfg(test)]
pub(super) fn max_of32(v: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            m[i] = if c[i] > m[i] { c[i] } else { m[i] };
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    m.iter().fold(tail, |a, &b| a.max(b))
}

/// `e^x` in single precision for `x` in `[-80, 0]` (relative error ~2e-7), branch-free so
/// that loops of it vectorise.
#[inline(always)]
pub(super) fn exp32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer.
    const SHIFT: f32 = 12_582_912.0;
    let xc = x.max(-80.0);
    let shifted = xc * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let r = xc - n * LN2_HI - n * LN2_LO; // |r| <= ln(2)/2
    // Taylor series to degree 6: remainder below 1.3e-7 on |r| <= 0.35.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // The low mantissa bits of `shifted` hold n: 2^n from them, without a conversion.
    let scale = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    p * scale
}

/// `Σ e^{v - shift}` for `v <= shift` in single precision (terms below e^-80 count as
/// e^-80), with eight independent partial sums so that it vectorises (the reference for
/// the sums of `Mixture::log_pdf_block`).
#[cfg(test)]
pub(super) fn sum_exp32_shifted(v: &[f32], shift: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] += exp32(c[i] - shift);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&t| exp32(t - shift)).sum();
    acc.iter().sum::<f32>() + tail
}

/// `Σ e^{v - max}`, with four independent partial sums (no loop-carried latency, and the
/// exponentials vectorise).
pub(super) fn sum_exp(v: &[f64], max: f64) -> f64 {
    let mut acc = [0.0; 4];
    let mut chunks = v.chunks_exact(4);
    for c in &mut chunks {
        for i in 0..4 {
            acc[i] += exp(c[i] - max);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&t| exp(t - max)).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `ln Σ e^{x_i}`; `-inf` for an empty slice.
#[cfg(test)]
pub(super) fn log_sum_exp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = xs.iter().map(|&x| exp(x - max)).sum();
    max + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phi(x: f64) -> f64 {
        // Reference Φ by Simpson integration from -12.
        let n = 20_000;
        let (lo, h) = (-12.0, (x + 12.0) / n as f64);
        let f = |t: f64| (-0.5 * t * t).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let mut s = f(lo) + f(x);
        for i in 1..n {
            s += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0
    }

    #[test]
    fn ln_matches_std() {
        let mut x = 1e-300;
        while x < 1e300 {
            let (a, b) = (ln(x), x.ln());
            assert!(
                (a - b).abs() <= 1e-15 * b.abs().max(1.0),
                "ln({x}) = {a}, std {b}"
            );
            x *= 1.37;
        }
        for x in [
            1.0,
            2.0,
            0.5,
            std::f64::consts::SQRT_2,
            0.999_999_9,
            1.000_000_1,
        ] {
            assert!((ln(x) - x.ln()).abs() < 1e-16, "{x}");
        }
        assert!(ln(0.0) == f64::NEG_INFINITY && ln(-1.0).is_nan());
    }

    #[test]
    fn normal_draws_match_the_core() {
        for i in 0..=100_000 {
            let u = i as f64 / 100_000.0 * (1.0 - f64::EPSILON);
            let (a, b) = (cos_2pi(u), (std::f64::consts::TAU * u).cos());
            // The core's argument 2π·u is itself rounded (up to 4e-16 near 2π).
            assert!((a - b).abs() < 1e-15, "cos_2pi({u}) = {a}, std {b}");
        }
        let (mut ours, mut core) = (Rng::new(5), Rng::new(5));
        for _ in 0..100_000 {
            let (a, b) = (normal(&mut ours), core.normal());
            assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn exp32_matches_std() {
        for i in 0..8000 {
            let x = -(i as f32) * 0.01;
            let (a, b) = (exp32(x), x.exp());
            assert!(((a - b) / b).abs() < 4e-7, "exp32({x}) = {a}, std {b}");
        }
        let v: Vec<f32> = (0..37).map(|i| -(i as f32) * 0.5).collect();
        let want: f64 = v.iter().map(|&t| f64::from(t).exp()).sum();
        assert!((f64::from(sum_exp32_shifted(&v, 0.0)) - want).abs() < 1e-6 * want);
    }

    #[test]
    fn exp_matches_std() {
        for i in -6900..6900 {
            let x = i as f64 * 0.1013;
            let (a, b) = (exp(x), x.exp());
            assert!(((a - b) / b).abs() < 1e-13, "exp({x}) = {a}, std {b}");
        }
        assert_eq!(exp(-1000.0), 0.0);
        assert!(exp(f64::NAN).is_nan());
    }

    #[test]
    fn gauss_masses_match_integration() {
        for &(a, b) in &[
            (-0.1, 0.05),
            (-1.0, 2.0),
            (0.5, 3.0),
            (-3.0, -0.2),
            (4.0, 4.1),
            (2.0, 2.2),
            (-6.0, -5.0),
        ] {
            let want = (phi(b) - phi(a)).ln();
            let got = ln_gauss_mass(a, b);
            assert!((got - want).abs() < 1e-5, "[{a}, {b}]: {got} vs {want}");
        }
        // Deep tails stay finite and ordered.
        let far = ln_gauss_mass(40.0, 41.0);
        assert!(far.is_finite() && far < -790.0, "{far}");
        assert!((ln_unit_mass(0.5, 1.0) - (phi(0.5) - phi(-0.5)).ln()).abs() < 1e-6);
        assert!(ln_unit_mass(0.5, 100.0).abs() < 1e-9);
    }

    #[test]
    fn truncated_draws_stay_inside() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            let x = sample_truncated(&mut rng, 0.0, 1.0);
            assert!((0.0..=1.0).contains(&x));
        }
        assert!((log_sum_exp(&[0.0, 0.0]) - 2f64.ln()).abs() < 1e-12);
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    }
}
