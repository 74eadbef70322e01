use super::*;
use kiln_core::{Direction, Distribution, ParamValue, Params, TrialState};
use std::collections::BTreeMap;

fn space() -> BTreeMap<String, Distribution> {
    let mut d = BTreeMap::new();
    d.insert(
        "optimizer.lr".to_string(),
        Distribution::Float {
            low: 1e-4,
            high: 1e-1,
            log: true,
            step: None,
        },
    );
    d.insert(
        "model.layers".to_string(),
        Distribution::Int {
            low: 1,
            high: 4,
            log: false,
            step: 1,
        },
    );
    d.insert(
        "model.activation".to_string(),
        Distribution::Categorical {
            choices: vec![
                ParamValue::Str("relu".into()),
                ParamValue::Str("gelu".into()),
            ],
        },
    );
    d
}

/// The databases every storage test runs on: a SQLite file, and a fresh schema on the
/// PostgreSQL server that `KILN_TEST_POSTGRES` names (`scripts/pg-local.sh` starts one).
/// Without that variable the PostgreSQL half is skipped, unless `KILN_REQUIRE_POSTGRES` is
/// set (as CI sets it), when the test fails instead.
fn backends(tag: &str) -> Vec<(tempfile::TempDir, String)> {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("kiln.db").to_string_lossy().into_owned();
    let mut out = vec![(dir, file)];
    match std::env::var("KILN_TEST_POSTGRES") {
        Ok(url) => {
            let schema = format!("unit_{tag}_{}", std::process::id());
            let url = super::scratch_schema(&url, &schema).expect("a scratch schema");
            out.push((tempfile::tempdir().expect("tmp"), url));
        }
        Err(_) if std::env::var_os("KILN_REQUIRE_POSTGRES").is_some() => {
            panic!("KILN_REQUIRE_POSTGRES is set but KILN_TEST_POSTGRES names no server")
        }
        Err(_) => {}
    }
    out
}

fn params(lr: f64, layers: i64, act: &str) -> Params {
    let mut p = Params::new();
    p.insert("optimizer.lr".into(), ParamValue::Float(lr));
    p.insert("model.layers".into(), ParamValue::Int(layers));
    p.insert("model.activation".into(), ParamValue::Str(act.into()));
    p
}

#[test]
fn trials_round_trip_through_sqlite_and_postgres() {
    for (_dir, db) in backends("round_trip") {
        round_trip(&db);
    }
}

fn round_trip(db: &str) {
    let s = Storage::open_location(db).expect("open");
    let study = s
        .create_or_load_study("demo.tune", &[Direction::Maximize])
        .expect("study");
    let (a, n0) = s
        .create_trial(
            study,
            TrialState::Running,
            &params(0.01, 2, "gelu"),
            &space(),
        )
        .expect("a");
    let (b, n1) = s
        .create_trial(
            study,
            TrialState::Running,
            &params(0.001, 3, "relu"),
            &space(),
        )
        .expect("b");
    let (c, n2) = s
        .create_trial(
            study,
            TrialState::Running,
            &params(0.05, 1, "relu"),
            &space(),
        )
        .expect("c");
    assert_eq!((n0, n1, n2), (0, 1, 2));
    s.report(a, 0, 0.5).expect("report");
    s.report(a, 1, 0.75).expect("report");
    s.report(b, 0, f64::NAN).expect("nan report");
    s.set_trial_attr(
        a,
        "checkpoint",
        &serde_json::json!("checkpoints/a.safetensors"),
        true,
    )
    .expect("attr");
    s.finish_trial(a, TrialState::Complete, Some(&[0.75]), None)
        .expect("finish");
    s.finish_trial(
        b,
        TrialState::Pruned,
        Some(&[f64::NEG_INFINITY]),
        Some("worse than median"),
    )
    .expect("prune");
    s.finish_trial(c, TrialState::Fail, None, Some("diverged"))
        .expect("fail");
    drop(s);

    let s = Storage::open_location(db).expect("reopen");
    let again = s
        .create_or_load_study("demo.tune", &[Direction::Maximize])
        .expect("same study");
    assert_eq!(again, study);
    assert!(
        s.create_or_load_study("demo.tune", &[Direction::Minimize])
            .is_err(),
        "directions must match"
    );
    let trials = s.trials(study).expect("trials");
    assert_eq!(trials.len(), 3);
    assert_eq!(trials[0].params, params(0.01, 2, "gelu"));
    assert_eq!(trials[0].values, Some(vec![0.75]));
    assert_eq!(trials[0].intermediate.get(&1), Some(&0.75));
    assert_eq!(
        trials[0].attrs["checkpoint"],
        serde_json::json!("checkpoints/a.safetensors")
    );
    assert_eq!(trials[1].state, TrialState::Pruned);
    assert_eq!(trials[1].values, Some(vec![f64::NEG_INFINITY]));
    assert!(trials[1].intermediate[&0].is_nan());
    assert_eq!(trials[2].reason.as_deref(), Some("diverged"));
    assert_eq!(trials[2].state, TrialState::Fail);
    let (d, _) = s
        .create_trial(
            study,
            TrialState::Running,
            &params(0.02, 1, "relu"),
            &space(),
        )
        .expect("d");
    assert!(
        s.finish_trial(d, TrialState::Complete, Some(&[f64::NAN]), None)
            .is_err(),
        "NaN values are refused"
    );
    assert!(
        !s.finish_trial(a, TrialState::Fail, None, Some("again"))
            .expect("finish"),
        "a finished trial is left as it is"
    );
}

