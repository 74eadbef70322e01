//! The page on made-up reports: every plot appears when its data is there and only then,
//! and every user string is escaped.

use serde_json::{Value, json};

const EVIL: &str = "<script>alert(1)</script>";

fn trial(n: u64, state: &str, value: Option<f64>, act: &str, lr: f64) -> Value {
    json!({
        "number": n, "state": state, "value": value, "values": value.map(|v| vec![v]),
        "params": {"act": act, "optimizer.lr": lr, "width": 16 + 16 * (n % 3)},
        "distributions": {
            "act": {"type": "categorical", "choices": ["relu", EVIL]},
            "optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": true, "step": null},
            "width": {"type": "int", "low": 16, "high": 48, "log": false, "step": 16}
        },
        "intermediate": [[0, value.unwrap_or(0.3) - 0.1], [1, value.unwrap_or(0.3)]],
        "reason": if state == "PRUNED" { Some(EVIL) } else { None },
    })
}

/// A run with everything: a study, and lr_find, capacity, train, ensemble and evaluate
/// stages with probes.
fn full() -> Value {
    let trials: Vec<Value> = (0..10)
        .map(|n| {
            let lr = 10f64.powf(-4.0 + 0.3 * n as f64);
            let act = if n % 2 == 0 { "relu" } else { EVIL };
            if n == 4 {
                return trial(n, "PRUNED", None, act, lr);
            }
            trial(
                n,
                "COMPLETE",
                Some(0.5 + 0.04 * n as f64 - 0.01 * (n % 2) as f64),
                act,
                lr,
            )
        })
        .collect();
    let history: Vec<Value> = (0..3)
        .map(|e| json!({"epoch": e, "train_loss": 1.0 / (e + 1) as f64, "val_loss": 1.2 / (e + 1) as f64,
                        "train_accuracy": 0.5 + 0.1 * e as f64, "val_accuracy": 0.45 + 0.1 * e as f64}))
        .collect();
    let layer = |name: &str| {
        json!({"layer": name, "units": 8, "dead_fraction": 0.25, "mean": 0.0, "std": 1.0,
                                    "histogram": {"low": -2.0, "high": 2.0, "counts": [1, 4, 9, 4, 1]}})
    };
    json!({
        "run_dir": format!("/runs/{EVIL}"),
        "studies": [{"name": format!("study {EVIL}"), "directions": ["maximize"], "best_trial": 9, "trials": trials}],
        "runs": {EVIL: {
            "lr_find": {"kind": "lr_find", "lr": {"suggested": 1e-3, "low": 1e-4, "high": 1e-2},
                        "details": {"curve": [{"lr": 1e-5, "loss": 2.3, "smoothed": 2.3}, {"lr": 1e-3, "loss": 1.2, "smoothed": 1.5},
                                              {"lr": 1e-1, "loss": 9.0, "smoothed": 8.0}]}},
            "capacity": {"kind": "capacity", "details": {"curve": [
                {"params": {}, "num_params": 1000, "val_accuracy": 0.8, "accepted": true},
                {"params": {}, "num_params": 50000, "val_accuracy": 0.85, "accepted": false}]}},
            EVIL: {"kind": "train", "metrics": {"best_epoch": 2.0}, "details": {"history": history}},
            "ensemble": {"kind": "ensemble", "metrics": {"val_accuracy": 0.93}, "details": {"candidates": [
                {"model": EVIL, "val_accuracy": 0.9, "weight": 1.0}, {"model": "b", "val_accuracy": 0.91, "weight": 0.0}]}},
            "evaluate": {"kind": "evaluate", "metrics": {"accuracy": 0.9}, "details": {"error_analysis": {
                "confusion": [[5, 1], [0, 6]], "per_class_accuracy": [0.83, 1.0], "classes": [EVIL, "b"]}}}
        }},
        "health": {EVIL: [{"stage": EVIL, "trial": null, "epoch": 2, "health": {"layers": [layer(EVIL), layer("dense0")]}}]}
    })
}

fn ids(html: &str) -> Vec<&str> {
    html.match_indices("<svg id=\"")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            &rest[..rest.find('"').unwrap_or(0)]
        })
        .collect()
}

#[test]
fn every_plot_appears_with_its_data_and_user_text_is_escaped() {
    let html = super::render(&full());
    let found = ids(&html);
    for id in [
        "plot-history",
        "plot-intermediate",
        "plot-importance",
        "plot-parallel",
        "plot-heatmap",
        "plot-lr-find",
        "plot-capacity",
        "plot-loss",
        "plot-accuracy",
        "plot-ensemble",
        "plot-confusion",
        "plot-probe-histograms",
        "plot-probe-dead",
    ] {
        assert!(found.contains(&id), "{id} missing from {found:?}");
    }
    assert!(!html.to_lowercase().contains("<script"), "unescaped script");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Self-contained: nothing fetched, no script.
    for bad in [
        "http://",
        "https://",
        "src=",
        "<link",
        "@import",
        "javascript:",
    ] {
        let outside = html.replace("http://www.w3.org/2000/svg", "");
        assert!(!outside.contains(bad), "{bad} in the page");
    }
    assert!(
        html.contains("<nav>") && html.contains("href=\"#study\""),
        "no contents"
    );
}

#[test]
fn plots_without_data_are_left_out() {
    let report = json!({
        "run_dir": "/r",
        "studies": [{"name": "s", "directions": ["minimize"], "trials": [
            {"number": 0, "state": "COMPLETE", "values": [1.0], "params": {}}]}],
        "runs": {"r": {"evaluate": {"kind": "evaluate", "metrics": {}, "details": {}}}},
        "health": {"r": []}
    });
    let html = super::render(&report);
    assert_eq!(ids(&html), ["plot-history"], "{html}");
    let empty = super::render(&json!({"run_dir": "/r", "studies": [], "runs": {}}));
    assert!(!empty.contains("<svg") && empty.contains("Nothing has been recorded"));
}

#[test]
fn multi_objective_studies_get_a_pareto_front() {
    let trials: Vec<Value> = (0..6)
        .map(|n| json!({"number": n, "state": "COMPLETE", "values": [0.5 + 0.05 * n as f64, 100.0 * (n % 3) as f64],
                        "params": {"w": n}}))
        .collect();
    let report = json!({"run_dir": "/r", "runs": {},
        "studies": [{"name": "mo", "directions": ["maximize", "minimize"], "trials": trials}]});
    let html = super::render(&report);
    assert!(ids(&html).contains(&"plot-pareto"), "{:?}", ids(&html));
}

#[test]
fn the_report_file_is_replaced_whole() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("r.html");
    super::write_file(&path, "one").expect("write");
    super::write_file(&path, "two").expect("rewrite");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "two");
    let leftovers = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(leftovers, 1, "temporary file left behind");
    let err = super::write_file(&dir.path().join("no/such/dir/r.html"), "x").expect_err("fails");
    assert!(err.to_string().contains("no/such/dir/r.html"), "{err}");
}
