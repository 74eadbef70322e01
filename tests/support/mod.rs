//! Helpers the binary's end-to-end tests share: the built `kiln`, a small pipeline file,
//! running a pipeline and reading `kiln show --json`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn kiln() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
}

/// A small, fast pipeline: an MLP on 16×16 glyphs.
pub fn pipeline(trials: usize, workers: usize, search: &str) -> String {
    format!(
        r#"
name = "e2e"
seed = 11
workers = {workers}

[dataset]
kind = "glyphs"
train = 400
valid = 100
test = 100
size = 16

[model]
kind = "mlp"
layers = 1
width = 32

[optimizer]
kind = "adam"
lr = 3e-3

[trainer]
batch_size = 32
epochs = 2

[[stages]]
kind = "tune"
trials = {trials}
search = {search}
pruner = {{ kind = "median", n_startup_trials = 2 }}

[stages.space]
"optimizer.lr" = {{ type = "float", low = 1e-3, high = 3e-2, log = true }}
"model.width" = {{ type = "int", low = 16, high = 64, step = 16 }}
"model.activation" = {{ type = "categorical", choices = ["relu", "gelu"] }}

[[stages]]
kind = "train"
from = "tune"
epochs = 3

[[stages]]
kind = "evaluate"
"#
    )
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pipeline");
    p
}

pub fn run(pipeline: &Path, run_dir: &Path, extra: &[&str]) -> Output {
    kiln()
        .arg("run")
        .arg(pipeline)
        .arg("--run-dir")
        .arg(run_dir)
        .args(extra)
        .output()
        .expect("run kiln")
}

pub fn show(run_dir: &Path) -> serde_json::Value {
    let out = kiln()
        .arg("show")
        .arg(run_dir)
        .arg("--json")
        .output()
        .expect("show");
    assert!(
        out.status.success(),
        "show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("show --json prints JSON")
}

/// Runs `cmd`, reads its standard error line by line and SIGKILLs it at the first line
/// containing `needle`; returns what it printed up to there.
pub fn kill_at_line(cmd: &mut Command, needle: &str) -> String {
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let pipe = child.stderr.take().expect("stderr");
    let mut saw = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(pipe)) {
        let line = line.expect("line");
        saw.push_str(&line);
        saw.push('\n');
        if line.contains(needle) {
            break;
        }
    }
    child.kill().expect("kill");
    let _ = child.wait();
    saw
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_clean_error(out: &Output, needles: &[&str]) {
    assert!(!out.status.success(), "expected failure");
    let err = stderr(out);
    assert!(
        !err.contains("panicked") && !err.contains("panic at"),
        "panicked: {err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

/// The audit of a study some of whose trials were interrupted (a worker killed or cut
/// off): trial numbers `0..n` once each, `trials` finished, the rest failed as stale, each
/// failed point evaluated again, and no point finished twice.
pub fn assert_interrupted_study_whole(all: &[serde_json::Value], trials: usize) {
    let numbers: Vec<u64> = all
        .iter()
        .map(|t| t["number"].as_u64().expect("n"))
        .collect();
    assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
    let finished: Vec<&serde_json::Value> = all
        .iter()
        .filter(|t| t["state"] == "COMPLETE" || t["state"] == "PRUNED")
        .collect();
    let failed: Vec<&serde_json::Value> = all.iter().filter(|t| t["state"] == "FAIL").collect();
    assert_eq!(finished.len(), trials, "the budget ran once: {all:?}");
    assert_eq!(
        failed.len() + finished.len(),
        all.len(),
        "nothing left running: {all:?}"
    );
    assert!(
        !failed.is_empty(),
        "the interrupted trial was failed: {all:?}"
    );
    for t in &failed {
        assert!(
            t["reason"]
                .as_str()
                .is_some_and(|r| r.contains("stopped beating")),
            "{t}"
        );
        assert!(
            finished.iter().any(|f| f["params"] == t["params"]),
            "the interrupted point was evaluated again: {t}"
        );
    }
    let points: std::collections::BTreeSet<String> =
        finished.iter().map(|t| t["params"].to_string()).collect();
    assert_eq!(points.len(), finished.len(), "no point ran twice");
}
