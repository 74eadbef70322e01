use crate::mix::{MixConfig, Mixed, batch_of, draw_weight, images_of, index, partners};
use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::TensorData;
use kiln_core::{Augmenter, Batch, BuildContext, Result, Rng};
use serde::Deserialize;

/// Parameters of [`CutMix`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CutMixConfig {
    /// Probability that a sample gets a box of its partner.
    pub p: f64,
    /// The box's weight is drawn from `Beta(alpha, alpha)`.
    pub alpha: f64,
}

impl Default for CutMixConfig {
    fn default() -> Self {
        CutMixConfig { p: 1.0, alpha: 1.0 }
    }
}

/// CutMix (Yun et al., 2019): a box of each sample is replaced by the same box of a partner
/// from the batch, and the label is blended by area: the sample keeps the share of its own
/// pixels that is left, the partner gets the pasted share.
///
/// For each sample `λ ~ Beta(α, α)` sets the box's sides to `√(1 - λ)` of the image's; its
/// centre is uniform over the pixels and the box is clipped at the border, so the label
/// weight is computed from the box actually pasted, not from `λ`. Defaults `p = 1`,
/// `alpha = 1` (the paper's).
///
/// Draws, in order: for every sample a Bernoulli(`p`), one seed for its Beta draw, the centre
/// row, the centre column; then one partner permutation for the batch.
#[derive(Debug, Clone)]
pub struct CutMix {
    config: MixConfig,
}

/// A pasted box: rows `top..bottom`, columns `left..right`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasteBox {
    /// First row.
    pub top: usize,
    /// One past the last row.
    pub bottom: usize,
    /// First column.
    pub left: usize,
    /// One past the last column.
    pub right: usize,
}

impl PasteBox {
    /// The box of sides `side·(h, w)` centred on `(cy, cx)`, clipped to the image.
    pub fn centred(cy: usize, cx: usize, side: f64, h: usize, w: usize) -> PasteBox {
        let span = |centre: usize, len: usize| {
            let cut = (len as f64 * side).round() as i64;
            let start = centre as i64 - cut / 2;
            (
                start.clamp(0, len as i64) as usize,
                (start + cut).clamp(0, len as i64) as usize,
            )
        };
        let (top, bottom) = span(cy, h);
        let (left, right) = span(cx, w);
        PasteBox {
            top,
            bottom,
            left,
            right,
        }
    }

    /// Pixels inside the box.
    pub fn area(&self) -> usize {
        (self.bottom - self.top) * (self.right - self.left)
    }
}

impl CutMix {
    /// A cutmix with validated parameters.
    pub fn new(config: CutMixConfig, key: &str) -> Result<Self> {
        let config = MixConfig {
            p: config.p,
            alpha: config.alpha,
        };
        config.validate(key)?;
        Ok(CutMix { config })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        CutMix::new(ctx.parse(params)?, &ctx.key)
    }

    /// The per-sample boxes (`None` where the sample does not fire) and the partners.
    pub fn draw(
        &self,
        n: usize,
        h: usize,
        w: usize,
        rng: &mut Rng,
    ) -> (Vec<Option<PasteBox>>, Vec<usize>) {
        let boxes = (0..n)
            .map(|_| {
                let (fire, lambda) = draw_weight(self.config.p, self.config.alpha, rng);
                let cy = rng.below(h as u64) as usize;
                let cx = rng.below(w as u64) as usize;
                fire.then(|| PasteBox::centred(cy, cx, (1.0 - lambda).sqrt(), h, w))
            })
            .collect();
        (boxes, partners(n, rng))
    }

