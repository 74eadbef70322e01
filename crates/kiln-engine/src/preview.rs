//! `kiln augment-preview`: a PNG grid of what the pipeline's augmenters do to its training
//! images.
//!
//! One row per sample (the first `samples` training images), the original in the first
//! column, then one column per draw. Draw `d` runs the recipe's augmenters in order on the
//! batch of samples with one `Rng::derive(seed, [PREVIEW_STREAM, d])`, the way the trainer
//! runs them on a training batch, so a column shows what one training batch could look like.
//! Cells are upscaled by an integer factor (nearest neighbour) so that small images
//! (28 × 28) stay visible, and separated (and framed) by a grey gap.

use crate::config::Pipeline;
use crate::error::{EngineError, Result};
use image::{ExtendedColorType, ImageEncoder};
use kiln_core::{Augmenter, BuildContext, Error, Params, Registry, Rng};
use std::path::Path;

/// Cells are upscaled until their shorter side reaches this many pixels.
pub const MIN_CELL: usize = 64;
/// Pixels between cells and around the grid.
pub const GAP: usize = 4;
/// Grey level of the gaps: mid grey, so that both dark and bright images stand out.
const GAP_LEVEL: u8 = 128;
/// The stream the draws derive from (apart from the trainer's streams of the same seed).
const PREVIEW_STREAM: u64 = 0x9E71;

/// What to draw.
#[derive(Debug, Clone)]
pub struct PreviewOptions {
    /// Rows: the first `samples` training images.
    pub samples: usize,
    /// Augmented columns.
    pub draws: usize,
    /// Seed of the draws; the pipeline's seed when `None`.
    pub seed: Option<u64>,
    /// The pipeline file, named in errors about its contents.
    pub pipeline_file: std::path::PathBuf,
}

/// The grid that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewGrid {
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Rows.
    pub samples: usize,
    /// Augmented columns (the grid has one more: the originals).
    pub draws: usize,
    /// Upscaling factor of each cell.
    pub scale: usize,
    /// 1 (greyscale PNG) or 3 (RGB PNG).
    pub channels: usize,
}

/// The integer factor that brings a `h × w` image's shorter side to at least [`MIN_CELL`].
pub fn upscale_factor(h: usize, w: usize) -> usize {
    MIN_CELL.div_ceil(h.min(w).max(1)).max(1)
}

fn bad_option(key: &str, message: String) -> EngineError {
    EngineError::Core(Error::config(key, message))
}

/// Loads the pipeline's training data, runs its training recipe's augmenters `draws` times
/// on the first `samples` images and writes the grid to `out` (atomically).
pub fn write_preview(
    pipeline: &Pipeline,
    registry: &Registry,
    options: &PreviewOptions,
    out: &Path,
) -> Result<PreviewGrid> {
    if options.samples == 0 {
        return Err(bad_option("--samples", "must be at least 1, got 0".into()));
    }
    if options.draws == 0 {
        return Err(bad_option("--draws", "must be at least 1, got 0".into()));
    }
    // The augmenters of a training run: the recipe with no trial parameters, built with
    // the keys the trainer gives them (`augment[i]`), so errors read the same.
    let recipe = pipeline.recipe(&Params::new())?;
    if recipe.augment.is_empty() {
        return Err(EngineError::Pipeline {
            path: options.pipeline_file.clone(),
            line: None,
            message: "augment: the pipeline has no augmenters (its `augment = [...]` list is empty); nothing to preview".into(),
        });
    }
    let seed = options.seed.unwrap_or(pipeline.seed);
    let augmenters = recipe
        .augment
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let ctx = BuildContext {
                seed,
                base_dir: pipeline.base_dir.clone(),
                key: format!("augment[{i}]"),
            };
            registry.build_augmenter(a, &ctx)
        })
        .collect::<kiln_core::Result<Vec<_>>>()?;
    let device = crate::device::parse(&pipeline.device)
        .map_err(|m| EngineError::Core(Error::config("device", m)))?;

    let splits = crate::run::load_splits(pipeline, registry)?;
    let train = &splits.train;
    let shape = train.shape;
    if options.samples > train.len() {
        return Err(bad_option(
            "--samples",
            format!(
                "{} asked for, but the training split has {} images",
                options.samples,
                train.len()
            ),
        ));
    }
    if shape.channels != 1 && shape.channels != 3 {
        return Err(bad_option(
            "dataset",
            format!(
                "a preview draws 1- or 3-channel images; these have {}",
                shape.channels
            ),
        ));
    }
    let indices: Vec<usize> = (0..options.samples).collect();
    let (images, _) = train.batch(&indices, &device);
    // Column 0 is the originals, column d + 1 the draw d; each `[samples, c, h, w]`.
    let mut columns = vec![to_pixels(images.clone())?];
    for d in 0..options.draws {
        let mut rng = Rng::derive(seed, &[PREVIEW_STREAM, d as u64]);
        columns.push(to_pixels(augment(&augmenters, images.clone(), &mut rng)?)?);
    }
    let grid = Layout::new(options.samples, options.draws + 1, shape);
    let bytes = grid.render(&columns);
    let color = if shape.channels == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    write_png_atomic(out, &bytes, grid.width, grid.height, color)?;
    Ok(PreviewGrid {
        width: grid.width,
        height: grid.height,
        samples: options.samples,
        draws: options.draws,
        scale: grid.scale,
        channels: shape.channels,
    })
}

