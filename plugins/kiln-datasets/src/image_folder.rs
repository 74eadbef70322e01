//! Image files in one folder per class: `path/<class name>/*.png|*.jpg|*.jpeg`.
//!
//! # Layout and classes
//! - Every non-hidden sub-folder of `path` is a class. The class names, sorted (byte order
//!   of the folder names, as Rust sorts `OsStr`), are classes `0, 1, …, K-1` in that
//!   order: folders `dog`, `ant`, `cat` become `ant` = 0, `cat` = 1, `dog` = 2.
//!   [`ImageFolderSource::load_with_classes`] returns the names.
//! - Inside a class folder, files ending in `.png`, `.jpg` or `.jpeg` (any case) are
//!   images; other files, hidden files (`.name`) and sub-folders are ignored. Files are
//!   read in sorted name order, so the result is deterministic.
//! - At least two classes are needed, and every class folder must hold an image.
//! - `test_path`, when given, has class folders with the same names; a test class folder
//!   that is not a training class is an error naming it. It may lack some classes.
//! - `unlabelled_path`, when given, is one flat folder of images (labels empty).
//!
//! # Pixels
//! Values are `f32` in `[0, 1]` (byte / 255), planar channels × height × width as in
//! CIFAR-10. `channels: 3` keeps red, green and blue; `channels: 1` converts to luma.
//! Alpha is dropped. With `size: [h, w]` every image is resized (triangle filter);
//! without it every image must have the size of the first training image.

