//! MNIST (and MNIST-layout) IDX files from a folder.

use crate::idx;
use kiln_core::{BuildContext, DatasetSource, Error, ImageSet, ImageShape, Result, Splits};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Parameters of [`MnistSource`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MnistConfig {
    /// Folder holding `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]` and,
    /// optionally, the `t10k-*` test files. Relative to the pipeline file.
    pub path: String,
    /// Share of the training files held out (stratified) for validation.
    #[serde(default = "default_valid")]
    pub valid_fraction: f64,
    /// Use only the first `limit` training images (quick runs).
    pub limit: Option<usize>,
}

fn default_valid() -> f64 {
    0.1
}

/// Reads MNIST-layout IDX files; the standard 60k/10k files read unchanged.
#[derive(Debug, Clone)]
pub struct MnistSource {
    dir: PathBuf,
    valid_fraction: f64,
    limit: Option<usize>,
    seed: u64,
}

impl MnistSource {
    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: MnistConfig = ctx.parse(params)?;
        if !(c.valid_fraction > 0.0 && c.valid_fraction < 1.0) {
            return Err(Error::config(
                format!("{}.valid_fraction", ctx.key),
                format!("must be in (0, 1), got {}", c.valid_fraction),
            ));
        }
        Ok(MnistSource {
            dir: ctx.resolve(&c.path),
            valid_fraction: c.valid_fraction,
            limit: c.limit,
            seed: ctx.seed,
        })
    }
}

fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.gz"), stem.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Reads one images file and one labels file into an [`ImageSet`].
pub fn read_pair(images: &Path, labels: &Path) -> Result<ImageSet> {
    let im = idx::read(images)?;
    if im.dims.len() != 3 {
        return Err(Error::data(
            images,
            Some(3),
            format!(
                "expected 3 dimensions (images × rows × columns), found {}",
                im.dims.len()
            ),
        ));
    }
    let lb = idx::read(labels)?;
    if lb.dims.len() != 1 {
        return Err(Error::data(
            labels,
            Some(3),
            format!("expected 1 dimension (labels), found {}", lb.dims.len()),
        ));
    }
    if lb.dims[0] != im.dims[0] {
        return Err(Error::data(
            labels,
            Some(4),
            format!(
                "{} labels for {} images in {}",
                lb.dims[0],
                im.dims[0],
                images.display()
            ),
        ));
    }
    if let Some(pos) = lb.data.iter().position(|&l| l > 9) {
        return Err(Error::data(
            labels,
            Some(8 + pos as u64),
            format!("label {} is not a digit 0–9", lb.data[pos]),
        ));
    }
    let shape = ImageShape {
        channels: 1,
        height: im.dims[1],
        width: im.dims[2],
    };
    let pixels = im.data.iter().map(|&b| f32::from(b) / 255.0).collect();
    ImageSet::new(
        shape,
        pixels,
        lb.data.iter().map(|&l| u32::from(l)).collect(),
    )
}

impl DatasetSource for MnistSource {
    fn load(&self) -> Result<Splits> {
        let need = |stem: &str| {
            find(&self.dir, stem).ok_or_else(|| {
                Error::data(
                    self.dir.join(stem),
                    None,
                    "not found (looked for the name with and without .gz)",
                )
            })
        };
        let mut train = read_pair(
            &need("train-images-idx3-ubyte")?,
            &need("train-labels-idx1-ubyte")?,
        )?;
        if let Some(limit) = self.limit {
            let n = limit.min(train.len());
            train = train.select(&(0..n).collect::<Vec<_>>());
        }
        let test = match (
            find(&self.dir, "t10k-images-idx3-ubyte"),
            find(&self.dir, "t10k-labels-idx1-ubyte"),
        ) {
            (Some(i), Some(l)) => Some(read_pair(&i, &l)?),
            _ => None,
        };
        if let Some(t) = &test
            && t.shape != train.shape
        {
            return Err(Error::data(
                &self.dir,
                None,
                "test images differ in size from training images",
            ));
        }
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
            "images",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_gz(path: &Path, bytes: &[u8]) {
        let f = std::fs::File::create(path).expect("create");
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        gz.write_all(bytes).expect("write");
        gz.finish().expect("finish");
    }

    fn fake_mnist(dir: &Path, n: usize) {
        let images: Vec<u8> = (0..n * 28 * 28).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        write_gz(
            &dir.join("train-images-idx3-ubyte.gz"),
            &idx::encode(&[n, 28, 28], &images),
        );
        std::fs::write(
            dir.join("train-labels-idx1-ubyte"),
            idx::encode(&[n], &labels),
        )
        .expect("write");
    }

    fn source(dir: &Path) -> MnistSource {
        let ctx = BuildContext::new(1).with_key("dataset");
        let params = serde_json::json!({ "path": dir.to_string_lossy() });
        MnistSource::from_params(&params, &ctx).expect("params")
    }

    #[test]
    fn reads_gzip_and_raw_and_conforms() {
        let dir = tempfile::tempdir().expect("tmp");
        fake_mnist(dir.path(), 100);
        let s = source(dir.path()).load().expect("load");
        assert_eq!(s.train.len() + s.valid.len(), 100);
        assert_eq!(
            s.spec.shape,
            ImageShape {
                channels: 1,
                height: 28,
                width: 28
            }
        );
        let p = dir.path().to_path_buf();
        kiln_core::testing::check_dataset(move |seed| {
            let ctx = BuildContext::new(seed).with_key("dataset");
            let params = serde_json::json!({ "path": p.to_string_lossy() });
            Box::new(MnistSource::from_params(&params, &ctx).expect("params"))
        });
    }

    #[test]
    fn truncated_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tmp");
        fake_mnist(dir.path(), 20);
        let path = dir.path().join("train-labels-idx1-ubyte");
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - 3]).expect("truncate");
        let err = source(dir.path())
            .load()
            .expect_err("truncated")
            .to_string();
        assert!(
            err.contains("train-labels-idx1-ubyte") && err.contains("truncated"),
            "{err}"
        );

        let gz = dir.path().join("train-images-idx3-ubyte.gz");
        let bytes = std::fs::read(&gz).expect("read");
        std::fs::write(&gz, &bytes[..bytes.len() / 2]).expect("truncate gz");
        let err = source(dir.path())
            .load()
            .expect_err("truncated gz")
            .to_string();
        assert!(err.contains("gzip"), "{err}");

        let missing = source(&dir.path().join("nope"))
            .load()
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("not found"), "{missing}");
    }
}
