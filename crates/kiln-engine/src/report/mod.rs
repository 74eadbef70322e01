//! `kiln report RUN -o FILE` (and `kiln show RUN --html FILE`): one self-contained HTML page
//! with the plots people look at, as inline SVG drawn by plotters — no script, no external
//! style sheet or font, so it opens offline and from a mail attachment.
//!
//! - [`data`]: what is drawn: `kiln show`'s JSON plus distributions and intermediate values.
//! - [`study`]: per study: optimisation history, intermediate values, Pareto front, the
//!   trial table; [`params`]: importance ([`ped_anova`]), parallel coordinates, heatmap.
//! - [`stages`]: per stage: learning curves, LR range test, capacity curve, ensemble gain;
//!   [`confusion`] and [`health`] (probe histograms, dead units).
//! - [`html`] and [`chart`]: the page (escaping, contents) and the plotters canvas.
//!
//! A plot is only drawn when the run has data for it; there are no empty frames.

mod chart;
mod confusion;
mod data;
mod health;
mod html;
mod params;
mod parzen;
pub mod ped_anova;
mod scale;
mod stages;
mod study;

pub use data::collect;
pub use html::escape;

use crate::error::{EngineError, Result};
use std::path::Path;

/// The page for a report that [`collect`] (or [`crate::show::collect_from`]) returned.
pub fn render(report: &serde_json::Value) -> String {
    let mut page = html::Page::default();
    let runs: Vec<&String> = report["runs"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    let run_dir = html::text(&report["run_dir"]);
    let title = if runs.is_empty() {
        run_dir.clone()
    } else {
        runs.iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let studies = data::studies(report);
    let stages: usize = report["runs"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, s)| s.as_object().map_or(0, |s| s.len()))
        .sum();
    let meta = format!(
        "run directory {run_dir}; {} stud{}, {stages} finished stage{}",
        studies.len(),
        if studies.len() == 1 { "y" } else { "ies" },
        if stages == 1 { "" } else { "s" },
    );
    for s in &studies {
        study::section(&mut page, s);
    }
    for (run, outputs) in report["runs"].as_object().into_iter().flatten() {
        page.section("run", &format!("run {run}"));
        let health: Vec<serde_json::Value> = report["health"][run]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let outputs = outputs
            .as_object()
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        if outputs.is_empty() {
            page.html("<p>No stage has finished yet.</p>");
        }
        for (stage, o) in outputs {
            stages::section(&mut page, stage, o, &health);
        }
    }
    if studies.is_empty() && runs.is_empty() {
        page.html("<p>Nothing has been recorded in this run yet.</p>");
    }
    page.finish(&title, &meta)
}

/// Collects the run at `run_dir` (studies at `storage` when given), renders it and writes
/// the page to `output` atomically: readers never see half a report, and a failed write
/// leaves an older report in place.
pub fn write(run_dir: &Path, storage: Option<&str>, output: &Path) -> Result<()> {
    let report = collect(run_dir, storage)?;
    write_file(output, &render(&report))
}

/// Writes `text` to `path` through a temporary file in the same folder and a rename.
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    let fail = |message: String| EngineError::File {
        path: path.to_path_buf(),
        message,
    };
    let name = path
        .file_name()
        .ok_or_else(|| fail("not a file name to write the report to".into()))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    if let Err(e) = std::fs::write(&tmp, text) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(format!("cannot write the report: {e}")));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(format!("cannot write the report: {e}"))
    })
}

#[cfg(test)]
mod tests;
