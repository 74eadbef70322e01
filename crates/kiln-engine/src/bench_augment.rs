//! `kiln bench augment`: the throughput of an augmenter chain on synthetic batches.
//!
//! The chain is built through the registry from plugin specs, as a pipeline's
//! `augment = [...]` is, and runs the way the trainer runs it: batch after batch on the
//! device through [`kiln_core::augment_images`] (so on the CPU the ops with a host path share
//! one host copy), one `Rng` per batch passed through every op in order. Pixels are uniform
//! in [0, 1) from a fixed seed. After one warm-up pass over the data, `repeats` timed passes
//! of the chain, then of each op alone (each op then pays its own host copy, as each
//! albumentations op composed alone pays `Compose`'s call). Reported: the median over passes
//! of the images per second, per op and for the chain.

use kiln_core::burn::Tensor;
use kiln_core::burn::prelude::{Device, TensorData};
use kiln_core::{Augmenter, BuildContext, Error, ImageShape, PluginSpec, Registry, Rng};
use serde::Serialize;
use std::time::Instant;

/// A synthetic data set: `images` images of `shape` in batches of `batch`.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Images per pass.
    pub images: usize,
    /// Images per batch (the last batch may be smaller).
    pub batch: usize,
    /// Shape of one image.
    pub shape: ImageShape,
}

impl Workload {
    /// `H×W×C`, as the table prints it.
    pub fn name(&self) -> String {
        let s = self.shape;
        format!("{}×{}×{}", s.height, s.width, s.channels)
    }
}

/// The two standard sizes: 10,000 MNIST-like 28×28×1 images in batches of 256, and 1,000
/// ImageNet-like 224×224×3 images in batches of 32.
pub fn standard_workloads() -> Vec<Workload> {
    let shape = |channels, side| ImageShape {
        channels,
        height: side,
        width: side,
    };
    vec![
        Workload {
            images: 10_000,
            batch: 256,
            shape: shape(1, 28),
        },
        Workload {
            images: 1_000,
            batch: 32,
            shape: shape(3, 224),
        },
    ]
}

/// The benchmark's chain: hflip p 0.5, affine p 1 (±15°, shear ±10°), brightness and
/// contrast p 1 strength 0.2 (what `docs/scripts/augment_albumentations.py` mirrors).
pub fn standard_chain() -> Vec<PluginSpec> {
    use serde_json::json;
    let spec = |kind: &str, params: &[(&str, f64)]| {
        params.iter().fold(PluginSpec::named(kind), |s, (k, v)| {
            s.with_param(k, json!(v))
        })
    };
    vec![
        spec("hflip", &[("p", 0.5)]),
        spec("affine", &[("p", 1.0), ("degrees", 15.0), ("shear", 10.0)]),
        spec("brightness", &[("p", 1.0), ("strength", 0.2)]),
        spec("contrast", &[("p", 1.0), ("strength", 0.2)]),
    ]
}

