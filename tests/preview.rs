//! End-to-end tests of `kiln augment-preview` on generated glyphs.

#[path = "support/mod.rs"]
mod support;
use support::*;

// The originals are read back through the engine, as the binary loads them.
use kiln_augment as _;
use kiln_datasets as _;
use kiln_models as _;
use kiln_schedulers as _;
use kiln_stages as _;

use std::path::{Path, PathBuf};

/// 16 × 16 glyphs: cells are upscaled ×4 to 64 px, with 4 px gaps.
const SIZE: usize = 16;
const CELL: usize = 64;
const GAP: usize = 4;

const PIPELINE: &str = r#"
name = "preview"
seed = 5
augment = [
    { kind = "hflip", p = 0.5 },
    { kind = "affine", p = 1.0, degrees = 15.0, shear = 10.0 },
    { kind = "brightness", p = 1.0, strength = 0.2 },
]

[dataset]
kind = "glyphs"
train = 12
valid = 10
test = 10
size = 16

[model]
kind = "mlp"

[[stages]]
kind = "evaluate"
"#;

fn preview(p: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    kiln()
        .arg("augment-preview")
        .arg(p)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .expect("run kiln")
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(dir.path(), "p.toml", PIPELINE);
    (dir, p)
}

/// The grid as a greyscale image, after checking that the command succeeded.
fn grid(out: &std::process::Output, png: &Path) -> image::GrayImage {
    assert!(out.status.success(), "preview failed: {}", stderr(out));
    match image::open(png).expect("a PNG") {
        image::DynamicImage::ImageLuma8(g) => g,
        other => panic!("expected greyscale, got {:?}", other.color()),
    }
}

/// Cell (`row`, `col`) at the image's resolution (the top-left pixel of each upscaled block).
fn cell(g: &image::GrayImage, row: usize, col: usize) -> Vec<u8> {
    let scale = CELL / SIZE;
    let (x0, y0) = (GAP + col * (CELL + GAP), GAP + row * (CELL + GAP));
    let mut v = Vec::with_capacity(SIZE * SIZE);
    for y in 0..SIZE {
        for x in 0..SIZE {
            v.push(
                g.get_pixel((x0 + x * scale) as u32, (y0 + y * scale) as u32)
                    .0[0],
            );
        }
    }
    v
}

#[test]
fn the_grid_has_one_row_per_sample_and_the_originals_first() {
    let (dir, p) = setup();
    let png = dir.path().join("grid.png");
    let out = preview(&p, &png, &["--samples", "3", "--draws", "4"]);
    let g = grid(&out, &png);
    assert_eq!(
        (g.width() as usize, g.height() as usize),
        (5 * CELL + 6 * GAP, 3 * CELL + 4 * GAP)
    );
    // Each upscaled block is uniform.
    assert_eq!(
        g.get_pixel(GAP as u32, GAP as u32),
        g.get_pixel(GAP as u32 + 3, GAP as u32 + 3)
    );

    let (raw, source) = kiln_engine::config::load(&p, &[]).expect("load");
    let registry = kiln_core::Registry::with_static_plugins().expect("registry");
    let pipeline = kiln_engine::config::Pipeline::validate(raw, &source, &registry).expect("valid");
    let splits = kiln_engine::run::load_splits(&pipeline, &registry).expect("data");
    for row in 0..3 {
        let original: Vec<u8> = splits
            .train
            .image(row)
            .iter()
            .map(|&v| kiln_engine::preview::to_byte(v))
            .collect();
        assert_eq!(
            cell(&g, row, 0),
            original,
            "row {row}: first column is the original"
        );
        for col in 1..5 {
            assert_ne!(
                cell(&g, row, col),
                original,
                "row {row}, draw {col}: p = 1 ops ran"
            );
        }
    }
}

#[test]
fn with_every_p_at_zero_every_column_is_the_original() {
    let (dir, p) = setup();
    let png = dir.path().join("grid.png");
    let sets = [
        "--set",
        "augment.hflip.p=0",
        "--set",
        "augment.affine.p=0",
        "--set",
        "augment.2.p=0",
    ];
    let out = preview(
        &p,
        &png,
        &[&["--samples", "2", "--draws", "3"][..], &sets].concat(),
    );
    let g = grid(&out, &png);
    for row in 0..2 {
        for col in 1..4 {
            assert_eq!(
                cell(&g, row, col),
                cell(&g, row, 0),
                "row {row}, column {col}"
            );
        }
    }
}

#[test]
fn the_same_seed_writes_the_same_bytes() {
    let (dir, p) = setup();
    let png = |name: &str, seed: &str| {
        let path = dir.path().join(name);
        let out = preview(
            &p,
            &path,
            &["--samples", "2", "--draws", "3", "--seed", seed],
        );
        assert!(out.status.success(), "preview failed: {}", stderr(&out));
        std::fs::read(&path).expect("read grid")
    };
    let (a, b, c) = (png("a.png", "9"), png("b.png", "9"), png("c.png", "10"));
    assert_eq!(a, b);
    assert_ne!(a, c, "another seed, other draws");
}

#[test]
fn no_samples_and_no_augmenters_are_one_line_errors() {
    let (dir, p) = setup();
    let png = dir.path().join("grid.png");
    assert_clean_error(&preview(&p, &png, &["--samples", "0"]), &["--samples"]);
    assert_clean_error(
        &preview(&p, &png, &["--set", "augment=[]"]),
        &["p.toml", "no augmenters"],
    );
    assert_clean_error(
        &preview(&p, &png, &["--samples", "13"]),
        &["--samples", "12 images"],
    );
    assert!(!png.exists(), "nothing written");
}
