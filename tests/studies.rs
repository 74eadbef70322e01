//! End-to-end tests of studies through the binary: Optuna reads them, ensembles vote over
//! their trials, multi-objective fronts, coarse-to-fine budgets.

#[path = "support/mod.rs"]
mod support;
use std::process::Command;
use support::*;

/// Optuna reads the study: same trial count, states and best value as `kiln show --json`.
/// Needs Python with `optuna` (`.ci/run` installs it and sets `KILN_REQUIRE_OPTUNA=1`, which
/// turns a missing Optuna into a failure instead of a skip).
#[test]
fn optuna_loads_the_study_unchanged() {
    let has_optuna = Command::new("python3")
        .args(["-c", "import optuna"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_optuna {
        assert!(
            std::env::var("KILN_REQUIRE_OPTUNA").is_err(),
            "KILN_REQUIRE_OPTUNA is set but `python3 -c 'import optuna'` fails"
        );
        eprintln!("skipped: python3 has no optuna (pip install optuna)");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let text = pipeline(5, 2, "{ kind = \"random\" }").replace(
        "\"model.activation\" = { type = \"categorical\", choices = [\"relu\", \"gelu\"] }",
        "\"model.activation\" = { type = \"categorical\", choices = [\"relu\", \"gelu\"] }\n\"model.dropout\" = { type = \"float\", low = 0.0, high = 0.3, step = 0.1 }",
    );
    let p = write(dir.path(), "p.toml", &text);
    let run_dir = dir.path().join("run");
    let out = run(&p, &run_dir, &["--quiet"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let report = show(&run_dir);
    let study = &report["studies"][0];
    let script = r#"
import json, sys, optuna
s = optuna.load_study(study_name=sys.argv[2], storage="sqlite:///" + sys.argv[1])
print(json.dumps({
    "n_trials": len(s.trials),
    "best_value": s.best_value,
    "best_trial": s.best_trial.number,
    "best_params": s.best_trial.params,
    "states": [t.state.name for t in s.trials],
    "direction": s.direction.name,
}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(run_dir.join("kiln.db"))
        .arg(study["name"].as_str().expect("name"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "optuna failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json from python");
    assert_eq!(seen["n_trials"], study["n_trials"]);
    assert_eq!(seen["best_value"], study["best_value"]);
    assert_eq!(seen["best_trial"], study["best_trial"]);
    assert_eq!(seen["best_params"], study["best_params"]);
    assert_eq!(seen["direction"], "MAXIMIZE");
    let states: Vec<serde_json::Value> = study["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| t["state"].clone())
        .collect();
    assert_eq!(seen["states"], serde_json::Value::Array(states));
}

/// optuna-dashboard (from PyPI) serves a kiln run's study: its API lists the study with
/// every trial, and the study page renders. Skipped where it is not installed, unless
/// `KILN_REQUIRE_OPTUNA_DASHBOARD` is set (`.ci/run` sets it when its install worked).
#[test]
fn optuna_dashboard_serves_a_kiln_study() {
    let has_dashboard = Command::new("python3")
        .args(["-c", "import optuna_dashboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_dashboard {
        assert!(
            std::env::var("KILN_REQUIRE_OPTUNA_DASHBOARD").is_err(),
            "KILN_REQUIRE_OPTUNA_DASHBOARD is set but optuna_dashboard does not import"
        );
        eprintln!("skipped: python3 has no optuna_dashboard (pip install optuna-dashboard)");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(
        dir.path(),
        "p.toml",
        &pipeline(4, 2, "{ kind = \"random\" }"),
    );
    let run_dir = dir.path().join("run");
    let out = run(&p, &run_dir, &["--quiet"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/scripts/dashboard_check.py");
    let url = format!("sqlite:///{}", run_dir.join("kiln.db").display());
    let out = Command::new("python3")
        .arg(&script)
        .arg(&url)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "optuna-dashboard failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let study = &show(&run_dir)["studies"][0];
    assert_eq!(seen[0]["name"], study["name"]);
    assert_eq!(seen[0]["trials"], study["n_trials"]);
}

#[test]
fn ensemble_stage_votes_over_the_best_trials() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut text = pipeline(4, 2, "{ kind = \"random\" }");
    text.push_str(
        "\n[[stages]]\nkind = \"ensemble\"\nfrom = \"tune\"\ntop_k = 3\nensembler = { kind = \"soft_vote\" }\n\n[[stages]]\nkind = \"evaluate\"\nname = \"evaluate_ensemble\"\nfrom = \"ensemble\"\n",
    );
    let p = write(dir.path(), "p.toml", &text);
    let run_dir = dir.path().join("run");
    let out = run(&p, &run_dir, &["--quiet"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("summary.json")).expect("summary"),
    )
    .expect("json");
    let members = summary["stages"]["ensemble"]["members"]
        .as_array()
        .expect("members");
    let complete = summary["stages"]["tune"]["metrics"]["complete"]
        .as_f64()
        .expect("complete") as usize;
    assert_eq!(
        members.len(),
        complete.min(3),
        "a soft vote keeps every candidate"
    );
    let acc = summary["stages"]["evaluate_ensemble"]["metrics"]["accuracy"]
        .as_f64()
        .expect("accuracy");
    assert!(acc > 0.2, "ensemble test accuracy {acc}");
    let keys: Vec<&String> = summary["stages"]
        .as_object()
        .expect("stages")
        .keys()
        .collect();
    assert_eq!(
        keys,
        ["tune", "train", "evaluate", "ensemble", "evaluate_ensemble"],
        "stages out of order"
    );
}

#[test]
fn multi_objective_study_has_a_pareto_front_that_optuna_reads() {
    let dir = tempfile::tempdir().expect("tmp");
    // NSGA-II with generations of two: children of the first generation's elite run too.
    let search = "{ kind = \"nsga2\", population_size = 2 }";
    let text = pipeline(5, 2, search).replace(
        "pruner = { kind = \"median\", n_startup_trials = 2 }",
        "objectives = [\"val_accuracy\", \"num_params\"]",
    );
    let p = write(dir.path(), "p.toml", &text);
    let run_dir = dir.path().join("run");
    let out = run(&p, &run_dir, &["--quiet"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let report = show(&run_dir);
    let study = &report["studies"][0];
    assert_eq!(
        study["directions"],
        serde_json::json!(["maximize", "minimize"])
    );
    let front = study["pareto_front"].as_array().expect("front");
    assert!(!front.is_empty());
    for t in study["trials"].as_array().expect("trials") {
        assert_eq!(t["values"].as_array().map(Vec::len), Some(2), "{t}");
    }
    let text = String::from_utf8_lossy(
        &kiln()
            .arg("show")
            .arg(&run_dir)
            .output()
            .expect("show")
            .stdout,
    )
    .into_owned();
    assert!(text.contains("Pareto front"), "{text}");

    // A pruner cannot judge several objectives: refused with the key.
    let bad = pipeline(5, 2, "{ kind = \"random\" }").replace(
        "pruner = {",
        "objectives = [\"val_accuracy\", \"num_params\"]\npruner = {",
    );
    let p = write(dir.path(), "bad.toml", &bad);
    assert_clean_error(
        &run(&p, &dir.path().join("r2"), &[]),
        &["stages[0].pruner", "single objective"],
    );

    let has_optuna = Command::new("python3")
        .args(["-c", "import optuna"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_optuna {
        return;
    }
    let script = r#"
import json, sys, optuna
s = optuna.load_study(study_name=sys.argv[2], storage="sqlite:///" + sys.argv[1])
print(json.dumps({"directions": [d.name for d in s.directions], "front": sorted(t.number for t in s.best_trials)}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(run_dir.join("kiln.db"))
        .arg(study["name"].as_str().expect("name"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "optuna failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        seen["directions"],
        serde_json::json!(["MAXIMIZE", "MINIMIZE"])
    );
    let mut ours: Vec<u64> = front
        .iter()
        .map(|t| t["number"].as_u64().expect("n"))
        .collect();
    ours.sort_unstable();
    assert_eq!(seen["front"], serde_json::json!(ours));
}

#[test]
fn coarse_to_fine_budgets_reach_the_trainer() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = pipeline(60, 1, "{ kind = \"coarse_to_fine\", rounds = [{ factor = 10.0, points = 3, epochs = 1 }, { factor = 3.0, points = 3, epochs = 3 }] }")
        .replace("pruner = { kind = \"median\", n_startup_trials = 2 }\n", "")
        .replace(
            "\"model.width\" = { type = \"int\", low = 16, high = 64, step = 16 }\n\"model.activation\" = { type = \"categorical\", choices = [\"relu\", \"gelu\"] }\n",
            "",
        )
        .replace("low = 1e-3, high = 3e-2", "low = 1e-5, high = 1.0");
    let p = write(dir.path(), "p.toml", &text);
    let run_dir = dir.path().join("run");
    let out = run(&p, &run_dir, &["--quiet"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let trials = show(&run_dir)["studies"][0]["trials"]
        .as_array()
        .expect("trials")
        .clone();
    // Trials at a learning rate near 1.0 diverge and are pruned before their budget ends.
    let epochs: Vec<u64> = trials
        .iter()
        .filter(|t| t["state"] != "PRUNED")
        .map(|t| t["epochs"].as_u64().expect("epochs"))
        .collect();
    assert!(
        trials.len() < 60,
        "the mesh should finish before the trial budget: {}",
        trials.len()
    );
    assert_eq!(epochs.first(), Some(&1), "{epochs:?}");
    assert_eq!(epochs.last(), Some(&3), "{epochs:?}");
    let switch = epochs.iter().position(|&e| e == 3).expect("a fine round");
    assert!(
        epochs[..switch].iter().all(|&e| e == 1) && epochs[switch..].iter().all(|&e| e == 3),
        "{epochs:?}"
    );
}

/// Two `kiln run` processes on one study share its budget: every trial is run once, the
/// study ends with exactly its trials, and neither process repeats the other's.
#[test]
fn two_processes_share_one_study_without_losing_or_repeating_a_trial() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = pipeline(6, 1, "{ kind = \"random\" }");
    // The tune stage alone: the later stages would run in both processes.
    let tune_only = text
        .split("\n[[stages]]\nkind = \"train\"")
        .next()
        .expect("text")
        .to_string();
    let p = write(dir.path(), "p.toml", &tune_only);
    let run_dir = dir.path().join("run");
    let spawn = || {
        kiln()
            .arg("run")
            .arg(&p)
            .arg("--run-dir")
            .arg(&run_dir)
            .args(["--quiet", "--set", "stages.0.heartbeat_seconds=0.2"])
            .args(["--set", "stages.0.grace_seconds=5"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let report = show(&run_dir);
    let trials = report["studies"][0]["trials"].as_array().expect("trials");
    let numbers: Vec<u64> = trials
        .iter()
        .map(|t| t["number"].as_u64().expect("number"))
        .collect();
    assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
    let states: Vec<&str> = trials
        .iter()
        .map(|t| t["state"].as_str().expect("state"))
        .collect();
    assert_eq!(
        trials.len(),
        6,
        "the budget is shared, not doubled: {states:?}"
    );
    assert!(
        states.iter().all(|s| *s == "COMPLETE" || *s == "PRUNED"),
        "{states:?}"
    );
}

/// `kiln worker` joins the study `kiln run` drives in the same run directory: together
/// they run the budget once; the worker leaves the later stages to `kiln run`; a worker
/// with nothing to join, or left waiting for a stage nobody runs, says so.
#[test]
fn a_worker_shares_the_study_of_kiln_run_and_leaves_the_other_stages_to_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(
        dir.path(),
        "p.toml",
        &pipeline(16, 1, "{ kind = \"random\" }"),
    );
    let run_dir = dir.path().join("run");
    let beats = [
        "--set",
        "stages.0.heartbeat_seconds=0.2",
        "--set",
        "stages.0.grace_seconds=5",
    ];
    let worker = kiln()
        .arg("worker")
        .arg(&p)
        .arg("--run-dir")
        .arg(&run_dir)
        .args(beats)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn worker");
    let owner = run(&p, &run_dir, &[&["--quiet"][..], &beats[..]].concat());
    assert!(owner.status.success(), "{}", stderr(&owner));
    let worker = worker.wait_with_output().expect("worker");
    assert!(worker.status.success(), "{}", stderr(&worker));
    assert!(String::from_utf8_lossy(&worker.stdout).contains("1 tune stage(s)"));
    let report = show(&run_dir);
    let trials = report["studies"][0]["trials"].as_array().expect("trials");
    assert_eq!(trials.len(), 16, "the budget is run once between them");
    assert!(
        trials
            .iter()
            .all(|t| t["state"] == "COMPLETE" || t["state"] == "PRUNED"),
        "{trials:?}"
    );
    assert!(
        run_dir.join("summary.json").is_file(),
        "kiln run ran the later stages"
    );

    // A pipeline without a tune stage, and a stage nobody runs.
    let head = pipeline(2, 1, "{ kind = \"random\" }");
    let head = head.split("[[stages]]").next().expect("head").to_string();
    let no_tune = write(
        dir.path(),
        "t.toml",
        &format!("{head}[[stages]]\nkind = \"evaluate\"\n"),
    );
    let out = kiln()
        .arg("worker")
        .arg(&no_tune)
        .arg("--run-dir")
        .arg(dir.path().join("none"))
        .output()
        .expect("worker");
    assert_clean_error(&out, &["no tune stage"]);
    let mut text = pipeline(2, 1, "{ kind = \"random\" }");
    text = text.replacen(
        "[[stages]]\nkind = \"tune\"",
        "[[stages]]\nkind = \"lr_find\"\nsteps = 20\n\n[[stages]]\nkind = \"tune\"",
        1,
    );
    let waits = write(dir.path(), "w.toml", &text);
    let out = kiln()
        .arg("worker")
        .arg(&waits)
        .arg("--run-dir")
        .arg(dir.path().join("other"))
        .args(["--patience", "0.5", "--quiet"])
        .output()
        .expect("worker");
    assert_clean_error(&out, &["stage `lr_find` did not finish within 0.5s"]);
}
