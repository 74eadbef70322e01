//! A study's section: optimisation history, the trials' learning curves, the Pareto front,
//! the parameter plots ([`super::params`]) and the trial table.

use super::chart::{Axis, BLUE_, GREEN_, GREY, ORANGE, RED_, dot_key, legend, line_key, xy};
use super::data::{Study, Trial};
use super::html::{Page, escape, num};
use kiln_core::{Direction, TrialState};
use plotters::prelude::*;
use std::fmt::Write as _;

/// Everything the report shows for one study.
pub(super) fn section(page: &mut Page, study: &Study) {
    page.section("study", &format!("study {}", study.name));
    let count = |s: TrialState| study.trials.iter().filter(|t| t.state == s).count();
    page.html(&format!(
        "<p>{} trials: {} complete, {} pruned, {} failed; {}.</p>",
        study.trials.len(),
        count(TrialState::Complete),
        count(TrialState::Pruned),
        count(TrialState::Fail),
        objective_words(study)
    ));
    history(page, study);
    intermediate(page, study);
    super::params::plots(page, study);
    pareto(page, study);
    table(page, study);
}

fn objective_words(study: &Study) -> String {
    let words: Vec<&str> = study
        .directions
        .iter()
        .map(|d| match d {
            Direction::Maximize => "maximised",
            Direction::Minimize => "minimised",
        })
        .collect();
    match words.len() {
        0 | 1 => format!("the objective is {}", words.first().unwrap_or(&"minimised")),
        n => format!("{n} objectives ({})", words.join(", ")),
    }
}

/// The value a trial is drawn at: its objective, or a pruned trial's last report.
fn shown_value(t: &Trial) -> Option<f64> {
    match t.state {
        TrialState::Complete => t.value(),
        TrialState::Pruned => t.last_intermediate(),
        _ => None,
    }
}

/// Objective per trial number, the best so far, pruned and failed trials apart.
fn history(page: &mut Page, study: &Study) {
    let shown: Vec<(f64, f64, TrialState)> = study
        .trials
        .iter()
        .filter_map(|t| Some((t.number as f64, shown_value(t)?, t.state)))
        .collect();
    let failed: Vec<f64> = study
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Fail)
        .map(|t| t.number as f64)
        .collect();
    let Some(y) = Axis::over("objective", shown.iter().map(|p| p.1), false) else {
        return;
    };
    let Some(x) = Axis::over("trial", study.trials.iter().map(|t| t.number as f64), false) else {
        return;
    };
    let x = x.integers();
    // Pruned before reporting anything (a diverged trial): drawn on the bottom edge.
    let silent: Vec<f64> = study
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned && t.last_intermediate().is_none())
        .map(|t| t.number as f64)
        .collect();
    let dir = study.direction();
    let mut best: Option<f64> = None;
    let mut best_line = Vec::new();
    for (n, v, state) in &shown {
        if *state == TrialState::Complete && best.is_none_or(|b| dir.better(*v, b)) {
            best = Some(*v);
        }
        if let Some(b) = best {
            best_line.push((*n, b));
        }
    }
    let multi = if study.directions.len() > 1 {
        " (first objective)"
    } else {
        ""
    };
    page.figure(
        "history",
        &format!("Optimisation history{multi}"),
        "Each trial's objective by trial number, the best so far as a line; pruned trials (triangles) at their last reported value, or on the bottom edge when they reported none; failed ones as crosses there.",
        |area| {
            let mut c = xy(area, &x, &y)?;
            c.draw_series(LineSeries::new(best_line, GREEN_.stroke_width(2)))?
                .label("best so far")
                .legend(line_key(GREEN_));
            let pts = |s: TrialState| shown.iter().filter(move |p| p.2 == s).map(|p| (p.0, p.1));
            c.draw_series(pts(TrialState::Complete).map(|p| Circle::new(p, 4, BLUE_.filled())))?
                .label("complete")
                .legend(dot_key(BLUE_));
            let bottom = y.bottom();
            if shown.iter().any(|p| p.2 == TrialState::Pruned) || !silent.is_empty() {
                let edge = silent.iter().map(|n| (*n, bottom));
                c.draw_series(pts(TrialState::Pruned).chain(edge).map(|p| TriangleMarker::new(p, 5, ORANGE.filled())))?
                    .label("pruned")
                    .legend(|(px, py)| TriangleMarker::new((px + 9, py), 5, ORANGE.filled()));
            }
            if !failed.is_empty() {
                c.draw_series(failed.iter().map(|n| Cross::new((*n, bottom), 5, RED_.stroke_width(2))))?
                    .label("failed")
                    .legend(|(px, py)| Cross::new((px + 9, py), 5, RED_.stroke_width(2)));
            }
            legend(&mut c, dir == Direction::Minimize)
        },
    );
}

