//! `kiln ask` / `kiln tell`: an outside program is the objective.

#[path = "support/mod.rs"]
mod support;
use support::*;

fn ask(db: &str, extra: &[&str]) -> std::process::Output {
    kiln()
        .args(["ask", "--storage", db, "--study", "outside"])
        .args(extra)
        .output()
        .expect("kiln ask")
}

fn tell(db: &str, trial: u64, extra: &[&str]) -> std::process::Output {
    kiln()
        .args(["tell", "--storage", db, "--study", "outside", "--trial"])
        .arg(trial.to_string())
        .args(extra)
        .output()
        .expect("kiln tell")
}

const SPACE: &str = r#"{ x = { type = "float", low = -2.0, high = 2.0 }, kind = { type = "categorical", choices = ["a", "b"] } }"#;

#[test]
fn an_outside_objective_drives_a_tpe_study_through_ask_and_tell() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = format!("sqlite:///{}", dir.path().join("study.db").display());
    let first = [
        "--direction",
        "minimize",
        "--search",
        r#"{ kind = "tpe", n_startup_trials = 4 }"#,
        "--space",
        SPACE,
        "--seed",
        "3",
    ];
    let mut xs = Vec::new();
    for i in 0..12u64 {
        let out = ask(
            &db,
            if i == 0 {
                &first
            } else {
                &["--direction", "minimize"]
            },
        );
        assert!(out.status.success(), "ask: {}", stderr(&out));
        let trial: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(trial["number"], i);
        let x = trial["params"]["x"].as_f64().expect("x");
        assert!((-2.0..=2.0).contains(&x));
        xs.push(x);
        let value = (x - 0.5).powi(2);
        let out = tell(&db, i, &["--values", &value.to_string()]);
        assert!(out.status.success(), "tell: {}", stderr(&out));
    }
    // TPE, told every value, closes in on x = 0.5 after its random start.
    let best_late = xs[4..]
        .iter()
        .map(|x| (x - 0.5).abs())
        .fold(f64::INFINITY, f64::min);
    let best_early = xs[..4]
        .iter()
        .map(|x| (x - 0.5).abs())
        .fold(f64::INFINITY, f64::min);
    assert!(best_late < best_early.max(0.2), "{xs:?}");

    // Told twice, an unknown trial, a wrong value count, another search: clear errors.
    let out = ask(&db, &["--direction", "minimize"]);
    let n: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let n = n["number"].as_u64().expect("number");
    let out = tell(&db, n, &["--values", "1,2"]);
    assert_clean_error(&out, &["--values", "1 value(s)"]);
    let out = tell(&db, n, &["--state", "fail"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_clean_error(&tell(&db, n, &["--values", "1"]), &["already"]);
    assert_clean_error(&tell(&db, 99, &["--values", "1"]), &["no trial #99"]);
    let out = ask(
        &db,
        &[
            "--direction",
            "minimize",
            "--search",
            "{ kind = \"random\" }",
            "--space",
            SPACE,
        ],
    );
    assert_clean_error(&out, &["first asked with"]);
    let out = kiln()
        .args([
            "ask",
            "--storage",
            &db,
            "--study",
            "new",
            "--space",
            "{ x = 3 }",
        ])
        .output()
        .expect("ask");
    assert_clean_error(&out, &["--space"]);
}
