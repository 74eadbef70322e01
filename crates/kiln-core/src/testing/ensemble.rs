use crate::{Ensembler, Predictions};

/// The [`Ensembler`] contract: rows sum to 1, a single member passes through, selection
/// returns valid indices, mismatched members are an error. `make()` builds the ensembler.
pub fn check_ensembler(make: impl Fn() -> Box<dyn Ensembler>) {
    let e = make();
    let a = Predictions::new(3, vec![0.7, 0.2, 0.1, 0.1, 0.1, 0.8]).expect("a");
    let b = Predictions::new(3, vec![0.2, 0.5, 0.3, 0.2, 0.2, 0.6]).expect("b");
    let labels = [0, 2];
    let chosen = e.select(&[a.clone(), b.clone()], &labels).expect("select");
    assert!(!chosen.is_empty(), "selected no member");
    assert!(
        chosen.iter().all(|&i| i < 2),
        "selected an index out of range"
    );
    let combined = e.combine(&[&a, &b]).expect("combine");
    assert_eq!(combined.len(), 2, "row count changed");
    for row in combined.probs.chunks(3) {
        let s: f32 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-4, "a combined row sums to {s}");
    }
    let single = e.combine(&[&a]).expect("combine one");
    assert!(
        single
            .probs
            .iter()
            .zip(&a.probs)
            .all(|(x, y)| (x - y).abs() < 1e-6),
        "one member did not pass through"
    );
    let c = Predictions::new(2, vec![0.5, 0.5]).expect("c");
    assert!(
        e.combine(&[&a, &c]).is_err(),
        "mismatched members combined without error"
    );
}