use image::imageops::FilterType;
use kiln_core::{BuildContext, DatasetSource, Error, ImageSet, ImageShape, Result, Splits};
use serde::Deserialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Parameters of [`ImageFolderSource`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFolderConfig {
    /// Folder of class folders, relative to the pipeline file.
    pub path: String,
    /// Optional folder of test class folders with the same names.
    pub test_path: Option<String>,
    /// Optional flat folder of unlabelled images.
    pub unlabelled_path: Option<String>,
    /// `[height, width]` to resize every image to. Default: keep the size, which must
    /// then be the same for every image.
    pub size: Option<[u32; 2]>,
    /// 1 (luma) or 3 (RGB).
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// Share of the training images held out (stratified) for validation.
    #[serde(default = "default_valid")]
    pub valid_fraction: f64,
}

fn default_channels() -> usize {
    3
}

fn default_valid() -> f64 {
    0.1
}

/// Reads class folders of PNG and JPEG images.
#[derive(Debug, Clone)]
pub struct ImageFolderSource {
    path: PathBuf,
    test_path: Option<PathBuf>,
    unlabelled_path: Option<PathBuf>,
    size: Option<(u32, u32)>,
    channels: usize,
    valid_fraction: f64,
    seed: u64,
}

impl ImageFolderSource {
    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: ImageFolderConfig = ctx.parse(params)?;
        let key = |k: &str| format!("{}.{k}", ctx.key);
        if !(c.valid_fraction > 0.0 && c.valid_fraction < 1.0) {
            return Err(Error::config(
                key("valid_fraction"),
                format!("must be in (0, 1), got {}", c.valid_fraction),
            ));
        }
        if c.channels != 1 && c.channels != 3 {
            return Err(Error::config(
                key("channels"),
                format!("must be 1 (luma) or 3 (RGB), got {}", c.channels),
            ));
        }
        if let Some([h, w]) = c.size
            && (h == 0 || w == 0)
        {
            return Err(Error::config(
                key("size"),
                format!("height and width must each be at least 1, got [{h}, {w}]"),
            ));
        }
        Ok(ImageFolderSource {
            path: ctx.resolve(&c.path),
            test_path: c.test_path.as_deref().map(|p| ctx.resolve(p)),
            unlabelled_path: c.unlabelled_path.as_deref().map(|p| ctx.resolve(p)),
            size: c.size.map(|[h, w]| (h, w)),
            channels: c.channels,
            valid_fraction: c.valid_fraction,
            seed: ctx.seed,
        })
    }

    /// Loads the splits and returns the class names, index = class.
    pub fn load_with_classes(&self) -> Result<(Splits, Vec<String>)> {
        let classes = class_dirs(&self.path)?;
        if classes.len() < 2 {
            return Err(Error::data(
                &self.path,
                None,
                format!("needs at least 2 class folders, found {}", classes.len()),
            ));
        }
        let mut reader = Reader {
            size: self.size,
            channels: self.channels,
            first: None,
        };
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for (class, (_, dir)) in classes.iter().enumerate() {
            for f in class_images(dir)? {
                reader.read(&f, &mut pixels)?;
                labels.push(class as u32);
            }
        }
        let Some((_, (height, width))) = reader.first.clone() else {
            return Err(Error::data(&self.path, None, "no images found"));
        };
        let shape = ImageShape {
            channels: self.channels,
            height: height as usize,
            width: width as usize,
        };
        let train = ImageSet::new(shape, pixels, labels)?;

        let test = match &self.test_path {
            None => None,
            Some(test_dir) => {
                let test_classes = class_dirs(test_dir)?;
                if test_classes.is_empty() {
                    return Err(Error::data(test_dir, None, "no class folders found"));
                }
                let (mut pixels, mut labels) = (Vec::new(), Vec::new());
                for (name, dir) in &test_classes {
                    let Some(class) = classes.iter().position(|(n, _)| n == name) else {
                        return Err(Error::data(
                            dir,
                            None,
                            format!(
                                "test class folder {:?} is not a training class (training classes: {})",
                                name.to_string_lossy(),
                                class_names(&classes).join(", ")
                            ),
                        ));
                    };
                    for f in class_images(dir)? {
                        reader.read(&f, &mut pixels)?;
                        labels.push(class as u32);
                    }
                }
                Some(ImageSet::new(shape, pixels, labels)?)
            }
        };

        let unlabelled = match &self.unlabelled_path {
            None => None,
            Some(dir) => {
                let files = image_files(dir)?;
                if files.is_empty() {
                    return Err(Error::data(
                        dir,
                        None,
                        "no images (.png, .jpg, .jpeg) found",
                    ));
                }
                let mut pixels = Vec::new();
                for f in &files {
                    reader.read(f, &mut pixels)?;
                }
                Some(ImageSet::new(shape, pixels, Vec::new())?)
            }
        };

        let num_classes = classes.len();
        Ok((
            crate::holdout::with_validation(
                crate::holdout::Loaded {
                    train,
                    test,
                    unlabelled,
                    num_classes,
                },
                self.valid_fraction,
                self.seed,
                &self.path,
                "images",
            )?,
            class_names(&classes),
        ))
    }
}

impl DatasetSource for ImageFolderSource {
    fn load(&self) -> Result<Splits> {
        self.load_with_classes().map(|(s, _)| s)
    }
}

fn class_names(classes: &[(OsString, PathBuf)]) -> Vec<String> {
    classes
        .iter()
        .map(|(n, _)| n.to_string_lossy().into_owned())
        .collect()
}

fn is_hidden(name: &OsString) -> bool {
    name.to_string_lossy().starts_with('.')
}

/// Non-hidden entries of `dir`, sorted by name, as (name, path, is_dir).
fn entries(dir: &Path) -> Result<Vec<(OsString, PathBuf, bool)>> {
    if !dir.is_dir() {
        return Err(Error::data(dir, None, "not found or not a folder"));
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let name = e.file_name();
        if is_hidden(&name) {
            continue;
        }
        let path = e.path();
        let is_dir = path.is_dir();
        out.push((name, path, is_dir));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The class folders of `dir`, sorted by name.
fn class_dirs(dir: &Path) -> Result<Vec<(OsString, PathBuf)>> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|(_, _, is_dir)| *is_dir)
        .map(|(n, p, _)| (n, p))
        .collect())
}

fn is_image_name(name: &OsString) -> bool {
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| e == "png" || e == "jpg" || e == "jpeg")
}

/// The image files directly in `dir`, sorted by name.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|(n, _, is_dir)| !is_dir && is_image_name(n))
        .map(|(_, p, _)| p)
        .collect())
}

