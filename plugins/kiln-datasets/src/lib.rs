//! kiln's built-in datasets.
//!
//! | dataset | kind | parameters | notes |
//! |---|---|---|---|
//! | MNIST IDX | `mnist` | `path`, `valid_fraction` (0.1), `limit` | reads `train-*`/`t10k-*` IDX files, gzip or raw; checks magic, dimensions and lengths |
//! | CIFAR-10 binary | `cifar10` | `path`, `valid_fraction` (0.1), `limit`, `batches` (every `data_batch_N.bin` of 1..=5 present) | 3×32×32 RGB, 10 classes; `test_batch.bin` optional; checks record length and labels |
//! | CSV / delimited text | `csv` | `path`, `test_path`, `label` (last column; name or 0-based index), `header` (true), `delimiter` (","), `shape` (1×1×F), `valid_fraction` (0.1), `scale` | numeric features plus a label column; integer labels are classes, string labels map to classes in sorted order; ragged rows and non-numbers name file and line |
//! | image folder | `image_folder` | `path`, `test_path`, `unlabelled_path`, `size` (`[h, w]`; default: every image the first one's size), `channels` (3; 1 = luma), `valid_fraction` (0.1) | `path/<class>/*.png\|*.jpg\|*.jpeg`; class folders sorted by name are classes 0..K-1; planar C×H×W in [0, 1], alpha dropped; corrupt images, size mismatches and empty class folders name the file or folder |
//! | generated glyphs | `glyphs` | `train` (3000), `valid` (600), `test` (1000), `size` (28), `noise` (0.25), `max_rotation` (30°), `clutter` (0.6) | 10 stroke glyphs under random rotation, shift, scale, thickness and noise; made offline, deterministic under the seed |

pub mod cifar10;
pub mod csv;
pub mod glyphs;
mod holdout;
pub mod idx;
pub mod image_folder;
pub mod mnist;

use kiln_core::{Registrar, Result};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.dataset(
        "mnist",
        "MNIST-style IDX files (gzip or raw) from a folder",
        |params, ctx| Ok(Box::new(mnist::MnistSource::from_params(params, ctx)?)),
    )?;
    r.dataset(
        "cifar10",
        "CIFAR-10 binary batches (data_batch_N.bin, test_batch.bin) from a folder",
        |params, ctx| Ok(Box::new(cifar10::Cifar10Source::from_params(params, ctx)?)),
    )?;
    r.dataset(
        "csv",
        "numeric features and a label column from a delimited text file",
        |params, ctx| Ok(Box::new(csv::CsvSource::from_params(params, ctx)?)),
    )?;
    r.dataset(
        "image_folder",
        "PNG/JPEG images in one folder per class",
        |params, ctx| {
            Ok(Box::new(image_folder::ImageFolderSource::from_params(
                params, ctx,
            )?))
        },
    )?;
    r.dataset(
        "glyphs",
        "10 classes of generated glyphs under rotation, shift, scale and noise",
        |params, ctx| Ok(Box::new(glyphs::GlyphSource::from_params(params, ctx)?)),
    )?;
    Ok(())
}

kiln_core::submit_plugin!(register);
