use crate::{Stage, StageContext, StageOutput};

/// How strictly [`check_stage`] compares two runs of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeatability {
    /// Same seed, same output: parameters, locks, the learning-rate finding, and every
    /// metric but timings.
    Exact,
    /// The stage measures time (a batch-size finder): only the output's shape is compared.
    Timed,
}

fn untimed(out: &StageOutput) -> Vec<(String, u64)> {
    out.metrics
        .iter()
        .filter(|(k, _)| !k.contains("second") && !k.contains("time"))
        .map(|(k, v)| (k.clone(), v.to_bits()))
        .collect()
}

/// The [`Stage`] contract, on a context the caller prepared (with the earlier stages'
/// outputs the stage reads): `make()` builds the stage.
///
/// Checks that `reads` is stable, that `run` returns an output of a non-empty kind that
/// survives a JSON round trip, that every model it hands on is a checkpoint under the run
/// directory (a relative path) that the context can load, and — run a second time — that the
/// same seed gives the same output. Returns the first run's output, so a caller can feed it
/// to the next stage.
pub fn check_stage(
    make: impl Fn() -> Box<dyn Stage>,
    ctx: &dyn StageContext,
    repeat: Repeatability,
) -> StageOutput {
    let stage = make();
    assert_eq!(
        stage.reads(),
        make().reads(),
        "`reads` differs between two builds of the same stage"
    );
    let first = stage.run(ctx).expect("the stage runs");
    assert!(!first.kind.is_empty(), "the output has no kind");
    let json = serde_json::to_value(&first).expect("the output serialises");
    let back: StageOutput = serde_json::from_value(json).expect("the output deserialises");
    assert_eq!(back.kind, first.kind, "kind lost in a JSON round trip");
    assert_eq!(back.locks, first.locks, "locks lost in a JSON round trip");
    assert_eq!(
        back.models().len(),
        first.models().len(),
        "models lost in a JSON round trip"
    );
    for m in first.models() {
        assert!(
            m.checkpoint.is_relative(),
            "checkpoint {} is not relative to the run directory",
            m.checkpoint.display()
        );
        assert!(
            ctx.run_dir().join(&m.checkpoint).is_file(),
            "checkpoint {} does not exist",
            m.checkpoint.display()
        );
        ctx.load_model(&m.params, &m.checkpoint)
            .expect("the context loads the model the stage hands on");
    }
    let second = make().run(ctx).expect("the stage runs a second time");
    assert_eq!(second.kind, first.kind, "kind differs between runs");
    if repeat == Repeatability::Exact {
        assert_eq!(
            second.params, first.params,
            "same seed, different parameters"
        );
        assert_eq!(second.locks, first.locks, "same seed, different locks");
        assert_eq!(
            second.lr, first.lr,
            "same seed, different learning-rate finding"
        );
        assert_eq!(
            untimed(&second),
            untimed(&first),
            "same seed, different metrics"
        );
    }
    first
}