#[test]
fn stale_trials_are_failed_and_re_enqueued_once_and_live_or_unbeaten_ones_kept() {
    for (_dir, db) in backends("stale") {
        stale(&db);
    }
}

fn stale(db: &str) {
    let s = Storage::open_location(db).expect("open");
    let study = s
        .create_or_load_study("x", &[Direction::Minimize])
        .expect("study");
    let p = params(0.02, 1, "relu");
    let (beating, _) = s
        .create_trial(study, TrialState::Running, &p, &space())
        .expect("trial");
    // Asked from outside: it never beats, so it never goes stale.
    s.create_trial(
        study,
        TrialState::Running,
        &params(0.03, 2, "gelu"),
        &space(),
    )
    .expect("trial");
    s.heartbeat(beating).expect("beat");
    let long = std::time::Duration::from_secs(3600);
    assert_eq!(
        s.recover_stale(study, long).expect("recover"),
        0,
        "a fresh beat"
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    let short = std::time::Duration::from_millis(5);
    assert_eq!(s.stale_trials(study, short).expect("stale"), vec![0]);
    assert_eq!(s.recover_stale(study, short).expect("recover"), 1);
    assert_eq!(
        s.recover_stale(study, short).expect("again"),
        0,
        "recovered once"
    );
    let trials = s.trials(study).expect("trials");
    assert_eq!(trials.len(), 3);
    assert_eq!(trials[0].state, TrialState::Fail);
    assert_eq!(
        trials[1].state,
        TrialState::Running,
        "the unbeaten trial stays"
    );
    assert_eq!(trials[0].reason.as_deref(), Some(super::STALE_REASON));
    let trials: Vec<_> = trials.into_iter().filter(|t| t.number != 1).collect();
    assert_eq!(trials[1].state, TrialState::Waiting);
    assert_eq!(trials[1].params, p);
    let claimed = s
        .claim_waiting(study)
        .expect("claim")
        .expect("a waiting trial");
    assert_eq!((s.trial_id(study, 2).expect("id"), 2), claimed);
    assert!(s.claim_waiting(study).expect("claim").is_none());
}

#[test]
fn a_foreign_database_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("other.db");
    std::fs::write(&db, b"this is not sqlite at all, just text").expect("write");
    let err = Storage::open(&db).expect_err("not a database").to_string();
    assert!(err.contains("other.db"), "{err}");
}

#[test]
fn cached_predictions_round_trip_and_a_new_fingerprint_is_a_miss() {
    for (_dir, db) in backends("predictions") {
        predictions(&db);
    }
}

fn predictions(db: &str) {
    let s = Storage::open_location(db).expect("open");
    let p = kiln_core::Predictions::new(2, vec![0.25, 0.75, 0.5, 0.5]).expect("p");
    assert_eq!(
        s.prediction("r", "ck/a", "valid", "f1").expect("read"),
        None
    );
    s.set_prediction("r", "ck/a", "valid", "f1", &p)
        .expect("write");
    assert_eq!(
        s.prediction("r", "ck/a", "valid", "f1").expect("read"),
        Some(p.clone())
    );
    assert_eq!(s.prediction("r", "ck/a", "test", "f1").expect("read"), None);
    assert_eq!(
        s.prediction("r", "ck/a", "valid", "f2").expect("read"),
        None,
        "rows computed from other contents are not trusted"
    );
    let q = kiln_core::Predictions::new(2, vec![1.0, 0.0, 0.0, 1.0]).expect("q");
    s.set_prediction("r", "ck/a", "valid", "f2", &q)
        .expect("replace");
    assert_eq!(
        s.prediction("r", "ck/a", "valid", "f2").expect("read"),
        Some(q)
    );
}

