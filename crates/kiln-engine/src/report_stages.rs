//! The HTML report's section for one stage: what `kiln show` prints, plus its plots and
//! tables. Every user string is escaped.

use crate::report::{Series, escape, plot};
use std::fmt::Write as _;

fn points(
    rows: &serde_json::Value,
    x: impl Fn(&serde_json::Value) -> Option<f64>,
    y: &str,
) -> Vec<(f64, f64)> {
    rows.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((x(r)?, r[y].as_f64()?)))
        .collect()
}

fn learning_curves(stage: &str, history: &serde_json::Value) -> String {
    let epoch = |e: &serde_json::Value| Some(e["epoch"].as_f64()? + 1.0);
    let pair = |key: &str, colour, label| Series {
        points: points(history, epoch, key),
        colour,
        line: true,
        label,
    };
    plot(
        &format!("{stage}: loss"),
        "epoch",
        &[
            pair("train_loss", "#1f77b4", "train loss"),
            pair("val_loss", "#d62728", "val loss"),
        ],
    ) + &plot(
        &format!("{stage}: accuracy"),
        "epoch",
        &[
            pair("train_accuracy", "#1f77b4", "train acc"),
            pair("val_accuracy", "#d62728", "val acc"),
        ],
    )
}

fn confusion_table(ea: &serde_json::Value) -> String {
    let mut html = String::from(
        "<table><caption>confusion matrix (rows: true class, columns: predicted)</caption><tr><th></th>",
    );
    let rows = ea["confusion"].as_array().cloned().unwrap_or_default();
    for c in 0..rows.len() {
        let _ = write!(html, "<th>{c}</th>");
    }
    html.push_str("<th>accuracy</th></tr>");
    for (c, row) in rows.iter().enumerate() {
        let _ = write!(html, "<tr><th>{c}</th>");
        for (p, v) in row.as_array().into_iter().flatten().enumerate() {
            let style = if p == c { " class=\"best\"" } else { "" };
            let _ = write!(html, "<td{style}>{}</td>", v.as_u64().unwrap_or(0));
        }
        let _ = write!(
            html,
            "<td>{:.3}</td></tr>",
            ea["per_class_accuracy"][c].as_f64().unwrap_or(0.0)
        );
    }
    html.push_str("</table>");
    html
}

/// One stage's section.
pub fn stage_html(stage: &str, o: &serde_json::Value) -> String {
    let summary = serde_json::from_value::<kiln_core::StageOutput>(o.clone())
        .map(|parsed| crate::show_stages::stage_text(&parsed))
        .unwrap_or_default();
    let mut html = format!("<h3>{}</h3><pre>{}</pre>", escape(stage), escape(&summary));
    let d = &o["details"];
    if d["history"].is_array() {
        html.push_str(&learning_curves(stage, &d["history"]));
    }
    match o["kind"].as_str() {
        Some("lr_find") => {
            // The last steps of a diverging sweep would flatten the curve: losses above
            // twice the first smoothed value are left out of the plot.
            let start = d["curve"][0]["smoothed"].as_f64().unwrap_or(f64::INFINITY);
            let shown: serde_json::Value = d["curve"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["loss"].as_f64().is_some_and(|l| l <= 2.0 * start))
                .cloned()
                .collect();
            let log_lr = |p: &serde_json::Value| Some(p["lr"].as_f64()?.log10());
            html.push_str(&plot(
                &format!(
                    "{stage}: loss against the learning rate (losses over twice the start left out)"
                ),
                "log10 learning rate",
                &[
                    Series {
                        points: points(&shown, log_lr, "loss"),
                        colour: "#aaaaaa",
                        line: false,
                        label: "batch loss",
                    },
                    Series {
                        points: points(&shown, log_lr, "smoothed"),
                        colour: "#1f77b4",
                        line: true,
                        label: "smoothed",
                    },
                ],
            ));
        }
        Some("capacity") => {
            let params = |p: &serde_json::Value| p["num_params"].as_f64();
            let accepted: serde_json::Value = d["curve"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["accepted"] == true)
                .cloned()
                .collect();
            html.push_str(&plot(
                &format!("{stage}: validation accuracy against size"),
                "trainable parameters",
                &[
                    Series {
                        points: points(&d["curve"], params, "val_accuracy"),
                        colour: "#ff7f0e",
                        line: false,
                        label: "tried",
                    },
                    Series {
                        points: points(&accepted, params, "val_accuracy"),
                        colour: "#2ca02c",
                        line: true,
                        label: "taken",
                    },
                ],
            ));
        }
        Some("evaluate") if d["error_analysis"].is_object() => {
            html.push_str(&confusion_table(&d["error_analysis"]));
        }
        _ => {}
    }
    let mut brief = o.clone();
    if let Some(details) = brief.get_mut("details").and_then(|v| v.as_object_mut()) {
        details.remove("history");
        details.remove("curve");
    }
    let _ = write!(
        html,
        "<details><summary>output</summary><pre>{}</pre></details>",
        escape(&serde_json::to_string_pretty(&brief).unwrap_or_default())
    );
    html
}

#[cfg(test)]
mod tests {
    #[test]
    fn stage_sections_plot_and_escape() {
        let lr = serde_json::json!({
            "kind": "lr_find",
            "lr": { "suggested": 1e-3, "low": 1e-4, "high": 1e-2 },
            "details": { "curve": [
                { "lr": 1e-5, "loss": 2.3, "smoothed": 2.3 },
                { "lr": 1e-3, "loss": 1.0, "smoothed": 1.5 }
            ], "stopped": "<b>" }
        });
        let html = super::stage_html("lr<find>", &lr);
        assert!(html.contains("<svg") && html.contains("polyline"), "{html}");
        assert!(
            !html.contains("<b>") && !html.contains("lr<find>"),
            "{html}"
        );
        let eval = serde_json::json!({
            "kind": "evaluate",
            "metrics": { "accuracy": 0.5 },
            "details": { "error_analysis": {
                "confusion": [[1, 1], [0, 2]], "per_class_accuracy": [0.5, 1.0],
                "per_class_count": [2, 2], "most_confident_mistakes": []
            } }
        });
        let html = super::stage_html("evaluate", &eval);
        assert!(html.contains("<td class=\"best\">2</td>"), "{html}");
    }
}
