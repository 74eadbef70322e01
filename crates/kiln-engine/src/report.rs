//! `kiln show RUN --html FILE`: a self-contained HTML report with SVG plots — each study's
//! optimisation history, then per stage its learning curves, the LR range test's sweep, the
//! capacity curve, the confusion matrix — and the trial tables.
//! Every string that came from the user (names, parameters, reasons) is escaped.

use std::fmt::Write as _;

/// HTML-escapes text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const W: f64 = 560.0;
const H: f64 = 260.0;
const PAD: f64 = 40.0;

/// One plotted series: points, colour, whether to join them, legend.
pub(crate) struct Series<'a> {
    pub(crate) points: Vec<(f64, f64)>,
    pub(crate) colour: &'a str,
    pub(crate) line: bool,
    pub(crate) label: &'a str,
}

/// An axis bound, short: integers as such, others to four significant digits.
fn short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}").trim_end_matches('0').to_string()
    }
}

pub(crate) fn plot(title: &str, x_label: &str, series: &[Series<'_>]) -> String {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<figure><figcaption>{}</figcaption><svg width="{W}" height="{H}" viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(title)
    );
    if all.is_empty() {
        svg.push_str("<text x=\"50\" y=\"120\">no data</text></svg></figure>");
        return svg;
    }
    let (x0, x1) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let (y0, y1) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    let (x1, y1) = (
        if x1 > x0 { x1 } else { x0 + 1.0 },
        if y1 > y0 { y1 } else { y0 + 1.0 },
    );
    let sx = |x: f64| PAD + (x - x0) / (x1 - x0) * (W - 2.0 * PAD);
    let sy = |y: f64| H - PAD - (y - y0) / (y1 - y0) * (H - 2.0 * PAD);
    let _ = write!(
        svg,
        r##"<rect x="{PAD}" y="{PAD}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        W - 2.0 * PAD,
        H - 2.0 * PAD
    );
    let _ = write!(
        svg,
        r#"<text x="{PAD}" y="{}" font-size="11">{y0:.4}</text><text x="{PAD}" y="{}" font-size="11">{y1:.4}</text>"#,
        H - PAD + 14.0,
        PAD - 4.0
    );
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" font-size="11" text-anchor="end">{} {}…{}</text>"#,
        W - PAD,
        H - PAD + 14.0,
        escape(x_label),
        short(x0),
        short(x1)
    );
    for (i, s) in series.iter().enumerate() {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if s.line && pts.len() > 1 {
            let path: Vec<String> = pts
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                s.colour,
                path.join(" ")
            );
        }
        for (x, y) in &pts {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                sx(*x),
                sy(*y),
                s.colour
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" font-size="11" fill="{}">{}</text>"#,
            PAD + 8.0 + 130.0 * i as f64,
            PAD + 14.0,
            s.colour,
            escape(s.label)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "–".into(),
        serde_json::Value::Number(n) if n.is_f64() => {
            format!("{:.4}", n.as_f64().unwrap_or(f64::NAN))
        }
        other => other.to_string(),
    }
}

/// The report for what [`crate::show::collect`] returns.
pub fn render(report: &serde_json::Value) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>kiln report</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}figure{display:inline-block;margin:1em}.best{background:#efe}</style></head><body>",
    );
    let _ = write!(
        html,
        "<h1>kiln run {}</h1>",
        escape(&text(&report["run_dir"]))
    );
    for s in report["studies"].as_array().into_iter().flatten() {
        let _ = write!(html, "<h2>study {}</h2>", escape(&text(&s["name"])));
        let maximise = s["directions"][0] == "maximize";
        let trials = s["trials"].as_array().cloned().unwrap_or_default();
        let mut best = if maximise {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
        let (mut complete, mut pruned, mut best_line) = (Vec::new(), Vec::new(), Vec::new());
        for t in &trials {
            let (Some(n), Some(v)) = (t["number"].as_f64(), t["value"].as_f64()) else {
                continue;
            };
            match t["state"].as_str() {
                Some("COMPLETE") => {
                    complete.push((n, v));
                    best = if maximise { best.max(v) } else { best.min(v) };
                    best_line.push((n, best));
                }
                Some("PRUNED") => pruned.push((n, v)),
                _ => {}
            }
        }
        html.push_str(&plot(
            "optimisation history (first objective)",
            "trial",
            &[
                Series {
                    points: complete,
                    colour: "#1f77b4",
                    line: false,
                    label: "complete",
                },
                Series {
                    points: pruned,
                    colour: "#ff7f0e",
                    line: false,
                    label: "pruned",
                },
                Series {
                    points: best_line,
                    colour: "#2ca02c",
                    line: true,
                    label: "best so far",
                },
            ],
        ));
        html.push_str(
            "<table><tr><th>#</th><th>state</th><th>values</th><th>params</th><th>reason</th></tr>",
        );
        for t in &trials {
            let class = if t["number"] == s["best_trial"] {
                " class=\"best\""
            } else {
                ""
            };
            let params: Vec<String> = t["params"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{}={}", escape(k), escape(&text(v))))
                .collect();
            let _ = write!(
                html,
                "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&text(&t["number"])),
                escape(&text(&t["state"])),
                escape(&text(&t["values"])),
                params.join(" "),
                escape(&text(&t["reason"]))
            );
        }
        html.push_str("</table>");
    }
    for (run, stages) in report["runs"].as_object().into_iter().flatten() {
        let _ = write!(html, "<h2>run {}</h2>", escape(run));
        for (stage, o) in stages.as_object().into_iter().flatten() {
            html.push_str(&crate::report_stages::stage_html(stage, o));
        }
    }
    html.push_str("</body></html>");
    html
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_strings_are_escaped() {
        let report = serde_json::json!({
            "run_dir": "<script>alert(1)</script>",
            "studies": [{"name": "a<b", "directions": ["maximize"], "best_trial": 0, "trials": [
                {"number": 0, "state": "COMPLETE", "value": 0.5, "values": [0.5], "params": {"x\"": "<img>"}, "reason": null}
            ]}],
            "runs": {},
        });
        let html = super::render(&report);
        assert!(
            !html.contains("<script>") && !html.contains("<img>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;") && html.contains("a&lt;b"));
        assert!(html.contains("<svg"));
    }
}
