//! A stage's section: what `kiln show` prints for it, then the plots its output has data
//! for: learning curves, the LR range test, the capacity curve, the confusion matrix, the
//! ensemble's gain, network health ([`super::health`]).

use super::chart::{self, Axis, BLUE_, GREEN_, GREY, ORANGE, RED_, dot_key, legend, line_key, xy};
use super::html::{Page, escape};
use plotters::prelude::*;
use serde_json::Value;

/// The section of stage `stage` of a run; `health` holds the run's health rows.
pub(super) fn section(page: &mut Page, stage: &str, o: &Value, health: &[Value]) {
    let kind = o["kind"].as_str().unwrap_or("?");
    page.subsection("stage", &format!("stage {stage} ({kind})"));
    let summary = serde_json::from_value::<kiln_core::StageOutput>(o.clone())
        .map(|parsed| crate::show_stages::stage_text(&parsed))
        .unwrap_or_default();
    if !summary.is_empty() {
        page.html(&format!("<pre>{}</pre>", escape(&summary)));
    }
    let d = &o["details"];
    curves(
        page,
        stage,
        &d["history"],
        o["metrics"]["best_epoch"].as_f64(),
    );
    match kind {
        "lr_find" => lr_find(page, o),
        "capacity" => capacity(page, d),
        "evaluate" => {
            super::confusion::plot(page, &d["error_analysis"]);
            let members = floats(&d["member_accuracy"]);
            let named: Vec<(String, f64, bool)> = members
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("member {}", i + 1), *a, true))
                .collect();
            gain(
                page,
                "test accuracy",
                &named,
                o["metrics"]["accuracy"].as_f64(),
            );
        }
        "ensemble" => {
            let named: Vec<(String, f64, bool)> = d["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let used = c["weight"].as_f64().is_none_or(|w| w > 0.0);
                    Some((
                        c["model"].as_str().unwrap_or("?").to_string(),
                        c["val_accuracy"].as_f64()?,
                        used,
                    ))
                })
                .collect();
            gain(
                page,
                "validation accuracy",
                &named,
                o["metrics"]["val_accuracy"].as_f64(),
            );
        }
        _ => {}
    }
    super::health::plots(page, stage, health, d["best"]["number"].as_u64());
    let mut brief = o.clone();
    if let Some(details) = brief.get_mut("details").and_then(Value::as_object_mut) {
        details.remove("history");
        details.remove("curve");
    }
    page.html(&format!(
        "<details><summary>stage output</summary><pre>{}</pre></details>",
        escape(&serde_json::to_string_pretty(&brief).unwrap_or_default())
    ));
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .collect()
}

/// `(x, y)` of the rows of `rows` that have both, finite.
fn series(rows: &Value, x: impl Fn(&Value) -> Option<f64>, y: &str) -> Vec<(f64, f64)> {
    rows.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((x(r)?, r[y].as_f64()?)))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// A labelled series: its points, its legend, its colour.
type Line<'a> = (Vec<(f64, f64)>, &'a str, RGBColor);

/// Loss and accuracy per epoch of a stage that trained (its best run's history).
fn curves(page: &mut Page, stage: &str, history: &Value, best_epoch: Option<f64>) {
    let epoch = |e: &Value| Some(e["epoch"].as_f64()? + 1.0);
    let pairs = [
        (
            "loss",
            [
                ("train_loss", "train loss", BLUE_),
                ("val_loss", "validation loss", RED_),
            ],
        ),
        (
            "accuracy",
            [
                ("train_accuracy", "train accuracy", BLUE_),
                ("val_accuracy", "validation accuracy", RED_),
            ],
        ),
    ];
    for (what, keys) in pairs {
        let lines: Vec<Line<'_>> = keys
            .iter()
            .map(|(k, label, c)| (series(history, epoch, k), *label, *c))
            .collect();
        let all = || lines.iter().flat_map(|l| l.0.iter().copied());
        let (Some(x), Some(y)) = (
            Axis::over("epoch", all().map(|p| p.0), false),
            Axis::over(what, all().map(|p| p.1), false),
        ) else {
            continue;
        };
        let x = x.integers();
        let best = best_epoch.map(|b| b + 1.0);
        page.figure(
            what,
            &format!("{stage}: {what} per epoch"),
            &format!("Training and validation {what} after each epoch of the stage's (best) run; the dashed line marks the epoch it kept."),
            |area| {
                let mut c = xy(area, &x, &y)?;
                for (pts, label, colour) in &lines {
                    c.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?.label(*label).legend(line_key(*colour));
                    c.draw_series(pts.iter().map(|p| Circle::new(*p, 3, colour.filled())))?;
                }
                if let Some(b) = best {
                    let r = y.range();
                    c.draw_series(DashedLineSeries::new(vec![(b, r.start), (b, r.end)], 5, 4, GREY.stroke_width(1)))?;
                }
                legend(&mut c, what == "loss")
            },
        );
    }
}

