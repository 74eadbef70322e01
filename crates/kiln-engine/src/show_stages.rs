//! `kiln show`'s text for stage outputs and network health.

use kiln_core::StageOutput;
use std::fmt::Write as _;

fn f4(v: Option<&f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

fn count(v: Option<&f64>) -> u64 {
    v.map_or(0, |v| *v as u64)
}

/// One stage's result, as a few lines (the first without indentation).
pub fn stage_text(o: &StageOutput) -> String {
    let m = &o.metrics;
    let d = &o.details;
    let mut s = match o.kind.as_str() {
        "tune" => format!(
            "{} trials ({} complete, {} pruned, {} failed); best trial #{} {} = {}",
            count(m.get("trials")),
            count(m.get("complete")),
            count(m.get("pruned")),
            count(m.get("failed")),
            d["best"]["number"],
            d["objective"].as_str().unwrap_or("value"),
            f4(d["best"]["value"].as_f64().as_ref())
        ),
        "train" => format!(
            "{}{} epoch(s) run, best epoch {}: val accuracy {}{}{}; checkpoint {}{}",
            m.get("runs")
                .map(|r| format!("{r} runs; the best: "))
                .unwrap_or_default(),
            count(m.get("epochs_run")),
            count(m.get("best_epoch")) + 1,
            f4(m.get("val_accuracy")),
            // With weight averaging the history scores the raw weights too.
            d["history"]
                .get(count(m.get("best_epoch")) as usize)
                .and_then(|e| e["raw_val_accuracy"].as_f64())
                .map(|raw| format!(" (averaged weights; the raw ones {raw:.4})"))
                .unwrap_or_default(),
            d["stopped"]["reason"]
                .as_str()
                .map(|r| format!(" (stopped: {r})"))
                .unwrap_or_default(),
            o.model
                .as_ref()
                .map_or("-".into(), |m| m.checkpoint.display().to_string()),
            if o.members.is_empty() {
                String::new()
            } else {
                format!("; {} members handed on", o.members.len())
            }
        ),
        "evaluate" => format!(
            "{} {} accuracy {} on {} images{}",
            d["from"].as_str().unwrap_or("?"),
            d["split"].as_str().unwrap_or("test"),
            f4(m.get("accuracy")),
            count(m.get("images")),
            match (
                m.get("best_member_accuracy"),
                m.get("gain_over_best_member")
            ) {
                (Some(b), Some(g)) => format!("; best member {b:.4}, ensemble gain {g:+.4}"),
                _ => String::new(),
            }
        ),
        "ensemble" => format!(
            "{} members, val accuracy {} ({} over the best candidate's {}){}",
            o.members.len(),
            f4(m.get("val_accuracy")),
            match (m.get("val_accuracy"), m.get("best_member_val_accuracy")) {
                (Some(a), Some(b)) => format!("{:+.4}", a - b),
                _ => "-".into(),
            },
            f4(m.get("best_member_val_accuracy")),
            if o.weights.is_empty() {
                String::new()
            } else {
                let total: f64 = o.weights.iter().sum();
                format!(
                    "; weights {}",
                    o.weights
                        .iter()
                        .map(|w| format!("{:.2}", w / total))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
        "pseudo_label" => format!(
            "val accuracy {} → {} ({} round(s) kept){}",
            f4(m.get("baseline_val_accuracy")),
            f4(m.get("val_accuracy")),
            count(m.get("rounds_kept")),
            match (m.get("baseline_test_accuracy"), m.get("test_accuracy")) {
                (Some(b), Some(t)) => format!("; test accuracy {b:.4} → {t:.4}"),
                _ => String::new(),
            }
        ),
        "lr_find" => match &o.lr {
            Some(lr) => format!(
                "suggested learning rate {:.2e}, range [{:.2e}, {:.2e}] ({} steps{})",
                lr.suggested,
                lr.low,
                lr.high,
                d["curve"].as_array().map_or(0, Vec::len),
                d["stopped"]
                    .as_str()
                    .map(|r| format!(", stopped: {r}"))
                    .unwrap_or_default()
            ),
            None => "no suggestion".into(),
        },
        "capacity" => format!(
            "best size {} ({} params, val accuracy {}); {}",
            o.params
                .as_ref()
                .map(|p| serde_json::to_string(p).unwrap_or_default())
                .unwrap_or_default(),
            count(m.get("num_params")),
            f4(m.get("val_accuracy")),
            d["stopped"].as_str().unwrap_or("")
        ),
        "batch_size" => format!(
            "batch size {} ({:.1} µs/sample); {}",
            count(m.get("batch_size")),
            m.get("seconds_per_sample").copied().unwrap_or(0.0) * 1e6,
            d["stopped"].as_str().unwrap_or("")
        ),
        _ => serde_json::to_string(&o.metrics).unwrap_or_default(),
    };
    if !o.locks.is_empty() {
        let _ = write!(
            s,
            "\n      locks for later stages: {}",
            serde_json::to_string(&o.locks).unwrap_or_default()
        );
    }
    if o.kind == "capacity" {
        for p in d["curve"].as_array().into_iter().flatten() {
            let _ = write!(
                s,
                "\n      {} {:<40} {:>9} params  val acc {:.4}",
                if p["accepted"] == true { "*" } else { " " },
                p["params"].to_string(),
                p["num_params"],
                p["val_accuracy"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    if o.kind == "evaluate" {
        let ea = &d["error_analysis"];
        let acc: Vec<String> = ea["per_class_accuracy"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(c, a)| format!("{c}: {:.3}", a.as_f64().unwrap_or(0.0)))
            .collect();
        if !acc.is_empty() {
            let _ = write!(s, "\n      per-class accuracy  {}", acc.join("  "));
            let _ = write!(
                s,
                "\n      confusion (rows: true class, columns: predicted)"
            );
            for (c, row) in ea["confusion"].as_array().into_iter().flatten().enumerate() {
                let cells: Vec<String> = row
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| format!("{:>5}", v.as_u64().unwrap_or(0)))
                    .collect();
                let _ = write!(s, "\n      {c:>3} {}", cells.join(""));
            }
            let worst: Vec<String> = ea["most_confident_mistakes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|w| {
                    format!(
                        "#{} ({}→{}, {:.2})",
                        w["index"],
                        w["label"],
                        w["predicted"],
                        w["confidence"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect();
            if !worst.is_empty() {
                let _ = write!(s, "\n      most confident mistakes: {}", worst.join(", "));
            }
        }
    }
    s
}

/// Per-layer health at the last probed epoch of each stage run and trial.
pub fn health_text(rows: &[serde_json::Value]) -> String {
    let mut s = String::new();
    for r in rows {
        let who = match r["trial"].as_u64() {
            Some(t) => format!("{} trial #{t}", r["stage"].as_str().unwrap_or("?")),
            None => r["stage"].as_str().unwrap_or("?").to_string(),
        };
        let h = &r["health"];
        if r["trial"].is_u64() {
            // Trials get one line each: the worst layer and the largest update.
            let worst = |list: &serde_json::Value, key: &str| {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l[key].as_f64())
                    .fold(0.0, f64::max)
            };
            let _ = writeln!(
                s,
                "  {who}, epoch {}: dead units up to {:.1}%, update/weight ratio up to {:.1e}, train-val gap {:.4}",
                r["epoch"].as_u64().map_or(0, |e| e + 1),
                worst(&h["layers"], "dead_fraction") * 100.0,
                worst(&h["updates"], "ratio"),
                h["train_val_gap"].as_f64().unwrap_or(f64::NAN)
            );
            continue;
        }
        let _ = writeln!(
            s,
            "  {who}, epoch {}: train-val accuracy gap {:.4}",
            r["epoch"].as_u64().map_or(0, |e| e + 1),
            h["train_val_gap"].as_f64().unwrap_or(f64::NAN)
        );
        let _ = writeln!(
            s,
            "    {:<10} {:>6} {:>7} {:>9} {:>9}",
            "layer", "units", "dead", "mean", "std"
        );
        for l in h["layers"].as_array().into_iter().flatten() {
            let _ = writeln!(
                s,
                "    {:<10} {:>6} {:>6.1}% {:>9.4} {:>9.4}",
                l["layer"].as_str().unwrap_or("?"),
                l["units"].as_u64().unwrap_or(0),
                l["dead_fraction"].as_f64().unwrap_or(0.0) * 100.0,
                l["mean"].as_f64().unwrap_or(f64::NAN),
                l["std"].as_f64().unwrap_or(f64::NAN)
            );
        }
        let ups: Vec<String> = h["updates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["param"].as_str().is_some_and(|p| p.ends_with("weight")))
            .map(|u| {
                format!(
                    "{} {:.1e}",
                    u["param"].as_str().unwrap_or("?"),
                    u["ratio"].as_f64().unwrap_or(0.0)
                )
            })
            .collect();
        if !ups.is_empty() {
            let _ = writeln!(
                s,
                "    update/weight ratio of the weights: {}",
                ups.join(", ")
            );
        }
    }
    s
}
