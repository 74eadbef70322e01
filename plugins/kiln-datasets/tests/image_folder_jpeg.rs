//! `image_folder` on JPEG files: decoding (`.jpg`, `.jpeg`, any case) and corrupt files.
//! JPEG is lossy, so the images are flat colours (one DC value per block, which survives
//! the round trip to within a few levels).

use image::{Rgb, RgbImage};
use kiln_core::{BuildContext, Result, Splits};
use kiln_datasets::image_folder::ImageFolderSource;
use std::path::Path;

/// The flat colour of image `i` of class `c`.
fn colour(c: u8, i: u8) -> [u8; 3] {
    [40 + 100 * c, 200 - 30 * i, 90]
}

/// Two classes of three 8 × 8 JPEG images, with the three spellings of the extension.
fn jpeg_folder(dir: &Path) {
    for (c, name) in ["cat", "dog"].iter().enumerate() {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        for (i, ext) in ["jpg", "jpeg", "JPG"].iter().enumerate() {
            RgbImage::from_pixel(8, 8, Rgb(colour(c as u8, i as u8)))
                .save(d.join(format!("img{i}.{ext}")))
                .expect("save a jpeg");
        }
    }
}

fn load(dir: &Path) -> Result<(Splits, Vec<String>)> {
    let ctx = BuildContext::new(1).with_key("dataset");
    let params = serde_json::json!({ "path": dir.to_string_lossy(), "valid_fraction": 0.34 });
    ImageFolderSource::from_params(&params, &ctx)?.load_with_classes()
}

#[test]
fn reads_a_folder_of_jpeg_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    jpeg_folder(tmp.path());
    let (s, names) = load(tmp.path()).expect("load");
    assert_eq!(names, ["cat", "dog"]);
    assert_eq!(s.spec.shape.channels, 3);
    assert_eq!((s.spec.shape.height, s.spec.shape.width), (8, 8));
    assert_eq!(s.train.len() + s.valid.len(), 6);
    // Every image is one of the written flat colours, within JPEG's rounding, in every pixel.
    let mut seen = Vec::new();
    for set in [&s.train, &s.valid] {
        for k in 0..set.len() {
            let px = set.image(k);
            let class = set.labels[k] as u8;
            let found = (0..3u8).find(|&i| {
                let want = colour(class, i);
                (0..3).all(|ch| {
                    px[ch * 64..(ch + 1) * 64]
                        .iter()
                        .all(|&p| (p * 255.0 - f32::from(want[ch])).abs() <= 4.0)
                })
            });
            let i = found.unwrap_or_else(|| panic!("class {class}: unexpected pixels {px:?}"));
            seen.push((class, i));
        }
    }
    seen.sort();
    assert_eq!(seen, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
}

#[test]
fn a_corrupt_jpeg_names_the_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    jpeg_folder(tmp.path());
    let bad = tmp.path().join("dog/broken.jpg");
    // A JPEG start-of-image marker, then garbage; then plain garbage.
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend_from_slice(b"this is not the rest of a jpeg");
    for contents in [bytes, b"not a jpeg at all".to_vec()] {
        std::fs::write(&bad, &contents).expect("write");
        let err = load(tmp.path()).expect_err("corrupt").to_string();
        assert!(
            err.contains("broken.jpg") && err.contains("cannot decode") && !err.contains('\n'),
            "{err}"
        );
    }
}