/// The images of one class folder; an empty folder is an error naming it.
fn class_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let files = image_files(dir)?;
    if files.is_empty() {
        return Err(Error::data(
            dir,
            None,
            "class folder has no images (.png, .jpg, .jpeg)",
        ));
    }
    Ok(files)
}

/// Decodes images to one size and channel count.
struct Reader {
    size: Option<(u32, u32)>,
    channels: usize,
    /// The first image read and its (height, width) after resizing: every later image
    /// must match it.
    first: Option<(PathBuf, (u32, u32))>,
}

impl Reader {
    /// Decodes `path` and appends its planar pixels to `pixels`.
    fn read(&mut self, path: &Path, pixels: &mut Vec<f32>) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let img = image::load_from_memory(&bytes).map_err(|e| {
            let msg = e.to_string().replace(['\n', '\r'], " ");
            Error::data(path, None, format!("cannot decode image: {msg}"))
        })?;
        let (h, w) = (img.height(), img.width());
        let (h, w) = match self.size {
            Some(s) => s,
            None => (h, w),
        };
        match &self.first {
            None => self.first = Some((path.to_path_buf(), (h, w))),
            Some((first, (fh, fw))) => {
                if (h, w) != (*fh, *fw) {
                    return Err(Error::data(
                        path,
                        None,
                        format!(
                            "image is {h}×{w} (h×w) but the first image {} is {fh}×{fw}; give `size: [h, w]` to resize",
                            first.display()
                        ),
                    ));
                }
            }
        }
        let resize = (img.height(), img.width()) != (h, w);
        let plane = h as usize * w as usize;
        if self.channels == 1 {
            let mut g = img.to_luma8();
            if resize {
                g = image::imageops::resize(&g, w, h, FilterType::Triangle);
            }
            pixels.extend(g.as_raw().iter().map(|&b| f32::from(b) / 255.0));
        } else {
            let mut rgb = img.to_rgb8();
            if resize {
                rgb = image::imageops::resize(&rgb, w, h, FilterType::Triangle);
            }
            let raw = rgb.as_raw();
            pixels.reserve(3 * plane);
            for c in 0..3 {
                pixels.extend(raw.iter().skip(c).step_by(3).map(|&b| f32::from(b) / 255.0));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    /// Image `i` of class `class`: pixel (y, x) = (class*40 + i, y*16 + x, x*50).
    fn img(class: u8, i: u8, h: u32, w: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([class * 40 + i, (y * 16 + x) as u8, (x * 50) as u8])
        })
    }

    fn fake(dir: &Path, classes: &[&str], per: u8) {
        for (c, name) in classes.iter().enumerate() {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            for i in 0..per {
                img(c as u8, i, 4, 4)
                    .save(d.join(format!("img{i:02}.png")))
                    .expect("save");
            }
        }
    }

    fn source(dir: &Path, extra: serde_json::Value) -> Result<ImageFolderSource> {
        let ctx = BuildContext::new(1).with_key("dataset");
        let mut params = serde_json::json!({ "path": dir.to_string_lossy() });
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        ImageFolderSource::from_params(&params, &ctx)
    }

    fn load(dir: &Path, extra: serde_json::Value) -> Result<(Splits, Vec<String>)> {
        source(dir, extra)?.load_with_classes()
    }