#[test]
fn stage_outputs_and_health_round_trip() {
    for (_dir, db) in backends("stages") {
        let s = Storage::open_location(&db).expect("open");
        s.set_stage_output("r", "tune", &serde_json::json!({"best": 1}), "h1")
            .expect("write");
        s.set_stage_output("r", "train", &serde_json::json!([1, 2]), "h2")
            .expect("write");
        let stored = s.stage_output("r", "tune").expect("read").expect("a row");
        assert_eq!(stored.output, serde_json::json!({"best": 1}));
        assert_eq!(stored.config_hash.as_deref(), Some("h1"));
        let names: Vec<String> = s
            .stage_outputs("r")
            .expect("all")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["tune", "train"], "{db}");
        assert_eq!(s.runs().expect("runs"), ["r"]);
        let row = HealthRow {
            stage: "train".into(),
            trial: Some(3),
            epoch: 2,
            health: serde_json::json!({"dead": 0.1}),
        };
        s.record_health("r", &row).expect("health");
        assert_eq!(s.health("r").expect("health"), vec![row]);
        let study = s
            .create_or_load_study("st", &[Direction::Minimize, Direction::Maximize])
            .expect("study");
        s.set_study_attr(study, "kiln:state", &serde_json::json!({"k": [1.5]}))
            .expect("attr");
        assert_eq!(
            s.study_attr(study, "kiln:state").expect("attr"),
            Some(serde_json::json!({"k": [1.5]}))
        );
        assert_eq!(
            s.directions(study).expect("dirs"),
            [Direction::Minimize, Direction::Maximize]
        );
        assert_eq!(s.studies().expect("studies"), [(study, "st".to_string())]);
    }
}

#[test]
fn an_unreachable_server_is_an_error_naming_it_without_its_password() {
    let err = Storage::open_location("postgresql://kiln:hunter2@127.0.0.1:1/kiln")
        .expect_err("nothing listens on port 1")
        .to_string();
    assert!(
        err.contains("postgresql://kiln:***@127.0.0.1:1/kiln"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_trial_view_refreshes_to_what_a_full_read_sees_and_a_finished_trial_never_changes() {
    for (_dir, db) in backends("view") {
        let s = Storage::open_location(&db).expect("open");
        let study = s
            .create_or_load_study("view.tune", &[Direction::Maximize])
            .expect("study");
        let mut view = super::TrialView::new(study);
        let mut ids = Vec::new();
        // Trials are created, report, finish and go stale in an interleaved order; after
        // every step the view must equal a whole read of the study.
        for step in 0..12u32 {
            let (id, _) = s
                .create_trial(
                    study,
                    TrialState::Running,
                    &params(0.001 * f64::from(step + 1), 2, "relu"),
                    &space(),
                )
                .expect("create");
            s.heartbeat(id).expect("beat");
            ids.push(id);
            s.report(id, 0, f64::from(step)).expect("report");
            if step % 3 == 1 {
                // Finish an older one, out of order.
                let older = ids[step as usize / 2];
                s.finish_trial(older, TrialState::Complete, Some(&[f64::from(step)]), None)
                    .expect("finish");
            }
            if step == 7 {
                s.recover_stale(study, std::time::Duration::ZERO)
                    .expect("recover");
            }
            let seen = s.refresh(&mut view).expect("refresh").to_vec();
            assert_eq!(seen, s.trials(study).expect("trials"), "step {step}");
        }
        // A trial failed as stale stays failed when its worker reports back late.
        let stale = s
            .trials(study)
            .expect("trials")
            .into_iter()
            .find(|t| t.attrs.contains_key("system:kiln:interrupted"))
            .expect("a stale trial");
        let id = s.trial_id(study, stale.number).expect("id");
        let mut late = serde_json::Map::new();
        late.insert("val_accuracy".into(), serde_json::json!(0.9));
        let kept = s
            .finish_trial_with_attrs(id, TrialState::Complete, Some(&[0.9]), None, &late)
            .expect("finish");
        assert!(!kept, "a failed trial was finished again");
        assert_eq!(
            s.trial(study, stale.number).expect("read"),
            Some(stale),
            "it did not change"
        );
    }
}
