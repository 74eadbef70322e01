use super::{ImageSet, ImageShape};
use crate::Result;

/// What a model needs to know of the data: the input shape and the number of classes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataSpec {
    /// Channels, height and width of one image.
    pub shape: ImageShape,
    /// Labels are `0..num_classes`.
    pub num_classes: usize,
}

/// The splits a dataset provides.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Shape and classes.
    pub spec: DataSpec,
    /// Training images.
    pub train: ImageSet,
    /// Validation images: what tuning and checkpoint selection look at.
    pub valid: ImageSet,
    /// Held-out test images, looked at only by the `evaluate` stage.
    pub test: Option<ImageSet>,
    /// Unlabelled images for pseudo-labelling (labels empty).
    pub unlabelled: Option<ImageSet>,
}

/// A source of image-classification data.
///
/// # Contract
/// - `load` returns splits whose images all have `spec.shape`, whose labels are all below
///   `spec.num_classes`, and whose train and validation splits are not empty.
/// - Determinism: the same parameters (including the seed given at build time) give the
///   same splits, byte for byte.
/// - Errors: a missing, truncated or malformed file is an [`crate::Error::Data`] naming
///   the file and, where it applies, the byte offset. Never a panic.
/// - Thread safety: `Send + Sync`; `load` may be called from any thread.
pub trait DatasetSource: Send + Sync {
    /// Reads or generates the splits.
    fn load(&self) -> Result<Splits>;
}