    #[test]
    fn reads_classes_pixels_and_conforms() {
        let tmp = tempfile::tempdir().expect("tmp");
        let train = tmp.path().join("train");
        fake(&train, &["dog", "ant", "cat"], 5);
        // Ignored: a stray file, a hidden file, a hidden folder, a file in the root.
        std::fs::write(train.join("ant/notes.txt"), "x").expect("write");
        std::fs::write(train.join("ant/.hidden.png"), "not an image").expect("write");
        std::fs::create_dir_all(train.join(".cache")).expect("mkdir");
        std::fs::write(train.join("README"), "x").expect("write");
        // Upper-case extension counts.
        img(0, 9, 4, 4)
            .save(train.join("dog/EXTRA.PNG"))
            .expect("save");
        let test = tmp.path().join("test");
        fake(&test, &["ant", "cat"], 2);
        let unl = tmp.path().join("unl");
        std::fs::create_dir_all(&unl).expect("mkdir");
        for i in 0..3 {
            img(1, i, 4, 4)
                .save(unl.join(format!("u{i}.png")))
                .expect("save");
        }
        let (s, names) = load(
            &train,
            serde_json::json!({
                "test_path": test.to_string_lossy(),
                "unlabelled_path": unl.to_string_lossy(),
                "valid_fraction": 0.2,
            }),
        )
        .expect("load");
        assert_eq!(names, ["ant", "cat", "dog"]);
        assert_eq!(s.spec.num_classes, 3);
        assert_eq!(
            s.spec.shape,
            ImageShape {
                channels: 3,
                height: 4,
                width: 4
            }
        );
        assert_eq!(s.train.len() + s.valid.len(), 16);
        assert_eq!(s.valid.len(), 3);
        let test_set = s.test.as_ref().expect("test");
        assert_eq!(test_set.len(), 4);
        // "ant" in test is training class 0, "cat" class 1; sorted file order.
        assert_eq!(test_set.labels, [0, 0, 1, 1]);
        // test/cat/img01.png: written as class index 1 of ["ant", "cat"], image 1.
        let px = test_set.image(2 + 1);
        let (y, x) = (2usize, 3usize);
        let at = y * 4 + x;
        assert_eq!(px[at], 41.0 / 255.0); // red plane
        assert_eq!(px[16 + at], (2.0 * 16.0 + 3.0) / 255.0); // green plane
        assert_eq!(px[32 + at], 150.0 / 255.0); // blue plane
        let u = s.unlabelled.as_ref().expect("unlabelled");
        assert_eq!(u.len(), 3);
        assert!(u.labels.is_empty());
        assert!(s.train.pixels.iter().all(|p| (0.0..=1.0).contains(p)));

        kiln_core::testing::check_dataset(move |seed| {
            let ctx = BuildContext::new(seed).with_key("dataset");
            let params = serde_json::json!({
                "path": train.to_string_lossy(),
                "test_path": test.to_string_lossy(),
                "unlabelled_path": unl.to_string_lossy(),
            });
            Box::new(ImageFolderSource::from_params(&params, &ctx).expect("params"))
        });
    }

    #[test]
    fn grayscale_alpha_and_resize() {
        let tmp = tempfile::tempdir().expect("tmp");
        for (c, name) in ["a", "b"].iter().enumerate() {
            let d = tmp.path().join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            for i in 0..3u8 {
                let v = 60 * c as u8 + i;
                RgbaImage::from_pixel(4, 4, Rgba([v, v, v, 7]))
                    .save(d.join(format!("{i}.png")))
                    .expect("save");
            }
        }
        let (s, _) = load(
            tmp.path(),
            serde_json::json!({ "channels": 1, "valid_fraction": 0.34 }),
        )
        .expect("load");
        assert_eq!(s.spec.shape.channels, 1);
        assert_eq!(s.spec.shape.len(), 16);
        // Grey input: luma equals the grey value; alpha is dropped.
        let mut all: Vec<&ImageSet> = vec![&s.train, &s.valid];
        all.sort_by_key(|set| set.len());
        let values: Vec<f32> = all
            .iter()
            .flat_map(|set| (0..set.len()).map(|i| set.image(i)[5]))
            .collect();
        assert!(values.contains(&(61.0 / 255.0)), "{values:?}");

        let (rgb, _) =
            load(tmp.path(), serde_json::json!({ "valid_fraction": 0.34 })).expect("load");
        assert_eq!(rgb.spec.shape.channels, 3);
        assert_eq!(rgb.spec.shape.len(), 48);

        // Resize to [2, 3]: a constant image stays constant.
        RgbImage::from_pixel(6, 5, Rgb([200, 100, 50]))
            .save(tmp.path().join("a/big.png"))
            .expect("save");
        let (r, _) = load(
            tmp.path(),
            serde_json::json!({ "size": [2, 3], "valid_fraction": 0.34 }),
        )
        .expect("load");
        assert_eq!(
            r.spec.shape,
            ImageShape {
                channels: 3,
                height: 2,
                width: 3
            }
        );
        let all = [&r.train, &r.valid];
        let big = all
            .iter()
            .flat_map(|set| (0..set.len()).map(|i| set.image(i)))
            .find(|px| px[0] == 200.0 / 255.0)
            .expect("the resized image");
        assert!(big[..6].iter().all(|&p| p == 200.0 / 255.0), "{big:?}");
        assert!(big[6..12].iter().all(|&p| p == 100.0 / 255.0), "{big:?}");
        assert!(big[12..].iter().all(|&p| p == 50.0 / 255.0), "{big:?}");

        // Without `size` the 5×6 image is a mismatch naming both files and sizes.
        let err = load(tmp.path(), serde_json::json!({}))
            .expect_err("mismatch")
            .to_string();
        assert!(
            err.contains("big.png")
                && err.contains("0.png")
                && err.contains("5×6")
                && err.contains("4×4"),
            "{err}"
        );
    }

