//! Crash torture: `kiln run` SIGKILLed at many moments (while trials train, while the
//! database and checkpoints are written, during the later stages), resumed each time.
//! After every kill no finished trial is lost or changed; at the end the run completes,
//! SQLite's `integrity_check` is `ok`, every checkpoint on disk is whole, and every one a
//! trial refers to matches the SHA-256 recorded when it was written.
//!
//! `KILN_TORTURE_KILLS` sets the number of kills (default 8; docs/reliability.md records
//! longer runs).

#[path = "support/mod.rs"]
mod support;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::*;

/// Fast heartbeats, so a resume re-runs the killed trials after half a second, and enough
/// work (a few seconds in all) that the kills land while it is being done.
const SETS: [&str; 10] = [
    "--set",
    "stages.0.heartbeat_seconds=0.1",
    "--set",
    "stages.0.grace_seconds=0.5",
    "--set",
    "dataset.train=4000",
    "--set",
    "trainer.epochs=5",
    "--set",
    "stages.1.epochs=8",
];

/// Finished trials: number → (state, value).
fn finished(run_dir: &Path) -> BTreeMap<u64, (String, serde_json::Value)> {
    let db = run_dir.join("kiln.db");
    if !db.is_file() {
        return BTreeMap::new();
    }
    let report = show(run_dir);
    report["studies"][0]["trials"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "COMPLETE" || t["state"] == "PRUNED")
        .map(|t| {
            (
                t["number"].as_u64().expect("number"),
                (
                    t["state"].as_str().expect("state").to_string(),
                    t["value"].clone(),
                ),
            )
        })
        .collect()
}

/// A safetensors file is whole when its header parses and its tensors end at its end.
fn assert_whole_safetensors(path: &Path) {
    let bytes = std::fs::read(path).expect("read checkpoint");
    assert!(
        bytes.len() >= 8,
        "{}: shorter than its header",
        path.display()
    );
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[..8]);
    let n = u64::from_le_bytes(len) as usize;
    assert!(bytes.len() >= 8 + n, "{}: header cut off", path.display());
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + n]).expect("checkpoint header is JSON");
    let end = header
        .as_object()
        .expect("header object")
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(_, v)| v["data_offsets"][1].as_u64())
        .max()
        .unwrap_or(0) as usize;
    assert_eq!(
        bytes.len(),
        8 + n + end,
        "{}: tensors do not end at the end of the file",
        path.display()
    );
}

#[test]
fn a_run_killed_at_many_moments_loses_nothing_and_ends_whole() {
    let kills: u64 = std::env::var("KILN_TORTURE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().expect("tmp");
    // Enough trials that the kills keep finding work (each resume costs a data load).
    let trials = (3 * kills as usize).max(16);
    let p = write(
        dir.path(),
        "p.toml",
        &pipeline(trials, 2, "{ kind = \"random\" }"),
    );
    let run_dir = dir.path().join("run");
    let mut seen = BTreeMap::new();
    let mut interrupted = 0;
    let mut progress = Vec::new();
    // A fixed sequence of moments (an LCG), so a failure can be replayed.
    let mut x: u64 = 0x9E37_79B9;
    for kill in 0..kills {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let after = Duration::from_millis(150 + (x >> 33) % 700);
        let mut child = kiln()
            .arg("run")
            .arg(&p)
            .arg("--run-dir")
            .arg(&run_dir)
            .arg("--quiet")
            .args(SETS)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(after);
        if child.try_wait().expect("try_wait").is_none() {
            interrupted += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let now = finished(&run_dir);
        for (number, before) in &seen {
            assert_eq!(
                now.get(number),
                Some(before),
                "kill {kill} (after {after:?}): finished trial #{number} was lost or changed"
            );
        }
        seen = now;
        progress.push(seen.len());
    }
    // Most kills must land while the run is working, or the test tortures nothing.
    assert!(
        interrupted * 2 >= kills,
        "only {interrupted} of {kills} kills found the run still working"
    );
    eprintln!(
        "{interrupted} of {kills} kills interrupted a running `kiln run`; finished trials after each: {progress:?}"
    );
    let out = run(&p, &run_dir, &[&["--quiet"][..], &SETS[..]].concat());
    assert!(
        out.status.success(),
        "the final resume failed: {}",
        stderr(&out)
    );
    let end = finished(&run_dir);
    for (number, before) in &seen {
        assert_eq!(
            end.get(number),
            Some(before),
            "trial #{number} changed at the end"
        );
    }
    assert_eq!(end.len(), trials, "the study has its trials: {end:?}");

    let conn = rusqlite::Connection::open(run_dir.join("kiln.db")).expect("db");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    let mut checkpoints = 0;
    for entry in std::fs::read_dir(run_dir.join("checkpoints")).expect("checkpoints") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            assert_whole_safetensors(&path);
            // Its checksum, where its sidecar got written, matches (a kill between the
            // weights and the sidecar leaves a whole file that nothing refers to).
            kiln_engine::checkpoint::verify(&path).expect("checksum");
            checkpoints += 1;
        }
    }
    assert!(checkpoints > 0);
    // Every checkpoint a trial refers to is on disk with its checksum recorded.
    let mut stmt = conn
        .prepare("SELECT value_json FROM trial_user_attributes WHERE key = 'checkpoint'")
        .expect("query");
    let referred: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .expect("rows")
        .map(|r| serde_json::from_str::<String>(&r.expect("row")).expect("a path"))
        .collect();
    assert!(!referred.is_empty());
    for rel in &referred {
        let path = run_dir.join(rel);
        let sidecar: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("state.json")).expect("sidecar"),
        )
        .expect("sidecar JSON");
        assert!(sidecar["sha256"].is_string(), "{rel}: no checksum recorded");
        kiln_engine::checkpoint::verify(&path).expect("checksum");
    }
}
