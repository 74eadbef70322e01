//! Studies on a real PostgreSQL server, shared by processes as if on several hosts: each
//! process has its own run directory (nothing shared but the server), one of them is
//! SIGKILLed mid-trial, and the study still ends with every trial run once. Optuna reads the
//! study through the same URL.
//!
//! Needs a server: `KILN_TEST_POSTGRES=postgresql://…` (`scripts/pg-local.sh` starts one on
//! loopback and prints its URL; `.ci/run` does so and sets `KILN_REQUIRE_POSTGRES`, which
//! turns a missing server into a failure instead of a skip).

#[path = "support/mod.rs"]
mod support;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use support::*;

/// A fresh schema on the test server, or `None` (skip) where there is none.
fn server(tag: &str) -> Option<String> {
    match std::env::var("KILN_TEST_POSTGRES") {
        Ok(url) => Some(
            kiln_engine::storage::scratch_schema(&url, &format!("{tag}_{}", std::process::id()))
                .expect("a scratch schema on the test server"),
        ),
        Err(_) => {
            assert!(
                std::env::var_os("KILN_REQUIRE_POSTGRES").is_none(),
                "KILN_REQUIRE_POSTGRES is set but KILN_TEST_POSTGRES names no server"
            );
            eprintln!("skipped: KILN_TEST_POSTGRES is not set (scripts/pg-local.sh)");
            None
        }
    }
}

fn show_at(run_dir: &std::path::Path, url: &str) -> serde_json::Value {
    let out = kiln()
        .arg("show")
        .arg(run_dir)
        .args(["--json", "--storage", url])
        .output()
        .expect("show");
    assert!(out.status.success(), "show failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn workers_on_separate_hosts_share_a_postgres_study_and_survive_one_killed_mid_trial() {
    let Some(url) = server("e2e") else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let trials = 16;
    let p = write(
        dir.path(),
        "p.toml",
        &pipeline(trials, 1, "{ kind = \"random\" }"),
    );
    let beats = [
        "--set",
        "stages.0.heartbeat_seconds=0.2",
        "--set",
        "stages.0.grace_seconds=2",
    ];
    let host = |name: &str| dir.path().join(name);
    let worker = |name: &str| {
        let mut c = kiln();
        c.arg("worker")
            .arg(&p)
            .arg("--run-dir")
            .arg(host(name))
            .args(["--storage", &url])
            .args(beats)
            .env("KILN_PROGRESS", "plain");
        c
    };
    // Host b: killed as soon as it has started a trial, which it never finishes.
    let mut doomed = worker("host-b");
    let survivor = worker("host-c")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worker c");
    let killed_at = std::thread::spawn(move || kill_at_line(&mut doomed, "started:"));
    let owner = kiln()
        .arg("run")
        .arg(&p)
        .arg("--run-dir")
        .arg(host("host-a"))
        .args(["--quiet", "--storage", &url])
        .args(beats)
        .output()
        .expect("owner");
    assert!(owner.status.success(), "owner: {}", stderr(&owner));
    let saw = killed_at.join().expect("killer");
    assert!(
        saw.contains("started:"),
        "worker b never started a trial: {saw}"
    );
    let survivor = survivor.wait_with_output().expect("worker c");
    assert!(survivor.status.success(), "worker c: {}", stderr(&survivor));

    let report = show_at(&host("host-a"), &url);
    let study = &report["studies"][0];
    let all = study["trials"].as_array().expect("trials");
    assert_interrupted_study_whole(all, trials);
    assert!(
        host("host-a").join("summary.json").is_file(),
        "the owner finished the pipeline"
    );
    assert!(
        !host("host-a").join("kiln.db").exists(),
        "nothing went to a local file"
    );

    // Optuna reads the same study from the same server.
    let has_optuna = Command::new("python3")
        .args(["-c", "import optuna, psycopg"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_optuna {
        assert!(
            std::env::var("KILN_REQUIRE_OPTUNA").is_err(),
            "KILN_REQUIRE_OPTUNA is set but python3 lacks optuna or psycopg"
        );
        return;
    }
    let script = r#"
import json, sys, optuna
s = optuna.load_study(study_name=sys.argv[2], storage=sys.argv[1])
print(json.dumps({
    "n_trials": len(s.trials),
    "best_value": s.best_value,
    "states": [t.state.name for t in s.trials],
}))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &url])
        .arg(study["name"].as_str().expect("name"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "optuna: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(seen["n_trials"], study["n_trials"]);
    assert_eq!(seen["best_value"], study["best_value"]);
    let states: Vec<serde_json::Value> = all.iter().map(|t| t["state"].clone()).collect();
    assert_eq!(seen["states"], serde_json::Value::Array(states));
}

#[test]
fn a_bad_storage_url_is_one_clear_line_naming_the_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(
        dir.path(),
        "p.toml",
        &pipeline(2, 1, "{ kind = \"random\" }"),
    );
    let out = kiln()
        .arg("run")
        .arg(&p)
        .arg("--run-dir")
        .arg(dir.path().join("run"))
        .args([
            "--quiet",
            "--storage",
            "postgresql://kiln:pw@127.0.0.1:1/kiln",
        ])
        .output()
        .expect("run");
    assert_clean_error(
        &out,
        &["postgresql://kiln:***@127.0.0.1:1/kiln", "cannot connect"],
    );
    assert!(!stderr(&out).contains("pw@"), "the password leaked");
}

#[test]
fn askers_on_several_hosts_share_a_grid_on_postgres_without_a_duplicate_point() {
    let Some(url) = server("ask") else { return };
    let space = r#"{ x = { type = "categorical", choices = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] } }"#;
    // The first ask names the search; then three askers, as if on three hosts, race.
    let first = kiln()
        .args(["ask", "--storage", &url, "--study", "outside"])
        .args(["--direction", "minimize", "--search", "{ kind = \"grid\" }"])
        .args(["--space", space])
        .output()
        .expect("ask");
    assert!(first.status.success(), "ask: {}", stderr(&first));
    let askers: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for _ in 0..3 {
                    let out = kiln()
                        .args(["ask", "--storage", &url, "--study", "outside"])
                        .args(["--direction", "minimize"])
                        .output()
                        .expect("ask");
                    assert!(out.status.success(), "ask: {}", stderr(&out));
                    let t: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
                    let (n, x) = (t["number"].as_u64().expect("n"), t["params"]["x"].clone());
                    let told = kiln()
                        .args(["tell", "--storage", &url, "--study", "outside", "--trial"])
                        .arg(n.to_string())
                        .args(["--values", &n.to_string()])
                        .output()
                        .expect("tell");
                    assert!(told.status.success(), "tell: {}", stderr(&told));
                    got.push((n, x.to_string()));
                }
                got
            })
        })
        .collect();
    let mut all: Vec<(u64, String)> = askers
        .into_iter()
        .flat_map(|h| h.join().expect("asker"))
        .collect();
    all.sort();
    let numbers: Vec<u64> = all.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..10).collect::<Vec<_>>(), "{all:?}");
    let points: BTreeSet<&String> = all.iter().map(|(_, x)| x).collect();
    assert_eq!(points.len(), 9, "a grid point was asked twice: {all:?}");
}
