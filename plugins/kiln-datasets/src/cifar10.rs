//! CIFAR-10 in its standard binary layout: `data_batch_1.bin` … `data_batch_5.bin` and
//! `test_batch.bin` in one folder. Each record is one label byte followed by 3072 pixel
//! bytes: 1024 red, 1024 green, 1024 blue, each plane row-major 32×32.

use kiln_core::{BuildContext, DatasetSource, Error, ImageSet, ImageShape, Result, Splits};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Bytes of one image: 3 channels of 32×32.
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes of one record: the label byte and the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;

/// The shape of a CIFAR-10 image.
pub const SHAPE: ImageShape = ImageShape {
    channels: 3,
    height: 32,
    width: 32,
};

/// Parameters of [`Cifar10Source`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cifar10Config {
    /// Folder holding `data_batch_N.bin` and, optionally, `test_batch.bin`. Relative to
    /// the pipeline file.
    pub path: String,
    /// Share of the training records held out (stratified) for validation.
    #[serde(default = "default_valid")]
    pub valid_fraction: f64,
    /// Use only the first `limit` training records (quick runs).
    pub limit: Option<usize>,
    /// Which `data_batch_N.bin` files to read (each in 1..=5), in this order. Listed
    /// files must exist. Default: every one of 1..=5 that is present.
    pub batches: Option<Vec<u32>>,
}

fn default_valid() -> f64 {
    0.1
}

/// Reads the CIFAR-10 binary batches.
#[derive(Debug, Clone)]
pub struct Cifar10Source {
    dir: PathBuf,
    valid_fraction: f64,
    limit: Option<usize>,
    batches: Option<Vec<u32>>,
    seed: u64,
}

impl Cifar10Source {
    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: Cifar10Config = ctx.parse(params)?;
        if !(c.valid_fraction > 0.0 && c.valid_fraction < 1.0) {
            return Err(Error::config(
                format!("{}.valid_fraction", ctx.key),
                format!("must be in (0, 1), got {}", c.valid_fraction),
            ));
        }
        if c.limit == Some(0) {
            return Err(Error::config(
                format!("{}.limit", ctx.key),
                "must be at least 1",
            ));
        }
        if let Some(b) = &c.batches {
            if b.is_empty() {
                return Err(Error::config(
                    format!("{}.batches", ctx.key),
                    "must list at least one batch (1..=5)",
                ));
            }
            if let Some(bad) = b.iter().find(|&&n| !(1..=5).contains(&n)) {
                return Err(Error::config(
                    format!("{}.batches", ctx.key),
                    format!("batch {bad} is not in 1..=5"),
                ));
            }
            let mut seen = b.clone();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() != b.len() {
                return Err(Error::config(
                    format!("{}.batches", ctx.key),
                    format!("lists a batch twice: {b:?}"),
                ));
            }
        }
        Ok(Cifar10Source {
            dir: ctx.resolve(&c.path),
            valid_fraction: c.valid_fraction,
            limit: c.limit,
            batches: c.batches,
            seed: ctx.seed,
        })
    }

    fn train_files(&self) -> Result<Vec<PathBuf>> {
        let name = |n: u32| self.dir.join(format!("data_batch_{n}.bin"));
        match &self.batches {
            Some(list) => list
                .iter()
                .map(|&n| {
                    let p = name(n);
                    if p.is_file() {
                        Ok(p)
                    } else {
                        Err(Error::data(p, None, "not found (listed in `batches`)"))
                    }
                })
                .collect(),
            None => {
                let found: Vec<PathBuf> = (1..=5).map(name).filter(|p| p.is_file()).collect();
                if found.is_empty() {
                    Err(Error::data(
                        &self.dir,
                        None,
                        "no CIFAR-10 training batch found (looked for data_batch_1.bin … data_batch_5.bin)",
                    ))
                } else {
                    Ok(found)
                }
            }
        }
    }
}

