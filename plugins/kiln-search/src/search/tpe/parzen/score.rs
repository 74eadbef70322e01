//! Scoring candidates: `ln p(x)` of a mixture at each candidate (see the module docs of
//! `parzen` for the passes and the cut-off).

use super::{BLOCK, CUTOFF, EvalScratch, Mixture};
use crate::search::tpe::axis::Axis;
use crate::search::tpe::kernels::{Dim, term};
use crate::search::tpe::math;

impl Mixture {
    /// `ln p(x)` of each candidate row of `cands` into `out`.
    pub fn log_pdf(
        &self,
        cands: &[f64],
        axes: &[&Axis<'_>],
        out: &mut Vec<f64>,
        s: &mut EvalScratch,
    ) {
        out.clear();
        let d_count = self.dims.len();
        if d_count == 0 {
            return;
        }
        if !self.kern32.is_empty() {
            for block in cands.chunks(BLOCK * d_count) {
                self.log_pdf_block(block, out, s);
            }
            return;
        }
        for x in cands.chunks_exact(d_count) {
            out.push(self.log_pdf_one(x, axes, s));
        }
    }

    /// `ln p(x)` of up to [`BLOCK`] candidate rows when every dimension is continuous, in
    /// single precision: each kernel's log-term is `base - Σ ((x - μ) · √½/σ)²`, computed
    /// for all the candidates at once (one kernel's centre and width against a vector of
    /// candidates), then `max + ln Σ e^{term - max}` per candidate. Rounding moves the
    /// result by about 1e-6 per unit of log-density, which cannot change which of two
    /// candidates scores higher except in a near tie. The operations are those of
    /// `Mixture::log_pdf_continuous` (the tests' reference, one candidate at a time) in
    /// the same order, sums included, except that a kernel more than [`CUTOFF`] below the
    /// largest term of each of eight candidates is left out of their sums: the same result
    /// to single precision (tested).
    // Indexed loops over the block: the same index into several arrays, which the
    // compiler turns into vector instructions.
    #[allow(clippy::needless_range_loop)]
    fn log_pdf_block(&self, cands: &[f64], out: &mut Vec<f64>, s: &mut EvalScratch) {
        let n = self.n_kernels;
        let d_count = self.dims.len();
        let stride = 1 + 2 * d_count;
        let rows = cands.len() / d_count;
        // The candidates by dimension; missing rows repeat the first (and are dropped).
        let xs = &mut s.block_x;
        xs.clear();
        xs.resize(d_count, [0.0; BLOCK]);
        let first = &cands[..d_count];
        let padded = cands.chunks_exact(d_count).chain(std::iter::repeat(first));
        for (c, row) in padded.take(BLOCK).enumerate() {
            for (x, &v) in xs.iter_mut().zip(row) {
                x[c] = v as f32;
            }
        }
        let xs = &xs[..d_count];
        let terms = &mut s.block_terms;
        terms.resize(n, [0.0; BLOCK]);
        let terms = &mut terms[..n];
        let mut max = [f32::NEG_INFINITY; BLOCK];
        for (kernel, term) in self.kern32.chunks_exact(stride).zip(terms.iter_mut()) {
            let (base, pairs) = (kernel[0], &kernel[1..]);
            // As in `log_pdf_continuous`: one or two dimensions from `base`, then two at
            // a time; `pairs` holds (centre, scale) per dimension.
            let z = |d: usize, c: usize| (xs[d][c] - pairs[2 * d]) * pairs[2 * d + 1];
            let mut v = [0.0f32; BLOCK];
            let mut d = if d_count >= 2 {
                for c in 0..BLOCK {
                    let (z0, z1) = (z(0, c), z(1, c));
                    v[c] = base - (z0 * z0 + z1 * z1);
                }
                2
            } else {
                for c in 0..BLOCK {
                    let z0 = z(0, c);
                    v[c] = base - z0 * z0;
                }
                1
            };
            while d + 1 < d_count {
                for c in 0..BLOCK {
                    let (z0, z1) = (z(d, c), z(d + 1, c));
                    v[c] -= z0 * z0 + z1 * z1;
                }
                d += 2;
            }
            if d < d_count {
                for c in 0..BLOCK {
                    let z0 = z(d, c);
                    v[c] -= z0 * z0;
                }
            }
            for c in 0..BLOCK {
                max[c] = if v[c] > max[c] { v[c] } else { max[c] };
            }
            *term = v;
        }
        // `math::sum_exp32_shifted` per candidate: eight partial sums by kernel index
        // modulo 8, the remainder summed in order, then the partial sums in order. Most
        // kernels are far from every candidate; they skip the exponentials.
        let mut lanes = [[0.0f32; BLOCK]; 8];
        let mut chunks = terms.chunks_exact(8);
        for chunk in &mut chunks {
            for (lane, v) in lanes.iter_mut().zip(chunk) {
                // By eight candidates: the finer, the more is skipped.
                for c0 in (0..BLOCK).step_by(8) {
                    let mut near = false;
                    for c in c0..c0 + 8 {
                        near |= v[c] - max[c] >= -(CUTOFF as f32);
                    }
                    if near {
                        for c in c0..c0 + 8 {
                            lane[c] += math::exp32(v[c] - max[c]);
                        }
                    }
                }
            }
        }
        let mut tail = [-0.0f32; BLOCK];
        for v in chunks.remainder() {
            for c in 0..BLOCK {
                tail[c] += math::exp32(v[c] - max[c]);
            }
        }
        for c in 0..rows.min(BLOCK) {
            let m = max[c];
            out.push(if m.is_finite() {
                let sum = lanes.iter().fold(-0.0f32, |a, lane| a + lane[c]) + tail[c];
                f64::from(m) + math::ln(f64::from(sum))
            } else {
                f64::from(m)
            });
        }
    }

    /// `ln p(x)` of one candidate when every dimension is continuous: the reference for
    /// [`Mixture::log_pdf_block`], two dimensions per pass over the kernels and the terms
    /// summed by [`math::sum_exp32_shifted`].
    #[cfg(test)]
    pub(super) fn log_pdf_continuous(&self, x: &[f64]) -> f64 {
        let n = self.n_kernels;
        let d_count = self.dims.len();
        let stride = 1 + 2 * d_count;
        let kernels = || self.kern32.chunks_exact(stride);
        let mut p: Vec<f32> = kernels().map(|k| k[0]).collect();
        let z = |k: &[f32], d: usize| (x[d] as f32 - k[1 + 2 * d]) * k[2 + 2 * d];
        let mut d = 0;
        while d < d_count {
            for (v, k) in p.iter_mut().zip(kernels()) {
                if d + 1 < d_count {
                    let (z0, z1) = (z(k, d), z(k, d + 1));
                    *v -= z0 * z0 + z1 * z1;
                } else {
                    let z0 = z(k, d);
                    *v -= z0 * z0;
                }
            }
            d += 2;
        }
        assert_eq!(p.len(), n);
        let max = math::max_of32(&p);
        if !max.is_finite() {
            return f64::from(max);
        }
        f64::from(max) + math::ln(f64::from(math::sum_exp32_shifted(&p, max)))
    }

    fn log_pdf_one(&self, x: &[f64], axes: &[&Axis<'_>], s: &mut EvalScratch) -> f64 {
        let EvalScratch {
            memo,
            partial,
            active,
            near,
            ..
        } = s;
        let n = self.n_kernels;
        partial.clear();
        partial.extend_from_slice(&self.base);
        // The full passes, written over equal-length slices so that they vectorise.
        let pass = |d: usize| match &self.dims[d] {
            Dim::Numeric(nd) if self.base_has_norms => Some((&nd.mu[..n], &nd.inv_sigma[..n])),
            _ => None,
        };
        if self.base_has_norms {
            // Two dimensions per pass: one read and write of `partial` for both.
            for pair in self.order[..self.full_passes].chunks(2) {
                match *pair {
                    [d0, d1] => {
                        if let (Some((m0, i0)), Some((m1, i1))) = (pass(d0), pass(d1)) {
                            let (x0, x1) = (x[d0], x[d1]);
                            let p = &mut partial[..n];
                            for k in 0..n {
                                let z0 = (x0 - m0[k]) * i0[k];
                                let z1 = (x1 - m1[k]) * i1[k];
                                p[k] -= 0.5 * (z0 * z0 + z1 * z1);
                            }
                        }
                    }
                    [d0] => {
                        if let Some((m0, i0)) = pass(d0) {
                            let x0 = x[d0];
                            let p = &mut partial[..n];
                            for k in 0..n {
                                let z0 = (x0 - m0[k]) * i0[k];
                                p[k] -= 0.5 * z0 * z0;
                            }
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let d = self.order[0];
            for (k, r) in partial.iter_mut().enumerate() {
                *r += term(&self.dims[d], k, x[d], axes[d], memo);
            }
        }
        if self.full_passes == self.order.len() {
            return log_sum_exp_from(partial.iter().copied(), math::max_of(partial), near);
        }
        // A lower bound of the best kernel's full log-density: the better full score of the
        // leader so far and of the prior (which in many dimensions often dominates).
        let top = math::max_of(partial);
        let lead = (partial.iter().position(|&v| v >= top).unwrap_or(0), top);
        let rest = &self.order[self.full_passes..];
        let mut finish = |k: usize| {
            let mut v = partial[k];
            for &d in rest {
                v += term(&self.dims[d], k, x[d], axes[d], memo);
            }
            v
        };
        let floor = finish(lead.0).max(finish(self.n_kernels - 1)) - CUTOFF;
        let bound = self.bound_after[self.full_passes - 1] - floor;
        // Branch-free compaction: write every index, advance only past the kept ones.
        active.resize(self.n_kernels, 0);
        let mut kept = 0;
        for (k, &v) in partial.iter().enumerate() {
            active[kept] = k as u32;
            kept += usize::from(v + bound >= 0.0);
        }
        active.truncate(kept);
        for (j, &d) in self.order.iter().enumerate().skip(self.full_passes) {
            let bound = self.bound_after[j] - floor;
            let mut kept = 0;
            let list = &mut active[..];
            match &self.dims[d] {
                Dim::Numeric(nd) if !nd.discrete => {
                    let (mu, inv, ln) = (&nd.mu[..], &nd.inv_sigma[..], &nd.log_norm[..]);
                    let xd = x[d];
                    for i in 0..list.len() {
                        let k = list[i] as usize;
                        let z = (xd - mu[k]) * inv[k];
                        let v = partial[k] + ln[k] - 0.5 * z * z;
                        partial[k] = v;
                        list[kept] = k as u32;
                        kept += usize::from(v + bound >= 0.0);
                    }
                }
                dim => {
                    for i in 0..list.len() {
                        let k = list[i] as usize;
                        let v = partial[k] + term(dim, k, x[d], axes[d], memo);
                        partial[k] = v;
                        list[kept] = k as u32;
                        kept += usize::from(v + bound >= 0.0);
                    }
                }
            }
            active.truncate(kept);
        }
        {
            let max = active
                .iter()
                .fold(f64::NEG_INFINITY, |m, &k| m.max(partial[k as usize]));
            log_sum_exp_from(active.iter().map(|&k| partial[k as usize]), max, near)
        }
    }
}

/// `ln Σ e^{v}` given the largest `max`, skipping terms more than [`CUTOFF`] below it.
fn log_sum_exp_from(v: impl Iterator<Item = f64>, max: f64, near: &mut Vec<f64>) -> f64 {
    if !max.is_finite() {
        return max;
    }
    let floor = max - CUTOFF;
    near.clear();
    near.extend(v.filter(|&t| t >= floor));
    max + math::ln(math::sum_exp(near, max))
}