/// One line per trial over its reported epochs; pruned trials dashed, ending in a cross.
fn intermediate(page: &mut Page, study: &Study) {
    let reported: Vec<&Trial> = study
        .trials
        .iter()
        .filter(|t| !t.intermediate.is_empty())
        .collect();
    let steps = reported
        .iter()
        .flat_map(|t| t.intermediate.iter().map(|(s, _)| *s as f64 + 1.0));
    let Some(x) = Axis::over("epoch", steps, false) else {
        return;
    };
    let x = x.integers();
    let values = reported
        .iter()
        .flat_map(|t| t.intermediate.iter().map(|(_, v)| *v));
    let Some(y) = Axis::over("intermediate value", values, false) else {
        return;
    };
    page.figure(
        "intermediate",
        "Intermediate values",
        "The value each trial reported after every epoch (what the pruner judged): complete trials solid, pruned ones dashed and ending in a cross, the best trial in green.",
        |area| {
            let mut c = xy(area, &x, &y)?;
            let (mut keyed_complete, mut keyed_pruned) = (false, false);
            for t in &reported {
                let pts: Vec<(f64, f64)> = t
                    .intermediate
                    .iter()
                    .map(|(s, v)| (*s as f64 + 1.0, *v))
                    .filter(|p| p.1.is_finite())
                    .collect();
                let best = study.best_trial == Some(t.number);
                if t.state == TrialState::Pruned {
                    let s = c.draw_series(DashedLineSeries::new(pts.clone(), 4, 3, ORANGE.stroke_width(1)))?;
                    if !keyed_pruned {
                        s.label("pruned").legend(line_key(ORANGE));
                        keyed_pruned = true;
                    }
                    if let Some(last) = pts.last() {
                        c.draw_series(std::iter::once(Cross::new(*last, 4, ORANGE.stroke_width(2))))?;
                    }
                    continue;
                }
                let colour = if best { GREEN_ } else if t.state == TrialState::Complete { BLUE_ } else { GREY };
                let width = if best { 3 } else { 1 };
                let s = c.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(width)))?;
                if best {
                    s.label(format!("best (#{})", t.number)).legend(line_key(GREEN_));
                } else if !keyed_complete && t.state == TrialState::Complete {
                    s.label("complete").legend(line_key(BLUE_));
                    keyed_complete = true;
                }
                if pts.len() == 1 {
                    c.draw_series(pts.iter().map(|p| Circle::new(*p, 3, colour.filled())))?;
                }
            }
            legend(&mut c, study.direction() == Direction::Minimize)
        },
    );
}

