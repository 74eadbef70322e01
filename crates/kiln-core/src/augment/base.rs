use crate::{Result, Rng};
use burn::Tensor;

/// Transforms a training batch `[batch, channels, height, width]` on its device.
///
/// # Contract
/// - Batched: one random draw per sample (not one per batch), taken from `rng`, so the same
///   `rng` state gives the same output. The trainer derives `rng` from the trial seed, the
///   epoch and the batch index, so results do not depend on scheduling.
/// - Each op applies with its own probability; probability 0 is the identity.
/// - The output has the input's shape and device; no gradient is needed through it.
/// - Thread safety: `Send + Sync`; one augmenter may serve several trials at once.
pub trait Augmenter: Send + Sync {
    /// Returns the augmented batch.
    fn augment(&self, images: Tensor<4>, rng: &mut Rng) -> Result<Tensor<4>>;
}