    #[test]
    fn bad_inputs_are_clear_errors() {
        let tmp = tempfile::tempdir().expect("tmp");
        fake(tmp.path(), &["x", "y"], 3);

        // Truncated PNG: one line naming the file.
        let bad = tmp.path().join("y/img01.png");
        let mut bytes = std::fs::read(&bad).expect("read");
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&bad, &bytes).expect("write");
        let err = load(tmp.path(), serde_json::json!({}))
            .expect_err("truncated")
            .to_string();
        assert!(
            err.contains("img01.png") && err.contains("cannot decode") && !err.contains('\n'),
            "{err}"
        );
        std::fs::write(&bad, b"not a png at all").expect("write");
        let err = load(tmp.path(), serde_json::json!({}))
            .expect_err("garbage")
            .to_string();
        assert!(err.contains("img01.png"), "{err}");
        img(1, 1, 4, 4).save(&bad).expect("restore");

        // Test class not in training.
        let test_dir = tempfile::tempdir().expect("tmp");
        fake(test_dir.path(), &["x", "zebra"], 1);
        let err = load(
            tmp.path(),
            serde_json::json!({ "test_path": test_dir.path().to_string_lossy() }),
        )
        .expect_err("unknown class")
        .to_string();
        assert!(
            err.contains("zebra") && err.contains("not a training class"),
            "{err}"
        );

        // Empty class folder, then a single class.
        std::fs::create_dir_all(tmp.path().join("z")).expect("mkdir");
        let err = load(tmp.path(), serde_json::json!({}))
            .expect_err("empty class")
            .to_string();
        assert!(err.contains("z") && err.contains("no images"), "{err}");
        let one = tempfile::tempdir().expect("tmp");
        fake(one.path(), &["only"], 3);
        let err = load(one.path(), serde_json::json!({}))
            .expect_err("one class")
            .to_string();
        assert!(
            err.contains(&*one.path().to_string_lossy()) && err.contains("at least 2"),
            "{err}"
        );
        let err = load(&tmp.path().join("missing"), serde_json::json!({}))
            .expect_err("missing")
            .to_string();
        assert!(err.contains("missing"), "{err}");

        // Parameters.
        for (bad, key) in [
            (serde_json::json!({ "channels": 2 }), "dataset.channels"),
            (serde_json::json!({ "size": [0, 4] }), "dataset.size"),
            (
                serde_json::json!({ "valid_fraction": 0.0 }),
                "dataset.valid_fraction",
            ),
        ] {
            let err = source(tmp.path(), bad).expect_err("bad param").to_string();
            assert!(err.contains(key), "{err}");
        }
        assert!(source(tmp.path(), serde_json::json!({ "nope": 1 })).is_err());
        assert!(source(tmp.path(), serde_json::json!({ "size": [4] })).is_err());
    }
}
