use crate::{DatasetSource, ImageSet};

fn check_set(name: &str, set: &ImageSet, classes: usize, labelled: bool) {
    assert_eq!(
        set.pixels.len(),
        set.len() * set.shape.len(),
        "{name}: pixel count is not images × shape"
    );
    if labelled {
        assert_eq!(set.labels.len(), set.len(), "{name}: one label per image");
        assert!(
            set.labels.iter().all(|&l| (l as usize) < classes),
            "{name}: a label is not below num_classes = {classes}"
        );
    }
    assert!(
        set.pixels.iter().all(|p| p.is_finite()),
        "{name}: a pixel is not finite"
    );
}

/// The [`DatasetSource`] contract: consistent, non-empty splits of the declared shape,
/// labels in range, and the same bytes for the same seed. `make(seed)` builds the source.
pub fn check_dataset(make: impl Fn(u64) -> Box<dyn DatasetSource>) {
    let splits = make(3).load().expect("load");
    let spec = &splits.spec;
    assert!(spec.num_classes >= 2, "fewer than two classes");
    assert!(!splits.train.is_empty(), "empty training split");
    assert!(!splits.valid.is_empty(), "empty validation split");
    for (name, set, labelled) in [
        ("train", Some(&splits.train), true),
        ("valid", Some(&splits.valid), true),
        ("test", splits.test.as_ref(), true),
        ("unlabelled", splits.unlabelled.as_ref(), false),
    ] {
        if let Some(set) = set {
            assert_eq!(set.shape, spec.shape, "{name}: shape differs from the spec");
            check_set(name, set, spec.num_classes, labelled);
        }
    }
    let again = make(3).load().expect("load again");
    assert!(
        again.train == splits.train && again.valid == splits.valid && again.test == splits.test,
        "same seed: different data"
    );
}
