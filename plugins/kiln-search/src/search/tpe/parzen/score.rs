//! Scoring candidates: `ln p(x)` of a mixture at each candidate (see the module docs of
//! `parzen` for the passes and the cut-off).

use super::{CUTOFF, EvalScratch, Mixture};
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
        for x in cands.chunks_exact(d_count) {
            out.push(self.log_pdf_one(x, axes, s));
        }
    }

    /// `ln p(x)` when every dimension is continuous, in single precision: each kernel's
    /// log-term is `base - Σ ((x - μ) · √½/σ)²`, two dimensions per pass over equal-length
    /// slices (four kernels per instruction). The terms near the largest are summed in
    /// double precision. Rounding moves the result by about 1e-6 per unit of log-density,
    /// which cannot change which of two candidates scores higher except in a near tie.
    fn log_pdf_continuous(&self, x: &[f64], s: &mut EvalScratch) -> f64 {
        let n = self.n_kernels;
        let p = &mut s.partial32;
        p.resize(n, 0.0);
        let p = &mut p[..n];
        let base = &self.base32[..n];
        let col = |d: usize| d * n..(d + 1) * n;
        let d_count = self.dims.len();
        // The first pass writes `base - z²` for one or two dimensions; the next subtract.
        let (m0, s0, x0) = (&self.mu32[col(0)], &self.scale32[col(0)], x[0] as f32);
        let mut d = if d_count >= 2 {
            let (m1, s1, x1) = (&self.mu32[col(1)], &self.scale32[col(1)], x[1] as f32);
            for k in 0..n {
                let z0 = (x0 - m0[k]) * s0[k];
                let z1 = (x1 - m1[k]) * s1[k];
                p[k] = base[k] - (z0 * z0 + z1 * z1);
            }
            2
        } else {
            for k in 0..n {
                let z0 = (x0 - m0[k]) * s0[k];
                p[k] = base[k] - z0 * z0;
            }
            1
        };
        while d + 1 < d_count {
            let (m0, s0) = (&self.mu32[col(d)], &self.scale32[col(d)]);
            let (m1, s1) = (&self.mu32[col(d + 1)], &self.scale32[col(d + 1)]);
            let (x0, x1) = (x[d] as f32, x[d + 1] as f32);
            for k in 0..n {
                let z0 = (x0 - m0[k]) * s0[k];
                let z1 = (x1 - m1[k]) * s1[k];
                p[k] -= z0 * z0 + z1 * z1;
            }
            d += 2;
        }
        if d < d_count {
            let (m0, s0) = (&self.mu32[col(d)], &self.scale32[col(d)]);
            let x0 = x[d] as f32;
            for k in 0..n {
                let z0 = (x0 - m0[k]) * s0[k];
                p[k] -= z0 * z0;
            }
        }
        let max = math::max_of32(p);
        if !max.is_finite() {
            return f64::from(max);
        }
        // Every term, vectorised: those more than CUTOFF below the largest add under
        // n e^-25 relative, below single precision, so no compaction is needed.
        f64::from(max) + math::ln(f64::from(math::sum_exp32_shifted(p, max)))
    }

    fn log_pdf_one(&self, x: &[f64], axes: &[&Axis<'_>], s: &mut EvalScratch) -> f64 {
        if !self.base32.is_empty() {
            return self.log_pdf_continuous(x, s);
        }
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