    /// Pastes the partners' boxes.
    fn mix(&self, images: Tensor<4>, rng: &mut Rng) -> Mixed {
        let [n, _, h, w] = images.dims();
        if h == 0 || w == 0 {
            return None;
        }
        let (boxes, perm) = self.draw(n, h, w, rng);
        if boxes.iter().all(Option::is_none) {
            return None;
        }
        // The paste mask is built on the host (one `[n, 1, h, w]` upload), like cutout's.
        let mut paste = vec![0.0f32; n * h * w];
        let mut weights = vec![1.0f32; n];
        for (s, b) in boxes.iter().enumerate() {
            let Some(b) = b else { continue };
            for y in b.top..b.bottom {
                paste[s * h * w + y * w + b.left..s * h * w + y * w + b.right].fill(1.0);
            }
            weights[s] = 1.0 - b.area() as f32 / (h * w) as f32;
        }
        let device = images.device();
        let m = Tensor::<4>::from_data(TensorData::new(paste, [n, 1, h, w]), &device);
        let partner = images.clone().select(0, index(&perm, &device));
        let mixed = images * (m.clone().neg() + 1.0) + partner * m;
        Some((mixed, weights, perm))
    }
}

impl Augmenter for CutMix {
    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>> {
        Ok(images_of(self.mix(images.clone(), rng), images))
    }

    fn augment_batch(&self, batch: Batch, rng: &mut Rng) -> Result<Batch> {
        batch_of(self.mix(batch.images.clone(), rng), batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::Targets;
    use kiln_core::burn::prelude::{Device, Int};

    fn cutmix(p: f64) -> CutMix {
        CutMix::new(CutMixConfig { p, alpha: 1.0 }, "a").expect("valid")
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_augmenter(|p| Box::new(cutmix(p)));
        kiln_core::testing::check_label_mixing(|p| Box::new(cutmix(p)));
    }

    #[test]
    fn boxes_are_clipped_at_the_border() {
        assert_eq!(
            PasteBox::centred(0, 7, 0.5, 8, 8),
            PasteBox {
                top: 0,
                bottom: 2,
                left: 5,
                right: 8
            }
        );
        assert_eq!(PasteBox::centred(4, 4, 1.0, 8, 8).area(), 64);
        assert_eq!(PasteBox::centred(4, 4, 0.0, 8, 8).area(), 0);
    }

    #[test]
    fn the_label_weight_is_the_share_of_pixels_pasted() {
        let (n, h, w) = (10, 8, 6);
        let device = Device::flex();
        // Sample i is the constant image i + 1 (so pasted pixels are recognisable), class i.
        let pixels: Vec<f32> = (0..n)
            .flat_map(|i| std::iter::repeat_n((i + 1) as f32, h * w))
            .collect();
        let labels: Vec<i64> = (0..n as i64).collect();
        let batch = Batch {
            images: Tensor::from_data(TensorData::new(pixels, [n, 1, h, w]), &device),
            targets: Targets::Labels(Tensor::<1, Int>::from_data(
                TensorData::new(labels, [n]),
                &device,
            )),
            classes: n,
        };
        let out = cutmix(1.0)
            .augment_batch(batch, &mut Rng::new(21))
            .expect("mix");
        let (boxes, perm) = cutmix(1.0).draw(n, h, w, &mut Rng::new(21));
        let images: Vec<f32> = out.images.into_data().try_to_vec::<f32>().expect("f32");
        let Targets::Soft(t) = out.targets else {
            panic!("cutmix gives soft targets")
        };
        let t: Vec<f32> = t.into_data().try_to_vec::<f32>().expect("f32");
        for i in 0..n {
            let b = boxes[i].expect("p = 1 fires");
            let plane = &images[i * h * w..(i + 1) * h * w];
            let pasted = plane.iter().filter(|&&v| v != (i + 1) as f32).count();
            let j = perm[i];
            if j != i {
                assert_eq!(pasted, b.area(), "sample {i}");
                assert!(
                    (t[i * n + j] - b.area() as f32 / (h * w) as f32).abs() < 1e-6,
                    "sample {i}: the partner's weight is the pasted share"
                );
            }
            let row_sum: f32 = t[i * n..(i + 1) * n].iter().sum();
            assert!((row_sum - 1.0).abs() < 1e-5);
            for y in 0..h {
                for x in 0..w {
                    let inside = (b.top..b.bottom).contains(&y) && (b.left..b.right).contains(&x);
                    let want = if inside { j + 1 } else { i + 1 } as f32;
                    assert_eq!(plane[y * w + x], want, "sample {i} at ({y}, {x})");
                }
            }
        }
    }
}
