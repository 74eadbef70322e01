//! Backends from the binary: `kiln bench train` rows, `scripts/gpu-check.sh` run on the CPU
//! (CI has no GPU; on a machine with one the same script checks each GPU), and, in a build
//! with `--features tch` (CI's optional LibTorch step), a study on `tch:cpu`.

mod support;
use std::path::Path;
use support::*;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn bench_train_reports_samples_per_second_and_refuses_unknown_devices() {
    let out = kiln()
        .args([
            "bench",
            "train",
            "--models",
            "mlp",
            "--repeats",
            "1",
            "--warmup",
            "1",
        ])
        .args(["--json", "--devices", "cpu"])
        .output()
        .expect("kiln runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let row: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON row");
    assert_eq!(row["device"], "cpu");
    assert_eq!(row["model"], "mlp");
    // 784-256-256-10, the same count PyTorch's side prints.
    assert_eq!(row["num_params"], 269_322);
    assert_eq!(row["samples"], 3584);
    assert!(
        row["samples_per_s"].as_f64().is_some_and(|s| s > 0.0),
        "{row}"
    );

    let out = kiln()
        .args(["bench", "train", "--models", "mlp", "--devices", "gpu:0"])
        .output()
        .expect("kiln runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("unknown device `gpu:0`"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn gpu_check_script_passes_on_the_cpu_and_skips_without_a_gpu() {
    let dir = tempfile::tempdir().expect("tmp");
    let script = root().join("scripts/gpu-check.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .env("KILN_GPU_CHECK_DEVICES", "cpu")
        .env("KILN_BIN", env!("CARGO_BIN_EXE_kiln"))
        .env("KILN_GPU_CHECK_DIR", dir.path())
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("gpu-check: passed on cpu"), "{text}");
    assert_eq!(text.matches(": COMPLETE on").count(), 6, "{text}");
    assert!(text.contains("'slot': 1"), "both slots used: {text}");

    let has_gpu = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("GPU "));
    if !has_gpu {
        for (args, ok) in [(&[][..], true), (&["--require"][..], false)] {
            let out = std::process::Command::new("bash")
                .arg(&script)
                .args(args)
                .env_remove("KILN_GPU_CHECK_DEVICES")
                .env("KILN_BIN", env!("CARGO_BIN_EXE_kiln"))
                .output()
                .expect("bash runs");
            assert_eq!(out.status.success(), ok, "{args:?}");
            assert!(String::from_utf8_lossy(&out.stdout).contains("no NVIDIA GPU visible"));
        }
    }
}

#[cfg(feature = "tch")]
#[test]
fn a_study_runs_on_libtorch_cpu() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = dir.path().join("run");
    let out = kiln()
        .arg("run")
        .arg(root().join("tests/gpu/study.toml"))
        .arg("--run-dir")
        .arg(&run)
        .args([
            "--set",
            r#"devices=["tch:cpu"]"#,
            "--set",
            "stages.tune.trials=2",
        ])
        .args(["--set", "trainer.epochs=1"])
        .output()
        .expect("kiln runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let db = rusqlite::Connection::open(run.join("kiln.db")).expect("db");
    let rows: Vec<(String, String)> = db
        .prepare(
            "SELECT t.state, a.value_json FROM trials t JOIN trial_system_attributes a
             ON a.trial_id = t.trial_id AND a.key = 'kiln:device'",
        )
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("trials");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (state, at) in rows {
        assert_eq!(state, "COMPLETE");
        assert!(at.contains("\"tch:cpu\""), "{at}");
    }
}
