//! The page around the plots: escaping, the table of contents, sections and figures.
//!
//! Every string that came from the run (names, parameters, reasons) goes through
//! [`escape`] before it lands in the HTML. Text drawn inside a plot is escaped by
//! plotters' SVG backend instead (see `chart`), so it is handed over raw there.

use super::chart::{self, Area, Drawn};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// HTML-escapes text for element content and quoted attribute values.
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

/// Readable without any external sheet: the page works offline and from a mail attachment.
const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1480px;padding:1em 2em;color:#222;line-height:1.4}\
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}\
nav ul{padding-left:1.2em}nav li{margin:.1em 0}\
.plots{display:flex;flex-wrap:wrap;gap:1em}\
figure{margin:0;border:1px solid #e4e4e4;border-radius:6px;padding:.6em;background:#fff}\
figure h4{margin:0 0 .3em 0;font-size:1em}figcaption{font-size:.85em;color:#555;max-width:640px}\
svg{display:block;max-width:100%;height:auto}\
table{border-collapse:collapse;margin:.8em 0;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}\
th{background:#f4f4f4}tr.best{background:#eaf7ea}td.num{text-align:right;font-variant-numeric:tabular-nums}\
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}.note{color:#a33}.meta{color:#555}";

/// The report page as it is built: sections in order, the contents, unique plot ids.
#[derive(Default)]
pub(super) struct Page {
    body: String,
    toc: Vec<(String, String, bool)>,
    ids: BTreeMap<String, usize>,
    open_plots: bool,
}

impl Page {
    /// A unique element id starting with `base` (`base`, then `base-2`, `base-3`, …), so
    /// that the first plot of a kind keeps the plain name.
    fn unique(&mut self, base: &str) -> String {
        let n = self.ids.entry(base.to_string()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        }
    }

    fn close_plots(&mut self) {
        if self.open_plots {
            self.body.push_str("</div>");
            self.open_plots = false;
        }
    }

    /// A top-level section, listed in the contents. `title` is raw text.
    pub(super) fn section(&mut self, anchor: &str, title: &str) {
        self.close_plots();
        let id = self.unique(anchor);
        let _ = write!(self.body, "<h2 id=\"{id}\">{}</h2>", escape(title));
        self.toc.push((id, title.to_string(), false));
    }

    /// A section inside the last one, listed in the contents under it.
    pub(super) fn subsection(&mut self, anchor: &str, title: &str) {
        self.close_plots();
        let id = self.unique(anchor);
        let _ = write!(self.body, "<h3 id=\"{id}\">{}</h3>", escape(title));
        self.toc.push((id, title.to_string(), true));
    }

    /// HTML written by the caller, who has escaped what needs it.
    pub(super) fn html(&mut self, html: &str) {
        self.close_plots();
        self.body.push_str(html);
    }

    /// One plot: a title, the SVG that `draw` makes (its `<svg>` gets the id `plot-KIND`,
    /// made unique) and a one-line caption. Plots in a row share a flex box.
    pub(super) fn figure(
        &mut self,
        kind: &str,
        title: &str,
        caption: &str,
        draw: impl FnOnce(&Area<'_>) -> Drawn,
    ) {
        let id = self.unique(&format!("plot-{kind}"));
        if !self.open_plots {
            self.body.push_str("<div class=\"plots\">");
            self.open_plots = true;
        }
        let svg = match chart::svg(&id, draw) {
            Ok(svg) => svg,
            Err(e) => format!(
                "<p class=\"note\">this plot could not be drawn: {}</p>",
                escape(&e)
            ),
        };
        let _ = write!(
            self.body,
            "<figure><h4>{}</h4>{svg}<figcaption>{}</figcaption></figure>",
            escape(title),
            escape(caption)
        );
    }

    /// The whole document.
    pub(super) fn finish(mut self, title: &str, meta: &str) -> String {
        self.close_plots();
        let mut html = String::with_capacity(self.body.len() + 4096);
        let _ = write!(
            html,
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>kiln report: {t}</title><style>{CSS}</style></head><body>\
             <header><h1>kiln report: {t}</h1><p class=\"meta\">{}</p></header>",
            escape(meta),
            t = escape(title),
        );
        if !self.toc.is_empty() {
            html.push_str("<nav><h2>Contents</h2><ul>");
            let link = |(id, text, _): &(String, String, bool)| {
                format!("<a href=\"#{id}\">{}</a>", escape(text))
            };
            let mut entries = self.toc.iter().peekable();
            while let Some(entry) = entries.next() {
                let _ = write!(html, "<li>{}", link(entry));
                // The subsections that follow, nested under it.
                let mut nested = false;
                while let Some(sub) = entries.next_if(|e| e.2) {
                    if !nested {
                        html.push_str("<ul>");
                        nested = true;
                    }
                    let _ = write!(html, "<li>{}</li>", link(sub));
                }
                html.push_str(if nested { "</ul></li>" } else { "</li>" });
            }
            html.push_str("</ul></nav>");
        }
        html.push_str("<main>");
        html.push_str(&self.body);
        html.push_str("</main></body></html>");
        html
    }
}

/// A number for a table cell or a label: integers as such, others to 4 significant digits.
pub(super) fn num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "–".into()
        } else {
            format!("{v}")
        };
    }
    if v.fract() == 0.0 && v.abs() < 1e7 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.2e}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A JSON value as table text (not yet escaped).
pub(super) fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "–".into(),
        serde_json::Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), num),
        other => other.to_string(),
    }
}
