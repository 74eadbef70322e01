//! `examples/seed.toml`, the seed's whole pipeline, killed in a later stage and run
//! again: the finished stages are kept, the study is not repeated, and the run completes.
//! The pipeline is the example itself, shrunk with `--set` so the test takes seconds.

#[path = "support/mod.rs"]
mod support;
use support::*;

/// Smaller data and fewer, shorter runs; the stages and their wiring are the example's.
const SHRINK: [&str; 8] = [
    "dataset.train=600",
    "dataset.valid=200",
    "dataset.test=200",
    "dataset.size=16",
    "stages[0].steps=30",
    "stages[1].trials=8",
    "stages[2].epochs=3",
    "stages[2].top_k=2",
];

fn seed_pipeline() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed.toml")
}

fn with_shrink(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for s in SHRINK {
        cmd.arg("--set").arg(s);
    }
    cmd
}

#[test]
fn the_seed_pipeline_killed_in_retrain_resumes_there() {
    let dir = tempfile::tempdir().expect("tmp");
    let run_dir = dir.path().join("run");
    // Kill (SIGKILL) as soon as the retrain stage reports anything: lr_find and the study
    // are finished by then.
    let saw = kill_at_line(
        with_shrink(
            kiln()
                .arg("run")
                .arg(seed_pipeline())
                .arg("--run-dir")
                .arg(&run_dir),
        ),
        "] [retrain]",
    );
    assert!(saw.contains("[retrain]"), "never reached retrain: {saw}");
    let before = show(&run_dir);
    let trials_before = before["studies"][0]["trials"].clone();
    assert!(
        trials_before.as_array().is_some_and(|t| !t.is_empty()),
        "{before}"
    );

    let mut again = kiln();
    again
        .arg("run")
        .arg(seed_pipeline())
        .arg("--run-dir")
        .arg(&run_dir);
    let out = with_shrink(&mut again).output().expect("rerun");
    let err = stderr(&out);
    assert!(out.status.success(), "the rerun failed: {err}");
    assert!(
        err.contains("[lr_find] already finished"),
        "lr_find was not kept: {err}"
    );
    // The tune stage re-enters its finished study and starts no trial.
    assert!(!err.contains("started"), "the rerun started a trial: {err}");
    assert!(
        !err.contains("[retrain] already finished"),
        "retrain was cut short, so it runs again: {err}"
    );
    let after = show(&run_dir);
    assert_eq!(
        after["studies"][0]["trials"], trials_before,
        "the study's trials changed on the rerun"
    );
    let stages = after["runs"]["seed"].as_object().expect("stages");
    for name in [
        "lr_find",
        "tune",
        "retrain",
        "ensemble",
        "pseudo_label",
        "evaluate_ensemble",
        "evaluate_pseudo_label",
    ] {
        assert!(stages.contains_key(name), "stage `{name}` missing: {after}");
    }
    let gain = &stages["evaluate_ensemble"]["metrics"]["gain_over_best_member"];
    assert!(gain.is_number(), "{gain}");
}
