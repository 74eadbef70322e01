//! Network health from the probes (`trainer.probes = true`): the pre-activation histogram
//! of every layer, and the share of dead units per layer, at the last probed epoch of each
//! of a stage's runs and trials (the rows `kiln show` collects).

use super::chart::{Axis, CYCLE, FONT, dot_key, legend, line_key, xy};
use super::html::Page;
use super::scale::short;
use plotters::prelude::*;
use serde_json::Value;

/// Runs or trials drawn in the dead-unit plot at most (the legend must stay readable).
const MAX_ROWS: usize = 8;

/// Whether a health row belongs to `stage`: its own runs are `stage`, `stage (run 2)`, ….
fn of_stage(row: &Value, stage: &str) -> bool {
    row["stage"]
        .as_str()
        .is_some_and(|s| s == stage || s.strip_prefix(stage).is_some_and(|r| r.starts_with(" (")))
}

/// Who a row is: the stage run, or the trial.
fn who(row: &Value) -> String {
    let stage = row["stage"].as_str().unwrap_or("?");
    match row["trial"].as_u64() {
        Some(t) => format!("trial #{t}"),
        None => stage.to_string(),
    }
}

/// The health plots of `stage`, when probes recorded any; `best` is a tune stage's best
/// trial, whose histograms are the ones shown.
pub(super) fn plots(page: &mut Page, stage: &str, rows: &[Value], best: Option<u64>) {
    let mine: Vec<&Value> = rows.iter().filter(|r| of_stage(r, stage)).collect();
    // The histograms of the best trial, else of the stage's final run (its own rather than
    // a trial's when it has one).
    let shown = mine
        .iter()
        .find(|r| best.is_some() && r["trial"].as_u64() == best)
        .or_else(|| mine.iter().rev().find(|r| r["trial"].is_null()))
        .or(mine.last());
    if let Some(last) = shown {
        histograms(page, last);
    }
    if !mine.is_empty() {
        dead(page, &mine);
    }
}

/// One line per layer: the share of its pre-activations in each histogram bin.
fn histograms(page: &mut Page, row: &Value) {
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for l in row["health"]["layers"].as_array().into_iter().flatten() {
        let h = &l["histogram"];
        let (Some(lo), Some(hi)) = (h["low"].as_f64(), h["high"].as_f64()) else {
            continue;
        };
        let counts: Vec<f64> = h["counts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect();
        let total: f64 = counts.iter().sum();
        // NaN bounds fail `hi >= lo` too.
        if counts.is_empty() || total <= 0.0 || hi.partial_cmp(&lo).is_none_or(|o| o.is_lt()) {
            continue;
        }
        let width = (hi - lo) / counts.len() as f64;
        let pts = counts
            .iter()
            .enumerate()
            .map(|(i, c)| (lo + (i as f64 + 0.5) * width, c / total))
            .collect();
        lines.push((l["layer"].as_str().unwrap_or("?").to_string(), pts));
    }
    let all = || lines.iter().flat_map(|l| l.1.iter().copied());
    let (Some(x), Some(y)) = (
        Axis::over("pre-activation", all().map(|p| p.0), false),
        Axis::over("share of values", all().map(|p| p.1).chain([0.0]), false),
    ) else {
        return;
    };
    let epoch = row["epoch"].as_u64().map_or(0, |e| e + 1);
    page.figure(
        "probe-histograms",
        &format!("Pre-activation histograms ({}, epoch {epoch})", who(row)),
        "The distribution of each layer's pre-activations on the probe batch at the last probed epoch; a layer piled up below zero has many dead ReLU units.",
        |area| {
            let mut c = xy(area, &x, &y)?;
            for (i, (name, pts)) in lines.iter().enumerate() {
                let colour = CYCLE[i % CYCLE.len()];
                c.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
                    .label(short(name, 20))
                    .legend(line_key(colour));
            }
            legend(&mut c, true)
        },
    );
}

/// Dead-unit share per layer, one series per run or trial.
fn dead(page: &mut Page, rows: &[&Value]) {
    let mut layers: Vec<String> = Vec::new();
    let mut series: Vec<(String, Vec<(usize, f64)>)> = Vec::new();
    for r in rows.iter().take(MAX_ROWS) {
        let mut pts = Vec::new();
        for l in r["health"]["layers"].as_array().into_iter().flatten() {
            let (Some(name), Some(f)) = (l["layer"].as_str(), l["dead_fraction"].as_f64()) else {
                continue;
            };
            let i = match layers.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    layers.push(name.to_string());
                    layers.len() - 1
                }
            };
            pts.push((i, f));
        }
        if !pts.is_empty() {
            series.push((who(r), pts));
        }
    }
    if series.is_empty() {
        return;
    }
    let n = layers.len();
    let more = rows.len().saturating_sub(MAX_ROWS);
    let caption = format!(
        "Share of each layer's units that never fired on the probe batch (pre-activation ≤ 0 throughout), per run or trial at its last probed epoch{}.",
        if more > 0 {
            format!("; {more} more not drawn")
        } else {
            String::new()
        }
    );
    page.figure("probe-dead", "Dead units per layer", &caption, |area| {
        let mut c = ChartBuilder::on(area)
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(62)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..1.05)?;
        let label = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                layers
                    .get(i as usize)
                    .map(|s| short(s, 12))
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(2))
            .x_label_formatter(&label)
            .x_desc("layer")
            .y_desc("dead fraction")
            .label_style((FONT, 13))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        // Side-by-side bars, one slot per series within each layer.
        let slot = 0.8 / series.len() as f64;
        for (k, (name, pts)) in series.iter().enumerate() {
            let colour = CYCLE[k % CYCLE.len()];
            let left = -0.4 + k as f64 * slot;
            c.draw_series(pts.iter().map(|(i, f)| {
                let x = *i as f64 + left;
                Rectangle::new([(x, 0.0), (x + slot * 0.9, f.max(0.004))], colour.filled())
            }))?
            .label(short(name, 20))
            .legend(dot_key(colour));
        }
        legend(&mut c, true)
    });
}
