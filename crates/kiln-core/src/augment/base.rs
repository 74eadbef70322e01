use crate::{Error, HostImages, Result, Rng};
use burn::Tensor;
use burn::prelude::Int;

/// What a training batch is supervised with.
#[derive(Debug, Clone)]
pub enum Targets {
    /// One class index per sample, as the dataset gives them.
    Labels(Tensor<1, Int>),
    /// One probability row `[batch, classes]` per sample, once a label-mixing op (mixup,
    /// cutmix) has blended two samples' labels.
    Soft(Tensor<2>),
}

/// A training batch on its way through the augmenters: images, targets and the class count
/// (which a label-mixing op needs to turn class indices into probability rows).
#[derive(Debug, Clone)]
pub struct Batch {
    /// Images `[batch, channels, height, width]`.
    pub images: Tensor<4>,
    /// What each sample should be predicted as.
    pub targets: Targets,
    /// Number of classes.
    pub classes: usize,
}

impl Batch {
    /// The targets as probability rows: one-hot rows for class indices.
    pub fn soft_targets(&self) -> Result<Tensor<2>> {
        match &self.targets {
            Targets::Soft(t) => Ok(t.clone()),
            Targets::Labels(labels) => {
                let [n] = labels.dims();
                let max: i64 = if n == 0 {
                    0
                } else {
                    labels.clone().max().into_scalar()
                };
                if max >= self.classes as i64 {
                    return Err(Error::Training(format!(
                        "a label is {max} but the data has {} classes",
                        self.classes
                    )));
                }
                Ok(labels.clone().one_hot::<2>(self.classes).float())
            }
        }
    }
}

/// Transforms a training batch `[batch, channels, height, width]` on its device.
///
/// # Contract
/// - Batched: one random draw per sample (not one per batch), taken from `rng`, so the same
///   `rng` state gives the same output. The trainer derives `rng` from the trial seed, the
///   epoch and the batch index, so results do not depend on scheduling.
/// - Each op applies with its own probability; probability 0 is the identity.
/// - The output has the input's shape and device; no gradient is needed through it.
/// - Image-only ops implement [`Augmenter::augment`] alone. An op that also changes the
///   targets (mixup, cutmix) overrides [`Augmenter::augment_batch`], which the trainer
///   calls, and returns [`Targets::Soft`]; its `augment` gives the same images without the
///   labels (what a preview shows).
/// - Optional host path: an op that returns `true` from [`Augmenter::has_host_path`]
///   implements [`Augmenter::augment_host`], which [`crate::augment_chain`] uses when the
///   batch is in CPU memory. It takes exactly the draws `augment` takes, in the same order,
///   and gives the same images up to float rounding (checked by the conformance suite).
/// - Thread safety: `Send + Sync`; one augmenter may serve several trials at once.
pub trait Augmenter: Send + Sync {
    /// Returns the augmented images.
    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>>;

    /// Returns the augmented batch, targets included. The default augments the images and
    /// keeps the targets.
    fn augment_batch(&self, batch: Batch, rng: &mut Rng) -> Result<Batch> {
        Ok(Batch {
            images: self.augment(batch.images, rng)?,
            ..batch
        })
    }

    /// Whether [`Augmenter::augment_host`] is implemented. The default is `false`.
    fn has_host_path(&self) -> bool {
        false
    }

    /// Augments a batch in host memory, in place: the host path (see the contract above).
    /// Only called when [`Augmenter::has_host_path`] is `true`; the default is an error.
    fn augment_host(&self, images: &mut HostImages, rng: &mut Rng) -> Result<()> {
        let _ = (images, rng);
        Err(Error::Training(
            "this augmenter has no host path (has_host_path is false)".into(),
        ))
    }
}