/// The first two objectives of complete trials, the Pareto front joined and highlighted.
fn pareto(page: &mut Page, study: &Study) {
    if study.directions.len() < 2 {
        return;
    }
    let pts: Vec<(u64, f64, f64)> = study
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| {
            let v = t.values.as_ref()?;
            let (a, b) = (*v.first()?, *v.get(1)?);
            (a.is_finite() && b.is_finite()).then_some((t.number, a, b))
        })
        .collect();
    let (d0, d1) = (study.directions[0], study.directions[1]);
    // The front in these two objectives: no other point at least as good in both and
    // better in one.
    let dominated = |p: &(u64, f64, f64)| {
        pts.iter().any(|q| {
            !d0.better(p.1, q.1)
                && !d1.better(p.2, q.2)
                && (d0.better(q.1, p.1) || d1.better(q.2, p.2))
        })
    };
    let mut front: Vec<(f64, f64)> = pts
        .iter()
        .filter(|p| !dominated(p))
        .map(|p| (p.1, p.2))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    let word = |d: Direction| {
        if d == Direction::Maximize {
            "max"
        } else {
            "min"
        }
    };
    let (Some(x), Some(y)) = (
        Axis::over(
            &format!("objective 1 ({})", word(d0)),
            pts.iter().map(|p| p.1),
            false,
        ),
        Axis::over(
            &format!("objective 2 ({})", word(d1)),
            pts.iter().map(|p| p.2),
            false,
        ),
    ) else {
        return;
    };
    page.figure(
        "pareto",
        "Pareto front",
        "Complete trials by their first two objectives; the trials no other trial beats in both are red and joined.",
        |area| {
            let mut c = xy(area, &x, &y)?;
            c.draw_series(pts.iter().map(|p| Circle::new((p.1, p.2), 4, BLUE_.mix(0.6).filled())))?
                .label("trial")
                .legend(dot_key(BLUE_));
            c.draw_series(LineSeries::new(front.clone(), RED_.stroke_width(1)))?;
            c.draw_series(front.iter().map(|p| Circle::new(*p, 5, RED_.filled())))?
                .label("Pareto front")
                .legend(dot_key(RED_));
            legend(&mut c, true)
        },
    );
}

/// Every trial: number, state, values, epochs reported, parameters, reason.
fn table(page: &mut Page, study: &Study) {
    let mut names: Vec<&String> = study.trials.iter().flat_map(|t| t.params.keys()).collect();
    names.sort();
    names.dedup();
    let mut html =
        String::from("<table><tr><th>#</th><th>state</th><th>value(s)</th><th>epochs</th>");
    for n in &names {
        let _ = write!(html, "<th>{}</th>", escape(n));
    }
    html.push_str("<th>reason</th></tr>");
    for t in &study.trials {
        let class = if study.best_trial == Some(t.number) {
            " class=\"best\""
        } else {
            ""
        };
        let values = t
            .values
            .as_ref()
            .map(|v| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", "))
            .unwrap_or_else(|| "–".into());
        let _ = write!(
            html,
            "<tr{class}><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            t.number,
            t.state.as_str(),
            escape(&values),
            t.intermediate.len()
        );
        for n in &names {
            let cell = match t.params.get(*n) {
                Some(kiln_core::ParamValue::Float(f)) => num(*f),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            let _ = write!(html, "<td>{}</td>", escape(&cell));
        }
        let _ = write!(
            html,
            "<td>{}</td></tr>",
            escape(t.reason.as_deref().unwrap_or(""))
        );
    }
    html.push_str("</table>");
    page.html(&format!(
        "<details open><summary>trials</summary>{html}</details>"
    ));
}

#[cfg(test)]
mod tests {
    use super::super::data;

    #[test]
    fn failed_only_studies_get_no_empty_history() {
        let report = serde_json::json!({"studies": [{"name": "s", "directions": ["minimize"], "trials": [
            {"number": 0, "state": "FAIL", "values": null, "params": {}, "reason": "<oom>"}
        ]}]});
        let studies = data::studies(&report);
        let mut page = super::Page::default();
        super::section(&mut page, &studies[0]);
        let html = page.finish("t", "m");
        assert!(!html.contains("<svg"), "{html}");
        assert!(html.contains("&lt;oom&gt;"), "{html}");
    }
}