/// Decodes CIFAR-10 records; `path` is used in errors. Reads at most `max` records.
pub fn parse(
    bytes: &[u8],
    path: &Path,
    max: Option<usize>,
    pixels: &mut Vec<f32>,
    labels: &mut Vec<u32>,
) -> Result<()> {
    if bytes.is_empty() {
        return Err(Error::data(path, Some(0), "file is empty"));
    }
    let whole = bytes.len() / RECORD_BYTES;
    if !bytes.len().is_multiple_of(RECORD_BYTES) {
        let start = whole * RECORD_BYTES;
        return Err(Error::data(
            path,
            Some(start as u64),
            format!(
                "truncated: {} bytes is not a whole number of {RECORD_BYTES}-byte records; the record at this offset has only {} bytes",
                bytes.len(),
                bytes.len() - start
            ),
        ));
    }
    // Check every label first so nothing is half-loaded on error.
    for (i, rec) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        if rec[0] > 9 {
            return Err(Error::data(
                path,
                Some((i * RECORD_BYTES) as u64),
                format!("label {} is not a class 0–9", rec[0]),
            ));
        }
    }
    let take = max.map_or(whole, |m| m.min(whole));
    pixels.reserve(take * IMAGE_BYTES);
    labels.reserve(take);
    for rec in bytes.chunks_exact(RECORD_BYTES).take(take) {
        labels.push(u32::from(rec[0]));
        pixels.extend(rec[1..].iter().map(|&b| f32::from(b) / 255.0));
    }
    Ok(())
}

/// Reads one batch file into an [`ImageSet`], at most `max` records.
pub fn read_batch(path: &Path, max: Option<usize>) -> Result<ImageSet> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    parse(&bytes, path, max, &mut pixels, &mut labels)?;
    ImageSet::new(SHAPE, pixels, labels)
}

impl DatasetSource for Cifar10Source {
    fn load(&self) -> Result<Splits> {
        let files = self.train_files()?;
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for f in &files {
            let left = self.limit.map(|l| l - labels.len());
            if left == Some(0) {
                break;
            }
            let bytes = std::fs::read(f).map_err(|e| Error::io(f, e))?;
            parse(&bytes, f, left, &mut pixels, &mut labels)?;
        }
        let train = ImageSet::new(SHAPE, pixels, labels)?;
        let test_path = self.dir.join("test_batch.bin");
        let test = if test_path.is_file() {
            Some(read_batch(&test_path, None)?)
        } else {
            None
        };
        crate::holdout::with_validation(
            crate::holdout::Loaded {
                train,
                test,
                unlabelled: None,
                num_classes: 10,
            },
            self.valid_fraction,
            self.seed,
            &self.dir,
            "records",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize, first: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n * RECORD_BYTES);
        for i in first..first + n {
            out.push((i % 10) as u8);
            out.extend((0..IMAGE_BYTES).map(|j| ((i * 7 + j) % 256) as u8));
        }
        out
    }

    fn fake(dir: &Path, batches: &[u32], per: usize, test: bool) {
        for (k, &b) in batches.iter().enumerate() {
            std::fs::write(
                dir.join(format!("data_batch_{b}.bin")),
                records(per, k * per),
            )
            .expect("write");
        }
        if test {
            std::fs::write(dir.join("test_batch.bin"), records(20, 1000)).expect("write");
        }
    }

    fn source(dir: &Path, extra: serde_json::Value) -> Result<Cifar10Source> {
        let ctx = BuildContext::new(1).with_key("dataset");
        let mut params = serde_json::json!({ "path": dir.to_string_lossy() });
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        Cifar10Source::from_params(&params, &ctx)
    }

