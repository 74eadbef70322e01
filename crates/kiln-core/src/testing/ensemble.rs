use crate::{Ensembler, Predictions, check_weights};

/// The [`Ensembler`] contract: `fit` gives one valid weight per candidate, deterministically;
/// combined rows sum to 1; a single member keeps its predicted classes, and so does a member
/// whose partner has weight 0; mismatched members or weights are an error. `make()` builds
/// the ensembler.
pub fn check_ensembler(make: impl Fn() -> Box<dyn Ensembler>) {
    let e = make();
    let a = Predictions::new(3, vec![0.7, 0.2, 0.1, 0.1, 0.1, 0.8, 0.3, 0.3, 0.4]).expect("a");
    let b = Predictions::new(3, vec![0.2, 0.5, 0.3, 0.2, 0.2, 0.6, 0.1, 0.8, 0.1]).expect("b");
    let c = Predictions::new(3, vec![0.3, 0.3, 0.4, 0.6, 0.3, 0.1, 0.2, 0.2, 0.6]).expect("c");
    let labels = [0, 2, 1];
    let candidates = [a.clone(), b.clone(), c.clone()];
    let weights = e.fit(&candidates, &labels).expect("fit");
    check_weights(3, &weights).expect("fit gives one finite weight ≥ 0 per candidate");
    assert_eq!(
        weights,
        make().fit(&candidates, &labels).expect("fit"),
        "fit is not deterministic"
    );
    let combined = e.combine(&[&a, &b, &c], &weights).expect("combine");
    assert_eq!(combined.len(), 3, "row count changed");
    for row in combined.probs.chunks(3) {
        let s: f32 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-4, "a combined row sums to {s}");
    }
    let single = e.combine(&[&a], &[1.0]).expect("combine one");
    assert_eq!(single.argmax(), a.argmax(), "one member's classes changed");
    let with_zero = e.combine(&[&a, &b], &[1.0, 0.0]).expect("combine");
    assert_eq!(
        with_zero.argmax(),
        a.argmax(),
        "a member of weight 0 changed the classes"
    );
    let odd = Predictions::new(2, vec![0.5, 0.5]).expect("odd");
    assert!(
        e.combine(&[&a, &odd], &[1.0, 1.0]).is_err(),
        "mismatched members combined without error"
    );
    assert!(
        e.combine(&[&a, &b], &[1.0]).is_err(),
        "a weight count that does not match the members combined without error"
    );
    assert!(e.fit(&[], &labels).is_err(), "fitted on no candidate");
}
