//! The plots of a study's parameters: importance (PED-ANOVA), parallel coordinates, and a
//! heatmap of the objective over the two most important parameters.

use super::chart::{self, Area, Drawn, FONT, HPos, VPos, anchored, colour_bar, viridis};
use super::data::{Study, Trial};
use super::html::Page;
use super::ped_anova::{Observation, importances};
use super::scale::{Scale, short};
use kiln_core::Direction;
use plotters::prelude::*;

/// Cells per numeric parameter in the heatmap.
const BINS: usize = 8;

/// Importance, parallel coordinates and the heatmap, each when the study has the data.
pub(super) fn plots(page: &mut Page, study: &Study) {
    let complete: Vec<&Trial> = study.complete().collect();
    if complete.len() < 2 {
        return;
    }
    let sign = if study.direction() == Direction::Maximize {
        -1.0
    } else {
        1.0
    };
    let observed: Vec<Observation<'_>> = complete
        .iter()
        .filter(|t| !t.distributions.is_empty())
        .filter_map(|t| {
            Some(Observation {
                params: &t.params,
                distributions: &t.distributions,
                loss: sign * t.value()?,
            })
        })
        .collect();
    let ranked = importances(&observed);
    // Without distributions (a report from older JSON) the parameters keep name order.
    let order: Vec<String> = if ranked.is_empty() {
        let mut names: Vec<String> = complete
            .iter()
            .flat_map(|t| t.params.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    } else {
        ranked.iter().map(|(n, _)| n.clone()).collect()
    };
    let scales: Vec<(String, Scale)> = order
        .iter()
        .filter_map(|n| Some((n.clone(), Scale::of(n, &complete)?)))
        .collect();
    if ranked.len() > 1 {
        importance_plot(page, &ranked);
    }
    if !scales.is_empty() {
        parallel(page, study, &complete, &scales);
    }
    // The heatmap needs two parameters that vary among the complete trials.
    let varied: Vec<&(String, Scale)> = scales
        .iter()
        .filter(|(n, s)| {
            let mut cells: Vec<usize> = complete
                .iter()
                .filter_map(|t| s.cell(t.params.get(n)?, BINS))
                .collect();
            cells.sort_unstable();
            cells.dedup();
            cells.len() > 1
        })
        .collect();
    if let [a, b, ..] = varied.as_slice()
        && complete.len() >= 4
    {
        heatmap(page, study, &complete, a, b);
    }
}

/// How good `v` is in [0, 1] among `lo..hi` (1 = best), for colouring.
fn goodness(v: f64, lo: f64, hi: f64, dir: Direction) -> f64 {
    let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
    if dir == Direction::Maximize {
        t
    } else {
        1.0 - t
    }
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    })
}

fn importance_plot(page: &mut Page, ranked: &[(String, f64)]) {
    page.figure(
        "importance",
        "Parameter importance (PED-ANOVA)",
        "How much more the best 10 % of complete trials concentrate in part of each parameter's range than all trials do (Watanabe et al. 2023, as Optuna's PedAnovaImportanceEvaluator); shares sum to 1.",
        |area| {
            let n = ranked.len();
            let top = ranked.iter().map(|r| r.1).fold(0.0, f64::max).max(1e-9);
            let mut c = ChartBuilder::on(area)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(150)
                .build_cartesian_2d(0.0..top * 1.15, -0.5..n as f64 - 0.5)?;
            c.configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_desc("importance")
                .x_label_formatter(&|v| chart::tick(*v))
                .label_style((FONT, 14))
                .light_line_style(RGBColor(240, 240, 240))
                .draw()?;
            for (i, (name, v)) in ranked.iter().enumerate() {
                // Most important at the top.
                let y = (n - 1 - i) as f64;
                c.draw_series(std::iter::once(Rectangle::new([(0.0, y - 0.35), (*v, y + 0.35)], chart::BLUE_.filled())))?;
                let right = anchored(14, HPos::Right, VPos::Center);
                c.draw_series(std::iter::once(Text::new(format!("{} ", short(name, 22)), (0.0, y), right)))?;
                let left = anchored(13, HPos::Left, VPos::Center);
                c.draw_series(std::iter::once(Text::new(format!(" {v:.3}"), (*v, y), left)))?;
            }
            Ok(())
        },
    );
}