/// One line of the table: the chain, or one of its ops.
#[derive(Debug, Clone, Serialize)]
pub struct AugmentBenchRow {
    /// `H×W×C`.
    pub workload: String,
    /// `chain`, or the op's kind.
    pub op: String,
    /// Images per pass.
    pub images: usize,
    /// Images per batch.
    pub batch: usize,
    /// Timed passes.
    pub repeats: usize,
    /// Median over passes of images per second.
    pub median_images_per_s: f64,
    /// Median over passes of milliseconds per full batch.
    pub median_ms_per_batch: f64,
    /// This op's share of the chain's time (1 for the chain), from the medians.
    pub share: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The workload's batches on `device`: deterministic uniform pixels, one stream per batch.
fn batches(w: &Workload, seed: u64, device: &Device) -> Vec<Tensor<4>> {
    let s = w.shape;
    (0..w.images.div_ceil(w.batch.max(1)))
        .map(|b| {
            let n = w.batch.min(w.images - b * w.batch);
            let mut rng = Rng::derive(seed, &[0xDA7A, b as u64]);
            let pixels: Vec<f32> = (0..n * s.len()).map(|_| rng.uniform() as f32).collect();
            Tensor::from_data(
                TensorData::new(pixels, [n, s.channels, s.height, s.width]),
                device,
            )
        })
        .collect()
}

/// Seconds for one pass of `data` through `chain`. Each batch is timed from a tensor of its
/// own, as the loader hands the trainer a fresh batch (a shared one would cost the host
/// path a copy that training never pays); making that tensor is not timed.
fn pass(chain: &[Box<dyn Augmenter>], data: &[Tensor<4>], seed: u64) -> kiln_core::Result<f64> {
    let mut seconds = 0.0;
    for (b, x) in data.iter().enumerate() {
        let fresh = Tensor::<4>::from_data(x.to_data(), &x.device());
        let mut rng = Rng::derive(seed, &[0xA06, b as u64]);
        let start = Instant::now();
        let out = kiln_core::augment_images(chain, fresh, &mut rng)?;
        seconds += start.elapsed().as_secs_f64();
        drop(out);
    }
    Ok(seconds)
}

/// Seconds for one pass of `data` through the chain, then through each op alone.
fn passes(
    chain: &[Box<dyn Augmenter>],
    data: &[Tensor<4>],
    seed: u64,
) -> kiln_core::Result<(Vec<f64>, f64)> {
    let total = pass(chain, data, seed)?;
    let per_op = chain
        .iter()
        .map(|op| pass(std::slice::from_ref(op), data, seed))
        .collect::<kiln_core::Result<Vec<f64>>>()?;
    Ok((per_op, total))
}

/// Times `chain` (built through `registry`) on `workload`: one row for the chain, then one
/// per op, in chain order.
pub fn run_workload(
    registry: &Registry,
    workload: &Workload,
    chain: &[PluginSpec],
    repeats: usize,
    seed: u64,
) -> kiln_core::Result<Vec<AugmentBenchRow>> {
    if repeats == 0 || workload.images == 0 || workload.batch == 0 {
        return Err(Error::config(
            "bench augment",
            "repeats, images and batch must be at least 1",
        ));
    }
    let ops = chain
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            registry.build_augmenter(
                spec,
                &BuildContext::new(seed).with_key(format!("augment[{i}]")),
            )
        })
        .collect::<kiln_core::Result<Vec<_>>>()?;
    let data = batches(workload, seed, &Device::flex());
    passes(&ops, &data, seed)?; // warm-up: allocator, caches, lazy initialisation
    let (mut per_op, mut totals) = (vec![Vec::new(); ops.len()], Vec::new());
    for r in 0..repeats {
        let (times, total) = passes(&ops, &data, seed ^ (r as u64 + 1))?;
        for (k, t) in times.into_iter().enumerate() {
            per_op[k].push(t);
        }
        totals.push(total);
    }
    let images = workload.images as f64;
    let full_batches = images / workload.batch as f64;
    let chain_s = median(totals.clone());
    let row = |op: &str, seconds: Vec<f64>| {
        let med = median(seconds.clone());
        AugmentBenchRow {
            workload: workload.name(),
            op: op.to_string(),
            images: workload.images,
            batch: workload.batch,
            repeats,
            median_images_per_s: median(seconds.iter().map(|s| images / s).collect()),
            median_ms_per_batch: med * 1e3 / full_batches,
            share: med / chain_s,
        }
    };
    let mut rows = vec![row("chain", totals)];
    for (spec, seconds) in chain.iter().zip(per_op) {
        rows.push(row(&spec.kind, seconds));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_augment as _;

    #[test]
    fn a_small_run_times_the_chain_and_each_op() {
        let registry = Registry::with_static_plugins().expect("registry");
        let w = Workload {
            images: 20,
            batch: 8,
            shape: ImageShape {
                channels: 3,
                height: 8,
                width: 8,
            },
        };
        let rows = run_workload(&registry, &w, &standard_chain(), 2, 1).expect("runs");
        let ops: Vec<&str> = rows.iter().map(|r| r.op.as_str()).collect();
        assert_eq!(ops, ["chain", "hflip", "affine", "brightness", "contrast"]);
        for r in &rows {
            assert!(
                r.median_images_per_s.is_finite() && r.median_images_per_s > 0.0,
                "{r:?}"
            );
            assert!(r.median_ms_per_batch > 0.0 && r.share > 0.0, "{r:?}");
            assert_eq!((r.workload.as_str(), r.repeats), ("8×8×3", 2));
        }
        assert_eq!(rows[0].share, 1.0);
    }

    #[test]
    fn zero_repeats_is_an_error() {
        let registry = Registry::with_static_plugins().expect("registry");
        let w = &standard_workloads()[0];
        assert!(run_workload(&registry, w, &standard_chain(), 0, 1).is_err());
    }

    #[test]
    fn batches_cover_every_image_with_pixels_in_the_unit_interval() {
        let w = Workload {
            images: 10,
            batch: 4,
            shape: ImageShape {
                channels: 1,
                height: 2,
                width: 3,
            },
        };
        let b = batches(&w, 3, &Device::flex());
        let sizes: Vec<usize> = b.iter().map(|t| t.dims()[0]).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let v = b[0].clone().into_data().try_to_vec::<f32>().expect("f32");
        assert!(v.iter().all(|p| (0.0..1.0).contains(p)));
    }
}