/// Loss against the learning rate (log axis), the suggested rate and range marked.
fn lr_find(page: &mut Page, o: &Value) {
    let curve = &o["details"]["curve"];
    let lr = |p: &Value| p["lr"].as_f64().filter(|v| *v > 0.0);
    let raw = series(curve, lr, "loss");
    let smooth = series(curve, lr, "smoothed");
    // A diverging sweep ends in huge losses that would flatten the curve: the y axis stops
    // at twice the first smoothed loss.
    let cap = smooth.first().map_or(f64::INFINITY, |p| 2.0 * p.1);
    let keep = |v: &Vec<(f64, f64)>| v.iter().copied().filter(|p| p.1 <= cap).collect::<Vec<_>>();
    let (raw, smooth) = (keep(&raw), keep(&smooth));
    let suggested = o["lr"]["suggested"].as_f64();
    let span = (o["lr"]["low"].as_f64(), o["lr"]["high"].as_f64());
    let xs = raw.iter().chain(&smooth).map(|p| p.0);
    let (Some(mut x), Some(y)) = (
        Axis::over("learning rate (log)", xs, true),
        Axis::over("loss", raw.iter().chain(&smooth).map(|p| p.1), false),
    ) else {
        return;
    };
    if let Some(s) = suggested {
        x = x.include(s);
    }
    let at = |v: &[(f64, f64)]| v.iter().map(|p| (x.at(p.0), p.1)).collect::<Vec<_>>();
    let (raw, smooth) = (at(&raw), at(&smooth));
    page.figure(
        "lr-find",
        "LR range test",
        "Training loss while the learning rate grows step by step (log axis; grey: per batch, blue: smoothed); the red line is the suggested rate, the green band the range handed on.",
        |area| {
            let mut c = xy(area, &x, &y)?;
            let r = y.range();
            if let (Some(lo), Some(hi)) = span {
                let (a, b) = (x.at(lo), x.at(hi));
                if a.is_finite() && b.is_finite() {
                    c.draw_series(std::iter::once(Rectangle::new([(a, r.start), (b, r.end)], GREEN_.mix(0.12).filled())))?
                        .label("range")
                        .legend(|(px, py)| Rectangle::new([(px, py - 5), (px + 18, py + 5)], GREEN_.mix(0.3).filled()));
                }
            }
            c.draw_series(raw.iter().map(|p| Circle::new(*p, 2, GREY.filled())))?.label("batch loss").legend(dot_key(GREY));
            c.draw_series(LineSeries::new(smooth.clone(), BLUE_.stroke_width(2)))?.label("smoothed").legend(line_key(BLUE_));
            if let Some(s) = suggested.map(|s| x.at(s)).filter(|s| s.is_finite()) {
                c.draw_series(LineSeries::new(vec![(s, r.start), (s, r.end)], RED_.stroke_width(2)))?
                    .label(format!("suggested {}", chart::tick(10f64.powf(s))))
                    .legend(line_key(RED_));
            }
            legend(&mut c, false)
        },
    );
}