/// One vertical axis per parameter (most important first) and the objective last.
fn parallel(page: &mut Page, study: &Study, complete: &[&Trial], scales: &[(String, Scale)]) {
    let dir = study.direction();
    let (lo, hi) = range(complete.iter().filter_map(|t| t.value()));
    let axes = scales.len() + 1;
    page.figure(
        "parallel",
        "Parallel coordinates",
        "One line per complete trial through its parameter values (log parameters on log axes, categories as evenly spaced levels) to its objective; colour by objective, yellow best.",
        |area| {
            let (plot, bar) = area.split_horizontally(chart::W - 80);
            let mut c = ChartBuilder::on(&plot)
                .margin_top(16)
                .margin_bottom(16)
                .margin_left(48)
                .margin_right(24)
                .build_cartesian_2d(-0.05..(axes - 1) as f64 + 0.05, -0.02..1.1)?;
            let mut lines: Vec<(f64, Vec<(f64, f64)>)> = complete
                .iter()
                .filter_map(|t| {
                    let v = t.value()?;
                    let mut pts: Vec<(f64, f64)> = scales
                        .iter()
                        .enumerate()
                        .filter_map(|(i, (n, s))| Some((i as f64, s.unit(t.params.get(n)?)?)))
                        .collect();
                    let g = goodness(v, lo, hi, dir);
                    pts.push(((axes - 1) as f64, if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }));
                    Some((g, pts))
                })
                .collect();
            // The best lines last, on top.
            lines.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (g, pts) in lines {
                c.draw_series(std::iter::once(PathElement::new(pts, viridis(g).stroke_width(2))))?;
            }
            let mut ticks: Vec<(String, Vec<(f64, String)>)> =
                scales.iter().map(|(n, s)| (n.clone(), s.ticks())).collect();
            let obj = Scale::Numeric { lo, hi, log: false };
            ticks.push(("objective".into(), obj.ticks()));
            for (i, (name, marks)) in ticks.iter().enumerate() {
                let x = i as f64;
                c.draw_series(std::iter::once(PathElement::new(vec![(x, 0.0), (x, 1.0)], BLACK.stroke_width(1))))?;
                let head = anchored(13, HPos::Center, VPos::Bottom);
                // Above the top tick label.
                c.draw_series(std::iter::once(Text::new(short(name, 16), (x, 1.1), head)))?;
                for (u, label) in marks {
                    let style = anchored(12, HPos::Right, VPos::Center).color(&RGBColor(80, 80, 80));
                    c.draw_series(std::iter::once(Text::new(format!("{label} "), (x, *u), style)))?;
                }
            }
            let best_lo = if dir == Direction::Maximize { lo } else { hi };
            let best_hi = if dir == Direction::Maximize { hi } else { lo };
            colour_bar(&bar, "objective", best_lo, best_hi)
        },
    );
}

/// Mean objective per cell of the two parameters' grid, trials as dots.
fn heatmap(
    page: &mut Page,
    study: &Study,
    complete: &[&Trial],
    a: &(String, Scale),
    b: &(String, Scale),
) {
    let dir = study.direction();
    let (nx, ny) = (a.1.cells(BINS), b.1.cells(BINS));
    let mut sums = vec![(0.0, 0usize); nx * ny];
    let mut dots = Vec::new();
    for t in complete {
        let (Some(va), Some(vb), Some(v)) = (t.params.get(&a.0), t.params.get(&b.0), t.value())
        else {
            continue;
        };
        if let (Some(i), Some(j)) = (a.1.cell(va, BINS), b.1.cell(vb, BINS)) {
            sums[j * nx + i].0 += v;
            sums[j * nx + i].1 += 1;
        }
        if let (Some(x), Some(y)) = (a.1.unit(va), b.1.unit(vb)) {
            dots.push((x, y));
        }
    }
    let means: Vec<Option<f64>> = sums
        .iter()
        .map(|(s, n)| (*n > 0).then(|| s / *n as f64))
        .collect();
    let (lo, hi) = range(means.iter().flatten().copied());
    let logs = |s: &Scale| if s.is_log() { " (log)" } else { "" };
    let (xa, ya) = (
        format!("{}{}", a.0, logs(&a.1)),
        format!("{}{}", b.0, logs(&b.1)),
    );
    page.figure(
        "heatmap",
        &format!("Objective over {} and {}", a.0, b.0),
        "The two most important parameters on a grid (log axes for log parameters): each cell the mean objective of the complete trials in it, yellow best; blank cells had none; dots are trials.",
        |area| {
            let (plot, bar) = area.split_horizontally(chart::W - 80);
            let mut c = grid_chart(&plot, &xa, &ya)?;
            for j in 0..ny {
                for i in 0..nx {
                    let Some(m) = means[j * nx + i] else { continue };
                    let ((x0, x1), (y0, y1)) = (a.1.cell_span(i, nx), b.1.cell_span(j, ny));
                    let colour = viridis(goodness(m, lo, hi, dir));
                    c.draw_series(std::iter::once(Rectangle::new([(x0, y0), (x1, y1)], colour.filled())))?;
                }
            }
            c.draw_series(dots.iter().map(|p| Circle::new(*p, 3, BLACK.mix(0.7).filled())))?;
            axis_ticks(&mut c, &a.1, &b.1)?;
            let (best_lo, best_hi) = if dir == Direction::Maximize { (lo, hi) } else { (hi, lo) };
            colour_bar(&bar, "mean objective", best_lo, best_hi)
        },
    );
}

type UnitChart<'a, 'b> = chart::Chart<'a, 'b>;

/// A chart over [0, 1]² with axis titles and no tick labels of its own (the scales' ticks
/// are drawn by [`axis_ticks`], so log axes get decades and categories their names).
fn grid_chart<'a, 'b>(
    area: &'a Area<'b>,
    x: &str,
    y: &str,
) -> Result<UnitChart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut c = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.02..1.02, -0.02..1.02)?;
    c.configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .x_desc(x)
        .y_desc(y)
        .axis_desc_style((FONT, 15))
        .draw()?;
    Ok(c)
}

fn axis_ticks(c: &mut UnitChart<'_, '_>, x: &Scale, y: &Scale) -> Drawn {
    for (u, label) in x.ticks() {
        let style = anchored(12, HPos::Center, VPos::Top);
        c.draw_series(std::iter::once(Text::new(label, (u, -0.02), style)))?;
    }
    for (u, label) in y.ticks() {
        let style = anchored(12, HPos::Right, VPos::Center);
        c.draw_series(std::iter::once(Text::new(
            format!("{label} "),
            (-0.02, u),
            style,
        )))?;
    }
    Ok(())
}