    #[test]
    fn reads_batches_and_conforms() {
        let dir = tempfile::tempdir().expect("tmp");
        fake(dir.path(), &[1, 2], 30, true);
        let s = source(dir.path(), serde_json::json!({}))
            .expect("params")
            .load()
            .expect("load");
        assert_eq!(s.train.len() + s.valid.len(), 60);
        assert_eq!(s.valid.len(), 10); // 6 per class, 0.1 of 6 rounds to 1
        assert_eq!(s.spec.shape, SHAPE);
        let test = s.test.as_ref().expect("test split");
        assert_eq!(test.len(), 20);
        // First test record: label 1000 % 10 = 0, red (0,0) = 7000 % 256, green (0,0) at 1024.
        assert_eq!(test.labels[0], 0);
        assert_eq!(test.image(0)[0], (7000 % 256) as f32 / 255.0);
        assert_eq!(test.image(0)[1024], ((7000 + 1024) % 256) as f32 / 255.0);
        assert!(test.pixels.iter().all(|p| (0.0..=1.0).contains(p)));

        let p = dir.path().to_path_buf();
        kiln_core::testing::check_dataset(move |seed| {
            let ctx = BuildContext::new(seed).with_key("dataset");
            let params = serde_json::json!({ "path": p.to_string_lossy() });
            Box::new(Cifar10Source::from_params(&params, &ctx).expect("params"))
        });
    }

    #[test]
    fn limit_batches_and_missing_test() {
        let dir = tempfile::tempdir().expect("tmp");
        fake(dir.path(), &[1, 3], 30, false);
        let s = source(
            dir.path(),
            serde_json::json!({ "limit": 40, "valid_fraction": 0.25 }),
        )
        .expect("params")
        .load()
        .expect("load");
        assert_eq!(s.train.len() + s.valid.len(), 40);
        assert!(s.test.is_none());
        let s = source(
            dir.path(),
            serde_json::json!({ "batches": [3], "valid_fraction": 0.5 }),
        )
        .expect("params")
        .load()
        .expect("load");
        assert_eq!(s.train.len() + s.valid.len(), 30);
        let err = source(dir.path(), serde_json::json!({ "batches": [2] }))
            .expect("params")
            .load()
            .expect_err("missing batch")
            .to_string();
        assert!(err.contains("data_batch_2.bin"), "{err}");
        for bad in [
            serde_json::json!({ "batches": [6] }),
            serde_json::json!({ "batches": [] }),
            serde_json::json!({ "batches": [1, 1] }),
        ] {
            let err = source(dir.path(), bad)
                .expect_err("bad batches")
                .to_string();
            assert!(err.contains("dataset.batches"), "{err}");
        }
        let err = source(dir.path(), serde_json::json!({ "valid_fraction": 1.0 }))
            .expect_err("fraction")
            .to_string();
        assert!(err.contains("dataset.valid_fraction"), "{err}");
        let err = source(dir.path(), serde_json::json!({ "limit": 0 }))
            .expect_err("limit")
            .to_string();
        assert!(err.contains("dataset.limit"), "{err}");
        assert!(source(dir.path(), serde_json::json!({ "nope": 1 })).is_err());
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = source(dir.path(), serde_json::json!({}))
            .expect("params")
            .load()
            .expect_err("empty folder")
            .to_string();
        assert!(
            err.contains(&*dir.path().to_string_lossy()) && err.contains("no CIFAR-10"),
            "{err}"
        );

        fake(dir.path(), &[1], 5, false);
        let path = dir.path().join("data_batch_1.bin");
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.truncate(3 * RECORD_BYTES + 100);
        std::fs::write(&path, &bytes).expect("truncate");
        let err = source(dir.path(), serde_json::json!({}))
            .expect("params")
            .load()
            .expect_err("truncated")
            .to_string();
        assert!(
            err.contains("data_batch_1.bin")
                && err.contains("truncated")
                && err.contains(&format!("byte offset {}", 3 * RECORD_BYTES)),
            "{err}"
        );

        bytes.truncate(3 * RECORD_BYTES);
        bytes[2 * RECORD_BYTES] = 10;
        std::fs::write(&path, &bytes).expect("write");
        let err = source(dir.path(), serde_json::json!({}))
            .expect("params")
            .load()
            .expect_err("label")
            .to_string();
        assert!(
            err.contains("data_batch_1.bin")
                && err.contains("label 10")
                && err.contains(&format!("byte offset {}", 2 * RECORD_BYTES)),
            "{err}"
        );
    }
}