/// Validation accuracy against trainable parameters of every size tried.
fn capacity(page: &mut Page, d: &Value) {
    let size = |p: &Value| p["num_params"].as_f64();
    let tried = series(&d["curve"], size, "val_accuracy");
    let accepted: Value = d["curve"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["accepted"] == true)
        .cloned()
        .collect();
    let taken = series(&accepted, size, "val_accuracy");
    let (lo, hi) = tried.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    let log = lo > 0.0 && hi / lo > 20.0;
    let (Some(x), Some(y)) = (
        Axis::over(
            if log {
                "trainable parameters (log)"
            } else {
                "trainable parameters"
            },
            tried.iter().map(|p| p.0),
            log,
        ),
        Axis::over("validation accuracy", tried.iter().map(|p| p.1), false),
    ) else {
        return;
    };
    let at = |v: &[(f64, f64)]| v.iter().map(|p| (x.at(p.0), p.1)).collect::<Vec<_>>();
    let (tried, taken) = (at(&tried), at(&taken));
    page.figure(
        "capacity",
        "Capacity curve",
        "Validation accuracy of every model size the stage tried (orange) against its trainable parameters; the green path joins the steps it accepted.",
        |area| {
            let mut c = xy(area, &x, &y)?;
            c.draw_series(tried.iter().map(|p| Circle::new(*p, 5, ORANGE.filled())))?.label("tried").legend(dot_key(ORANGE));
            c.draw_series(LineSeries::new(taken.clone(), GREEN_.stroke_width(2)))?.label("accepted").legend(line_key(GREEN_));
            c.draw_series(taken.iter().map(|p| Circle::new(*p, 4, GREEN_.filled())))?;
            legend(&mut c, false)
        },
    );
}

/// Each member's accuracy as a bar, the ensemble's as a green one, the best member dashed.
fn gain(page: &mut Page, what: &str, members: &[(String, f64, bool)], ensemble: Option<f64>) {
    let Some(ens) = ensemble.filter(|v| v.is_finite()) else {
        return;
    };
    if members.len() < 2 {
        return;
    }
    let best = members
        .iter()
        .map(|m| m.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let lo = members.iter().map(|m| m.1).fold(ens, f64::min);
    let pad = ((best.max(ens) - lo) * 0.5).max(0.01);
    let y = Axis::fixed(what, (lo - pad).max(0.0), (best.max(ens) + pad).min(1.0));
    let n = members.len() + 1;
    page.figure(
        "ensemble",
        "Ensemble gain",
        &format!("The {what} of each member (grey: given no weight) and of the ensemble (green); the dashed line is the best member, so a green bar above it is the gain."),
        |area| {
            let mut c = ChartBuilder::on(area).margin(12).x_label_area_size(60).y_label_area_size(62).build_cartesian_2d(-0.5..n as f64 - 0.5, y.range())?;
            let names: Vec<String> = members.iter().map(|m| m.0.clone()).chain(std::iter::once("ensemble".to_string())).collect();
            let label = |v: &f64| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 { names.get(i as usize).map(|s| super::scale::short(s, 14)).unwrap_or_default() } else { String::new() }
            };
            c.configure_mesh().disable_x_mesh().x_labels(n).x_label_formatter(&label).y_desc(what).y_label_formatter(&|v| chart::tick(*v)).label_style((chart::FONT, 13)).draw()?;
            let bottom = y.bottom();
            for (i, (_, acc, used)) in members.iter().enumerate() {
                let colour = if *used { BLUE_ } else { GREY };
                c.draw_series(std::iter::once(Rectangle::new([(i as f64 - 0.35, bottom), (i as f64 + 0.35, *acc)], colour.filled())))?;
            }
            let e = members.len() as f64;
            c.draw_series(std::iter::once(Rectangle::new([(e - 0.35, bottom), (e + 0.35, ens)], GREEN_.filled())))?;
            c.draw_series(DashedLineSeries::new(vec![(-0.5, best), (e + 0.5, best)], 6, 4, RED_.stroke_width(1)))?;
            Ok(())
        },
    );
}
