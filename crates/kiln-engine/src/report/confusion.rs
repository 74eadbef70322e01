//! The evaluate stage's confusion matrix: true class by row, predicted by column, each
//! cell shaded by its share of the row (so rare classes read as clearly as common ones).

use super::chart::{FONT, HPos, VPos, anchored, viridis};
use super::html::Page;
use plotters::prelude::*;
use serde_json::Value;

/// Above this many classes the counts are not written in the cells (they would not fit).
const MAX_LABELLED: usize = 20;

/// The plot, when `ea` (an evaluate stage's `error_analysis`) has a square matrix.
pub(super) fn plot(page: &mut Page, ea: &Value) {
    let rows: Vec<Vec<u64>> = ea["confusion"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            r.as_array()
                .into_iter()
                .flatten()
                .map(|v| v.as_u64().unwrap_or(0))
                .collect()
        })
        .collect();
    let n = rows.len();
    if n == 0 || rows.iter().any(|r| r.len() != n) {
        return;
    }
    // Class names when the stage recorded them, else the class indices.
    let names: Vec<String> = (0..n)
        .map(|c| {
            ea["classes"][c]
                .as_str()
                .map_or_else(|| c.to_string(), str::to_string)
        })
        .collect();
    page.figure(
        "confusion",
        "Confusion matrix",
        "Test images by true class (rows) and predicted class (columns); the shade is the share of the row, the number the count, so the diagonal is each class's accuracy.",
        |area| {
            let side = super::chart::H as i32;
            let (plot, _) = area.split_horizontally(side + 80);
            let mut c = ChartBuilder::on(&plot)
                .margin(10)
                .x_label_area_size(34)
                .y_label_area_size(56)
                .build_cartesian_2d(0.0..n as f64, 0.0..n as f64)?;
            c.configure_mesh()
                .disable_mesh()
                .x_labels(0)
                .y_labels(0)
                .x_desc("predicted")
                .y_desc("true class")
                .axis_desc_style((FONT, 15))
                .draw()?;
            let size = if n <= 10 { 13 } else { 11 };
            for (t, row) in rows.iter().enumerate() {
                let total = row.iter().sum::<u64>().max(1) as f64;
                // Row 0 at the top, as in a table.
                let y = (n - 1 - t) as f64;
                for (p, count) in row.iter().enumerate() {
                    let share = *count as f64 / total;
                    let x = p as f64;
                    c.draw_series(std::iter::once(Rectangle::new([(x, y), (x + 1.0, y + 1.0)], viridis(share).filled())))?;
                    if n <= MAX_LABELLED && *count > 0 {
                        let ink = if share > 0.6 { BLACK } else { WHITE };
                        let style = anchored(size, HPos::Center, VPos::Center).color(&ink);
                        c.draw_series(std::iter::once(Text::new(count.to_string(), (x + 0.5, y + 0.5), style)))?;
                    }
                }
            }
            if n <= MAX_LABELLED * 2 {
                for (i, name) in names.iter().enumerate() {
                    let label = super::scale::short(name, 8);
                    let top = anchored(12, HPos::Center, VPos::Top);
                    c.draw_series(std::iter::once(Text::new(label.clone(), (i as f64 + 0.5, 0.0), top)))?;
                    let right = anchored(12, HPos::Right, VPos::Center);
                    let y = (n - 1 - i) as f64 + 0.5;
                    c.draw_series(std::iter::once(Text::new(format!("{label} "), (0.0, y), right)))?;
                }
            }
            Ok(())
        },
    );
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn drawn(ea: serde_json::Value) -> String {
        let mut page = super::Page::default();
        super::plot(&mut page, &ea);
        page.finish("t", "m")
    }

    #[test]
    fn a_square_matrix_is_drawn_with_its_counts_and_escaped_names() {
        let html = drawn(json!({"confusion": [[3, 1], [0, 4]], "classes": ["<i>cat</i>", "dog"]}));
        assert!(html.contains("id=\"plot-confusion\""), "{html}");
        assert!(
            html.contains("&lt;i&gt;cat") && !html.contains("<i>"),
            "{html}"
        );
        assert!(
            html.contains(">\n4\n</text>") || html.contains(">4<"),
            "count missing"
        );
    }

    #[test]
    fn a_missing_or_ragged_matrix_draws_nothing() {
        assert!(!drawn(json!({})).contains("<svg"));
        assert!(!drawn(json!({"confusion": [[1, 2], [3]]})).contains("<svg"));
        assert!(!drawn(json!({"confusion": []})).contains("<svg"));
    }
}
