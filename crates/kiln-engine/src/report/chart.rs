//! Drawing with plotters' SVG backend: the canvas, axes (linear or log), colours.
//!
//! Text is passed to plotters as it is: its SVG backend escapes `<`, `>`, `&` and quotes
//! in text and attributes (checked by a test here), so escaping it first would show
//! `&amp;lt;` to the reader. No font backend is compiled in: plotters then estimates text
//! widths with a fixed per-character metric and the browser lays the text out, so nothing
//! reads system fonts at build or run time.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
pub(super) use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;

/// Every plot's size in pixels (it scales down on narrow screens).
pub(super) const W: u32 = 640;
pub(super) const H: u32 = 360;

/// The canvas a plot draws on.
pub(super) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
/// What drawing returns; plotters' errors are boxed, the page shows them as a note.
pub(super) type Drawn = Result<(), Box<dyn std::error::Error>>;
/// A chart in plot coordinates (log axes hold log10 of the data).
pub(super) type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub(super) const BLUE_: RGBColor = RGBColor(31, 119, 180);
pub(super) const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub(super) const GREEN_: RGBColor = RGBColor(44, 160, 44);
pub(super) const RED_: RGBColor = RGBColor(214, 39, 40);
pub(super) const PURPLE: RGBColor = RGBColor(148, 103, 189);
pub(super) const GREY: RGBColor = RGBColor(150, 150, 150);
/// Distinct colours for series without meaning of their own (layers, trials).
pub(super) const CYCLE: [RGBColor; 8] = [
    BLUE_,
    ORANGE,
    GREEN_,
    RED_,
    PURPLE,
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

pub(super) const FONT: &str = "sans-serif";

/// The SVG `draw` makes, with `id` on its root element.
pub(super) fn svg(id: &str, draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    // The ids are kiln's own (`plot-history`, …), never user text.
    Ok(buf.replacen("<svg ", &format!("<svg id=\"{id}\" role=\"img\" "), 1))
}

/// Viridis, from dark purple (t = 0) to yellow (t = 1): readable in grey and by most
/// colour-blind readers.
pub(super) fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// One axis: its title and range, linear or log10.
#[derive(Debug, Clone)]
pub(super) struct Axis {
    pub(super) desc: String,
    lo: f64,
    hi: f64,
    log: bool,
    integer: bool,
}

impl Axis {
    /// An axis over `values` (non-finite ones ignored; on a log axis, non-positive ones
    /// too), padded by 5 %; `None` without a value to show.
    pub(super) fn over(
        desc: &str,
        values: impl IntoIterator<Item = f64>,
        log: bool,
    ) -> Option<Axis> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            let v = if log { v.log10() } else { v };
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if lo > hi {
            return None;
        }
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            lo.abs().max(1.0) * 0.05
        };
        Some(Axis {
            desc: desc.to_string(),
            lo: lo - pad,
            hi: hi + pad,
            log,
            integer: false,
        })
    }

    /// A linear axis over exactly `[lo, hi]` (accuracies: 0 to 1).
    pub(super) fn fixed(desc: &str, lo: f64, hi: f64) -> Axis {
        Axis {
            desc: desc.to_string(),
            lo,
            hi: if hi > lo { hi } else { lo + 1.0 },
            log: false,
            integer: false,
        }
    }

    /// Only whole numbers get tick labels (trial numbers, epochs).
    pub(super) fn integers(mut self) -> Axis {
        self.integer = true;
        self
    }

    /// Widens the axis to hold `v` too.
    pub(super) fn include(mut self, v: f64) -> Axis {
        let p = self.at(v);
        if p.is_finite() {
            self.lo = self.lo.min(p);
            self.hi = self.hi.max(p);
        }
        self
    }

    /// Where the data value `v` goes (NaN where the axis cannot show it).
    pub(super) fn at(&self, v: f64) -> f64 {
        if self.log {
            if v > 0.0 { v.log10() } else { f64::NAN }
        } else {
            v
        }
    }

    /// The plot-coordinate range.
    pub(super) fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }

    /// The bottom of the axis, in plot coordinates.
    pub(super) fn bottom(&self) -> f64 {
        self.lo
    }

    fn label(&self, p: f64) -> String {
        if self.integer {
            return if (p - p.round()).abs() < 1e-9 {
                tick(p.round())
            } else {
                String::new()
            };
        }
        let v = if self.log { 10f64.powf(p) } else { p };
        tick(v)
    }
}

