//! `kiln show`: a run directory's studies, best trials and stage results.

use crate::error::{EngineError, Result};
use crate::run::db_path;
use crate::storage::Storage;
use kiln_core::{FrozenTrial, StudyView, TrialState};
use std::fmt::Write as _;
use std::path::Path;

/// Everything `kiln show` reports, as JSON.
pub fn collect(run_dir: &Path) -> Result<serde_json::Value> {
    collect_from(run_dir, None)
}

/// [`collect`] for a run whose studies live at `storage` (a `postgresql://` URL or a
/// SQLite file) instead of `RUN_DIR/kiln.db`.
pub fn collect_from(run_dir: &Path, storage: Option<&str>) -> Result<serde_json::Value> {
    let storage = match storage {
        Some(location) => Storage::open_location(location)?,
        None => {
            let db = db_path(run_dir);
            if !db.is_file() {
                return Err(EngineError::File {
                    path: run_dir.to_path_buf(),
                    message: "not a kiln run directory (no kiln.db; for a run kept on a server, add --storage URL)".into(),
                });
            }
            Storage::open(&db)?
        }
    };
    let mut studies = Vec::new();
    for (id, name) in storage.studies()? {
        let directions = storage.directions(id)?;
        let trials = storage.trials(id)?;
        let view = StudyView {
            directions: &directions,
            trials: &trials,
        };
        let count = |s: TrialState| trials.iter().filter(|t| t.state == s).count();
        studies.push(serde_json::json!({
            "name": name,
            "directions": directions,
            "n_trials": trials.len(),
            "complete": count(TrialState::Complete),
            "pruned": count(TrialState::Pruned),
            "failed": count(TrialState::Fail),
            "running": count(TrialState::Running),
            "waiting": count(TrialState::Waiting),
            "best_trial": view.best().map(|b| b.number),
            "best_value": view.best().and_then(FrozenTrial::value),
            "best_params": view.best().map(|b| &b.params),
            "pareto_front": if directions.len() > 1 {
                view.pareto_front().iter().map(|t| serde_json::json!({
                    "number": t.number, "values": t.values, "params": t.params,
                })).collect::<Vec<_>>()
            } else {
                Vec::new()
            },
            "trials": trials.iter().map(|t| serde_json::json!({
                "number": t.number,
                "state": t.state,
                "value": t.value(),
                "values": t.values,
                "params": t.params,
                "epochs": t.intermediate.len(),
                "reason": t.reason,
            })).collect::<Vec<_>>(),
        }));
    }
    let mut runs = serde_json::Map::new();
    let mut health = serde_json::Map::new();
    for run in storage.runs()? {
        let stages: serde_json::Map<String, serde_json::Value> =
            storage.stage_outputs(&run)?.into_iter().collect();
        // The last probed epoch of each stage run and trial.
        let mut last: Vec<crate::storage::HealthRow> = Vec::new();
        for row in storage.health(&run)? {
            match last.last_mut() {
                Some(prev) if prev.stage == row.stage && prev.trial == row.trial => *prev = row,
                _ => last.push(row),
            }
        }
        health.insert(
            run.clone(),
            serde_json::Value::Array(
                last.into_iter()
                    .map(|r| {
                        serde_json::json!({
                            "stage": r.stage, "trial": r.trial, "epoch": r.epoch, "health": r.health,
                        })
                    })
                    .collect(),
            ),
        );
        runs.insert(run, serde_json::Value::Object(stages));
    }
    Ok(
        serde_json::json!({ "run_dir": run_dir, "studies": studies, "runs": runs, "health": health }),
    )
}

fn fmt_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.4}"),
            _ => n.to_string(),
        },
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The same as a human-readable text: one table per study, then stage results.
pub fn render(report: &serde_json::Value) -> String {
    let mut out = String::new();
    for s in report["studies"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "study {}  ({} trials: {} complete, {} pruned, {} failed)",
            fmt_value(&s["name"]),
            s["n_trials"],
            s["complete"],
            s["pruned"],
            s["failed"]
        );
        let _ = writeln!(
            out,
            "  {:>4}  {:<8}  {:>8}  {:>6}  params",
            "#", "state", "value", "epochs"
        );
        let best = s["best_trial"].as_u64();
        for t in s["trials"].as_array().into_iter().flatten() {
            let params: Vec<String> = t["params"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", fmt_value(v)))
                .collect();
            let mark = if t["number"].as_u64() == best {
                "*"
            } else {
                " "
            };
            let _ = writeln!(
                out,
                " {mark}{:>4}  {:<8}  {:>8}  {:>6}  {}{}",
                t["number"],
                fmt_value(&t["state"]),
                match t["values"].as_array() {
                    Some(v) if v.len() > 1 => v.iter().map(fmt_value).collect::<Vec<_>>().join(","),
                    _ => fmt_value(&t["value"]),
                },
                t["epochs"],
                params.join(" "),
                t["reason"]
                    .as_str()
                    .map(|r| format!("  ({r})"))
                    .unwrap_or_default()
            );
        }
        if let Some(b) = best {
            let _ = writeln!(
                out,
                "  best: trial #{b}, value {}",
                fmt_value(&s["best_value"])
            );
        }
        if let Some(front) = s["pareto_front"].as_array().filter(|f| !f.is_empty()) {
            let _ = writeln!(out, "  Pareto front ({}):", fmt_value(&s["directions"]));
            for t in front {
                let values: Vec<String> = t["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(fmt_value)
                    .collect();
                let _ = writeln!(out, "    #{}  {}", t["number"], values.join(", "));
            }
        }
        out.push('\n');
    }
    for (run, stages) in report["runs"].as_object().into_iter().flatten() {
        let _ = writeln!(out, "run {run}");
        for (stage, o) in stages.as_object().into_iter().flatten() {
            let line = match serde_json::from_value::<kiln_core::StageOutput>(o.clone()) {
                Ok(parsed) => crate::show_stages::stage_text(&parsed),
                Err(_) => o.to_string(),
            };
            let _ = writeln!(out, "  {stage:<10} {line}");
        }
        if let Some(rows) = report["health"][run].as_array().filter(|r| !r.is_empty()) {
            let _ = writeln!(out, "network health (last probed epoch)");
            out.push_str(&crate::show_stages::health_text(rows));
        }
    }
    out
}
