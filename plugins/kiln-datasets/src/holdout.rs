//! What every file-based source ends with: a stratified, seeded validation split of the
//! training images, refused when either side would be empty, and the [`Splits`] built.

use kiln_core::{DataSpec, Error, ImageSet, Result, Splits};
use std::path::Path;

/// The parts a source read, before the validation split.
pub struct Loaded {
    /// Every training image.
    pub train: ImageSet,
    /// The test split, if the source has one.
    pub test: Option<ImageSet>,
    /// The unlabelled pool, if the source has one.
    pub unlabelled: Option<ImageSet>,
    /// Classes.
    pub num_classes: usize,
}

/// Splits `fraction` of `loaded.train` off as validation (stratified, from `seed`); `origin`
/// (the file or folder) and `items` ("images", "rows", …) word the error when a side would
/// be empty.
pub fn with_validation(
    loaded: Loaded,
    fraction: f64,
    seed: u64,
    origin: &Path,
    items: &str,
) -> Result<Splits> {
    let shape = loaded.train.shape;
    let (train, valid) = loaded.train.split_stratified(fraction, seed);
    if train.is_empty() || valid.is_empty() {
        return Err(Error::data(
            origin,
            None,
            format!("too few training {items} to hold out a validation split"),
        ));
    }
    Ok(Splits {
        spec: DataSpec {
            shape,
            num_classes: loaded.num_classes,
        },
        train,
        valid,
        test: loaded.test,
        unlabelled: loaded.unlabelled,
    })
}