/// A tick label: short, scientific notation outside [0.01, 10⁴).
pub(super) fn tick(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(0.01..1e4).contains(&a) {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// A chart on `area` with `x` and `y` axes, their titles, tick labels and a light grid.
pub(super) fn xy<'a, 'b>(
    area: &'a Area<'b>,
    x: &Axis,
    y: &Axis,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(62)
        .build_cartesian_2d(x.range(), y.range())?;
    let fx = |v: &f64| x.label(*v);
    let fy = |v: &f64| y.label(*v);
    chart
        .configure_mesh()
        .x_desc(x.desc.as_str())
        .y_desc(y.desc.as_str())
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .x_labels(8)
        .y_labels(7)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;
    Ok(chart)
}

/// A text style of `size` anchored at (`h`, `v`) of the text.
pub(super) fn anchored(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(Pos::new(h, v))
}

/// The legend of the labelled series, in a corner that `upper` picks.
pub(super) fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, upper: bool) -> Drawn {
    chart
        .configure_series_labels()
        .position(if upper {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, 14))
        .draw()?;
    Ok(())
}

/// A legend entry drawn as a short line in `colour`.
pub(super) fn line_key(colour: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
}

/// A legend entry drawn as a dot in `colour`.
pub(super) fn dot_key(colour: RGBColor) -> impl Fn((i32, i32)) -> Circle<(i32, i32), i32> {
    move |(x, y)| Circle::new((x + 9, y), 4, colour.filled())
}

/// A vertical colour bar from `lo` (bottom, dark) to `hi` (top, yellow) in the right
/// `width` pixels of `area`, with its title.
pub(super) fn colour_bar(area: &Area<'_>, title: &str, lo: f64, hi: f64) -> Drawn {
    let (w, h) = area.dim_in_pixel();
    let (x0, y0, y1) = (w as i32 - 58, 30, h as i32 - 50);
    let steps = 40;
    for i in 0..steps {
        let t = i as f64 / steps as f64;
        // Each band overlaps the next by a pixel, so that no white seam shows.
        let top = y1 - ((y1 - y0) as f64 * (t + 1.0 / steps as f64)) as i32 - 1;
        let bottom = y1 - ((y1 - y0) as f64 * t) as i32;
        area.draw(&Rectangle::new(
            [(x0, top), (x0 + 14, bottom)],
            viridis(t).filled(),
        ))?;
    }
    let style = (FONT, 13).into_font().color(&BLACK);
    area.draw(&Text::new(tick(hi), (x0 + 17, y0 - 2), style.clone()))?;
    area.draw(&Text::new(tick(lo), (x0 + 17, y1 - 10), style))?;
    // Right-aligned to the canvas edge, so that a long title is not cut off.
    let title_style = anchored(12, HPos::Right, VPos::Top);
    area.draw(&Text::new(
        title.to_string(),
        (w as i32 - 4, y1 + 10),
        title_style,
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_by_the_backend_and_the_id_is_set() {
        let svg = svg("plot-x", |area| {
            area.draw(&Text::new(
                "<script>alert(1)</script> & \"q\"",
                (10, 10),
                (FONT, 14),
            ))?;
            Ok(())
        })
        .expect("draws");
        assert!(svg.starts_with("<svg id=\"plot-x\" role=\"img\" "), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"),
            "{svg}"
        );
    }

    #[test]
    fn axes_skip_what_they_cannot_show() {
        assert!(Axis::over("x", [f64::NAN, f64::INFINITY], false).is_none());
        assert!(Axis::over("x", [-1.0, 0.0], true).is_none());
        let a = Axis::over("lr", [1e-4, 1e-2, -3.0], true).expect("axis");
        assert!((a.at(1e-3) + 3.0).abs() < 1e-12 && a.at(-1.0).is_nan());
        let flat = Axis::over("v", [2.0, 2.0], false).expect("axis");
        assert!(flat.range().start < 2.0 && flat.range().end > 2.0);
        assert_eq!(tick(0.00012), "1.2e-4");
        assert_eq!(tick(1e-3), "1e-3");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(12000.0), "1.2e4");
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
    }
}
