//! The host path: a chain of augmenters run on a plain `f32` buffer when the batch lives in
//! CPU memory.
//!
//! On a CPU backend every tensor op is a full pass over the batch that allocates its result,
//! and a geometric warp materialises a `[n, h, w, 2]` sampling grid first. At 224×224×3 that
//! made kiln's flip + affine + brightness/contrast chain 3–4× slower than OpenCV's
//! (docs/benchmarks.md). An op that can, also implements [`Augmenter::augment_host`]: the
//! same draws from the same generator, applied sample by sample while the sample sits in
//! cache. [`augment_chain`] copies the batch to the host once for each run of consecutive
//! ops that have the path, and back once; on a GPU, or for an op without it, the tensor
//! path runs. Both paths give the same images up to float rounding, which the conformance
//! suite checks.

use crate::{Augmenter, Batch, Error, Result, Rng};
use burn::Tensor;
use burn::prelude::{Device, TensorData};

/// A batch of images in host memory, `[n, channels, height, width]`, row-major `f32`.
///
/// It holds the tensor's own buffer: a batch fresh from the loader moves to the host and back
/// without a copy on the Flex backend.
#[derive(Debug, Clone)]
pub struct HostImages {
    data: TensorData,
    shape: [usize; 4],
}

impl HostImages {
    /// Wraps `pixels` of `shape`; the length must match.
    pub fn new(pixels: Vec<f32>, shape: [usize; 4]) -> Result<Self> {
        let len: usize = shape.iter().product();
        if pixels.len() != len {
            return Err(Error::Training(format!(
                "{} pixels for a batch of shape {shape:?} ({len} expected)",
                pixels.len()
            )));
        }
        Ok(HostImages {
            data: TensorData::new(pixels, shape),
            shape,
        })
    }

    /// Moves a tensor's pixels to the host (a copy only when the tensor is shared or not on
    /// the host).
    pub fn from_tensor(images: Tensor<4>) -> Result<Self> {
        let shape = images.dims();
        let data = images.into_data().convert::<f32>();
        data.as_slice::<f32>()
            .map_err(|e| Error::Training(format!("reading a batch back to the host: {e:?}")))?;
        Ok(HostImages { data, shape })
    }

    /// The batch as a tensor on `device`.
    pub fn into_tensor(self, device: &Device) -> Tensor<4> {
        Tensor::from_data(self.data, device)
    }

    /// `[n, channels, height, width]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.shape[0]
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }

    /// All pixels, sample after sample.
    pub fn pixels(&self) -> &[f32] {
        // The data is `f32` by construction, so this never falls back.
        self.data.as_slice::<f32>().unwrap_or_default()
    }

    /// All pixels, mutable.
    pub fn pixels_mut(&mut self) -> &mut [f32] {
        self.data.as_mut_slice::<f32>().unwrap_or_default()
    }

    /// The samples, each `channels × height × width`, in order.
    pub fn samples_mut(&mut self) -> impl Iterator<Item = &mut [f32]> {
        let per = (self.shape[1] * self.shape[2] * self.shape[3]).max(1);
        self.pixels_mut().chunks_exact_mut(per)
    }
}

/// Whether tensors on `device` live in host memory (the Flex CPU backend, also under
/// autodiff), so that [`augment_chain`] takes the host path.
pub fn runs_on_host(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// Runs `augmenters` in order on `batch`, as the trainer does: runs of consecutive ops that
/// have a host path go through one host copy when the batch is in host memory; every other
/// op gets [`Augmenter::augment_batch`]. The generator is drawn from in the same order either
/// way.
pub fn augment_chain(
    augmenters: &[Box<dyn Augmenter>],
    batch: Batch,
    rng: &mut Rng,
) -> Result<Batch> {
    run_chain(
        augmenters,
        batch,
        rng,
        |b| &mut b.images,
        |a, b, rng| a.augment_batch(b, rng),
    )
}

/// [`augment_chain`] for images without targets (a preview, a benchmark): label-mixing ops
/// give their images through [`Augmenter::augment`].
pub fn augment_images(
    augmenters: &[Box<dyn Augmenter>],
    images: Tensor<4>,
    rng: &mut Rng,
) -> Result<Tensor<4>> {
    run_chain(
        augmenters,
        images,
        rng,
        |t| t,
        |a, t, rng| a.augment(t, rng),
    )
}

fn run_chain<T>(
    augmenters: &[Box<dyn Augmenter>],
    mut item: T,
    rng: &mut Rng,
    images: impl Fn(&mut T) -> &mut Tensor<4>,
    on_device: impl Fn(&dyn Augmenter, T, &mut Rng) -> Result<T>,
) -> Result<T> {
    let device = images(&mut item).device();
    let on_host = runs_on_host(&device);
    let mut i = 0;
    while i < augmenters.len() {
        let run = if on_host {
            augmenters[i..]
                .iter()
                .take_while(|a| a.has_host_path())
                .count()
        } else {
            0
        };
        if run == 0 {
            item = on_device(augmenters[i].as_ref(), item, rng)?;
            i += 1;
            continue;
        }
        let slot = images(&mut item);
        // Taken out, not cloned: a tensor with a second owner would be copied to the host.
        let taken = std::mem::replace(slot, Tensor::empty([0, 0, 0, 0], &device));
        let mut host = HostImages::from_tensor(taken)?;
        for a in &augmenters[i..i + run] {
            a.augment_host(&mut host, rng)?;
        }
        *slot = host.into_tensor(&device);
        i += run;
    }
    Ok(item)
}
