//! The affine warp on the host: one image at a time, straight from the sampling matrix to
//! bilinear taps, with no sampling grid in memory.
//!
//! It computes what Burn's `affine_grid_2d` + `grid_sample_2d` (bilinear, zeros outside,
//! corners aligned) compute, folded into pixel coordinates: an output pixel `(x, y)` reads
//! the input at `(ix, iy) = P·(x, y, 1)`, where `P` is the normalised sampling matrix
//! conjugated by the pixel ↔ [-1, 1] maps.
//!
//! Why it is shaped the way it is (it is the hot loop of a CPU augmentation chain):
//! - The source is copied once into a plane with a zero border (one pixel before, two
//!   after, on both axes), and coordinates are clamped to `[-1, side]`. Every tap then
//!   lands inside the padded plane, a tap outside the image reads a zero, and a pixel whose
//!   taps are all outside reads only zeros: one branch-free formula for every pixel.
//! - A row is worked out in passes over small arrays (coordinates, then integer corners and
//!   fractions), which the compiler vectorises; the per-channel pass is then four loads
//!   and two linear interpolations per pixel.

/// The sampling matrix `[a, b, tx, c, d, ty]` (normalised, as
/// [`crate::Transform::grid_matrix`] gives) in pixel coordinates of a `h × w` image:
/// `ix = p[0]·x + p[1]·y + p[2]`, `iy = p[3]·x + p[4]·y + p[5]`.
fn pixel_matrix(m: &[f64; 6], h: usize, w: usize) -> [f64; 6] {
    // x_norm = x / sx − 1 and ix = (u_norm + 1)·sx, with sx = (w − 1) / 2 (and sy alike).
    // A side of one pixel has no span to normalise by: it stays where it is.
    let (sx, sy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    if sx <= 0.0 || sy <= 0.0 {
        return [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    }
    let [a, b, tx, c, d, ty] = *m;
    [
        a,
        b * sx / sy,
        sx * (tx + 1.0 - a - b),
        c * sy / sx,
        d,
        sy * (ty + 1.0 - c - d),
    ]
}

/// `v.floor()` as an integer, for `v` within `i32` range. Baseline x86-64 has no rounding
/// instruction, so `f32::floor` is a library call; a truncating conversion and a comparison
/// vectorise.
fn floor(v: f32) -> i32 {
    let t = v as i32;
    t - i32::from(t as f32 > v)
}

/// Scratch space for [`warp_image`], reused across the images of a batch.
#[derive(Debug, Default)]
pub struct WarpScratch {
    padded: Vec<f32>,
    ix: Vec<f32>,
    iy: Vec<f32>,
    at: Vec<u32>,
}

/// Warps one image of `channels` planes of `h × w` from `src` into `dst` through the
/// normalised sampling matrix `m`: bilinear, zeros outside. Does nothing when the lengths
/// do not match the shape.
pub fn warp_image(
    src: &[f32],
    dst: &mut [f32],
    (channels, h, w): (usize, usize, usize),
    m: &[f64; 6],
    scratch: &mut WarpScratch,
) {
    let plane = h * w;
    if plane == 0 || src.len() != channels * plane || dst.len() != src.len() {
        return;
    }
    // The padded plane: columns -1..=w+1 and rows -1..=h+1 of the image.
    let (pw, ph) = (w + 3, h + 3);
    let padded_plane = pw * ph;
    scratch.padded.clear();
    scratch.padded.resize(channels * padded_plane, 0.0);
    for (s, p) in src
        .chunks_exact(plane)
        .zip(scratch.padded.chunks_exact_mut(padded_plane))
    {
        for (row, out) in s.chunks_exact(w).zip(p[pw..].chunks_exact_mut(pw)) {
            out[1..=w].copy_from_slice(row);
        }
    }
    let p = pixel_matrix(m, h, w);
    let (step_x, step_y) = (p[0] as f32, p[3] as f32);
    let (wf, hf) = (w as f32, h as f32);
    // The largest top-left tap index that leaves its three neighbours inside the plane.
    let last = (padded_plane - pw - 2) as u32;
    for buf in [&mut scratch.ix, &mut scratch.iy] {
        buf.resize(w, 0.0);
    }
    scratch.at.resize(w, 0);
    for y in 0..h {
        let (bx, by) = (
            (p[1] * y as f64 + p[2]) as f32,
            (p[4] * y as f64 + p[5]) as f32,
        );
        for (x, (ix, iy)) in scratch.ix.iter_mut().zip(scratch.iy.iter_mut()).enumerate() {
            *ix = (bx + step_x * x as f32).clamp(-1.0, wf);
            *iy = (by + step_y * x as f32).clamp(-1.0, hf);
        }
        // Integer corners into the padded plane; the coordinates keep only their fractions.
        for ((ix, iy), at) in scratch
            .ix
            .iter_mut()
            .zip(scratch.iy.iter_mut())
            .zip(scratch.at.iter_mut())
        {
            let (x0, y0) = (floor(*ix), floor(*iy));
            *ix -= x0 as f32;
            *iy -= y0 as f32;
            *at = (((y0 + 1) as u32) * pw as u32 + (x0 + 1) as u32).min(last);
        }
        for (s, d) in scratch
            .padded
            .chunks_exact(padded_plane)
            .zip(dst.chunks_exact_mut(plane))
        {
            let row = &mut d[y * w..(y + 1) * w];
            for (((out, &at), &fx), &fy) in row
                .iter_mut()
                .zip(&scratch.at)
                .zip(&scratch.ix)
                .zip(&scratch.iy)
            {
                let at = at as usize;
                let (top, bottom) = (&s[at..at + 2], &s[at + pw..at + pw + 2]);
                let t = top[0] + fx * (top[1] - top[0]);
                let b = bottom[0] + fx * (bottom[1] - bottom[0]);
                *out = t + fy * (b - t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_copies_and_a_half_pixel_shift_averages_neighbours() {
        let (h, w) = (4, 5);
        let src: Vec<f32> = (0..h * w).map(|i| i as f32).collect();
        let mut dst = vec![0.0; h * w];
        warp_image(
            &src,
            &mut dst,
            (1, h, w),
            &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            &mut WarpScratch::default(),
        );
        assert_eq!(dst, src);
        // Sampling half a pixel to the right: tx = 0.5 / sx in normalised units.
        let sx = (w as f64 - 1.0) / 2.0;
        warp_image(
            &src,
            &mut dst,
            (1, h, w),
            &[1.0, 0.0, 0.5 / sx, 0.0, 1.0, 0.0],
            &mut WarpScratch::default(),
        );
        for y in 0..h {
            for x in 0..w - 1 {
                let expected = (src[y * w + x] + src[y * w + x + 1]) / 2.0;
                assert!((dst[y * w + x] - expected).abs() < 1e-5);
            }
            // The last column reads half outside: half its value.
            assert!((dst[y * w + w - 1] - src[y * w + w - 1] / 2.0).abs() < 1e-5);
        }
    }
}