fn augment(
    augmenters: &[Box<dyn Augmenter>],
    images: kiln_core::burn::Tensor<4>,
    rng: &mut Rng,
) -> Result<kiln_core::burn::Tensor<4>> {
    Ok(kiln_core::augment_images(augmenters, images, rng)?)
}

fn to_pixels(images: kiln_core::burn::Tensor<4>) -> Result<Vec<f32>> {
    images
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| EngineError::Core(Error::Training(format!("reading images back: {e:?}"))))
}

/// Where the cells go.
struct Layout {
    rows: usize,
    cols: usize,
    shape: kiln_core::ImageShape,
    scale: usize,
    width: usize,
    height: usize,
}

impl Layout {
    fn new(rows: usize, cols: usize, shape: kiln_core::ImageShape) -> Self {
        let scale = upscale_factor(shape.height, shape.width);
        let (cw, ch) = (shape.width * scale, shape.height * scale);
        Layout {
            rows,
            cols,
            shape,
            scale,
            width: cols * cw + (cols + 1) * GAP,
            height: rows * ch + (rows + 1) * GAP,
        }
    }

    /// Interleaved 8-bit pixels (`channels` per pixel), row after row.
    fn render(&self, columns: &[Vec<f32>]) -> Vec<u8> {
        let (c, h, w) = (self.shape.channels, self.shape.height, self.shape.width);
        let s = self.scale;
        let mut out = vec![GAP_LEVEL; self.width * self.height * c];
        for (col, pixels) in columns.iter().enumerate().take(self.cols) {
            for row in 0..self.rows {
                let image = &pixels[row * c * h * w..(row + 1) * c * h * w];
                let x0 = GAP + col * (w * s + GAP);
                let y0 = GAP + row * (h * s + GAP);
                for y in 0..h * s {
                    for x in 0..w * s {
                        let at = ((y0 + y) * self.width + x0 + x) * c;
                        for ch in 0..c {
                            let v = image[ch * h * w + (y / s) * w + x / s];
                            out[at + ch] = to_byte(v);
                        }
                    }
                }
            }
        }
        out
    }
}

/// `[0, 1]` → `0..=255`, clamped (NaN reads as black).
pub fn to_byte(v: f32) -> u8 {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    (v * 255.0).round() as u8
}

/// Encodes a PNG and writes it to a temporary file in `path`'s folder, then renames it.
fn write_png_atomic(
    path: &Path,
    pixels: &[u8],
    width: usize,
    height: usize,
    color: ExtendedColorType,
) -> Result<()> {
    let err = |message: String| EngineError::File {
        path: path.to_path_buf(),
        message,
    };
    let (w, h) = (
        u32::try_from(width).map_err(|_| err("grid too wide".into()))?,
        u32::try_from(height).map_err(|_| err("grid too tall".into()))?,
    );
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(pixels, w, h, color)
        .map_err(|e| err(format!("encoding PNG: {e}")))?;
    let name = path
        .file_name()
        .ok_or_else(|| err("not a file name".into()))?;
    let tmp = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    std::fs::write(&tmp, png).map_err(|e| err(format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(format!("cannot write: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_images_are_upscaled_to_at_least_the_minimum_cell() {
        assert_eq!(upscale_factor(28, 28), 3);
        assert_eq!(upscale_factor(16, 16), 4);
        assert_eq!(upscale_factor(32, 64), 2);
        assert_eq!(upscale_factor(224, 224), 1);
    }

    #[test]
    fn bytes_are_clamped_and_rounded() {
        assert_eq!(to_byte(-0.5), 0);
        assert_eq!(to_byte(1.5), 255);
        assert_eq!(to_byte(0.5), 128);
        assert_eq!(to_byte(f32::NAN), 0);
    }

    #[test]
    fn cells_sit_after_the_gap_and_keep_their_channels_apart() {
        let shape = kiln_core::ImageShape {
            channels: 3,
            height: 1,
            width: 1,
        };
        let layout = Layout::new(1, 2, shape);
        assert_eq!(layout.scale, MIN_CELL);
        assert_eq!(
            (layout.width, layout.height),
            (2 * MIN_CELL + 3 * GAP, MIN_CELL + 2 * GAP)
        );
        let bytes = layout.render(&[vec![1.0, 0.0, 0.0], vec![0.0, 0.0, 1.0]]);
        let px = |x: usize, y: usize| &bytes[(y * layout.width + x) * 3..][..3];
        assert_eq!(px(0, 0), [GAP_LEVEL; 3]);
        assert_eq!(px(GAP, GAP), [255, 0, 0]);
        assert_eq!(px(2 * GAP + MIN_CELL, GAP + MIN_CELL - 1), [0, 0, 255]);
    }
}
