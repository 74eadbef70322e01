//! Numeric features and a label column from delimited text files (CSV, TSV, …).
//!
//! Every row is one example: its label column and its features, in column order. Features
//! are parsed as numbers (optionally divided by `scale`) and laid out as one image of
//! `shape`, by default `1×1×F` (one channel, one row, `F` features across).
//!
//! # Labels and classes
//! - If every label in the training file is a non-negative integer, the labels are the
//!   classes themselves and `num_classes` is the largest label plus one; a label of
//!   [`MAX_NUMERIC_CLASS`] or more is an error naming its line (a class index that large is
//!   a mistake, and would make that many classes).
//! - Otherwise every label is a string and the distinct training labels, sorted (byte
//!   order, as Rust sorts `str`), are classes `0, 1, …` in that order: labels `cat`, `dog`,
//!   `ant` become `ant` = 0, `cat` = 1, `dog` = 2. [`CsvSource::load_with_classes`] returns
//!   the mapping.
//! - A test label that is not a training class is an error naming the test file and line.
//!
//! # Format
//! Fields are split on the one-character `delimiter` and trimmed. A field may be wrapped
//! in double quotes (`"a b"`, with `""` for a quote inside) but may not contain the
//! delimiter. Blank lines are skipped; `\r\n` line ends are accepted. With `header` the
//! first non-blank line names the columns, and a test file must have the same header.

use kiln_core::{BuildContext, DatasetSource, Error, ImageSet, ImageShape, Result, Splits};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Numeric labels are class indices below this (65,536 classes).
pub const MAX_NUMERIC_CLASS: u32 = 1 << 16;

/// The label column: a header name or a 0-based index.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum LabelColumn {
    /// 0-based column index.
    Index(usize),
    /// Column name in the header (needs `header: true`).
    Name(String),
}

/// Parameters of [`CsvSource`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// Training file, relative to the pipeline file.
    pub path: String,
    /// Optional test file with the same columns.
    pub test_path: Option<String>,
    /// The label column, by name or 0-based index. Default: the last column.
    pub label: Option<LabelColumn>,
    /// Whether the first line names the columns.
    #[serde(default = "default_header")]
    pub header: bool,
    /// One-character field separator.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// `"h×w×c"` (or `"hxwxc"`): how the features form an image. Default `1×1×F`.
    pub shape: Option<String>,
    /// Share of the training rows held out (stratified) for validation.
    #[serde(default = "default_valid")]
    pub valid_fraction: f64,
    /// Divisor applied to every feature (e.g. 255 for byte pixels).
    pub scale: Option<f64>,
}

fn default_header() -> bool {
    true
}

fn default_delimiter() -> String {
    ",".to_string()
}

fn default_valid() -> f64 {
    0.1
}

/// Reads a labelled table of numeric features.
#[derive(Debug, Clone)]
pub struct CsvSource {
    key: String,
    path: PathBuf,
    test_path: Option<PathBuf>,
    label: Option<LabelColumn>,
    header: bool,
    delimiter: char,
    shape: Option<(usize, usize, usize)>,
    valid_fraction: f64,
    scale: Option<f64>,
    seed: u64,
}

/// Parses `"h×w×c"` / `"hxwxc"` into `(h, w, c)`, each at least 1.
pub fn parse_shape(s: &str) -> Option<(usize, usize, usize)> {
    let parts: Vec<&str> = s.split(['x', 'X', '×']).map(str::trim).collect();
    if parts.len() != 3 {
        return None;
    }
    let mut v = [0usize; 3];
    for (slot, p) in v.iter_mut().zip(&parts) {
        *slot = p.parse().ok().filter(|&n| n > 0)?;
    }
    Some((v[0], v[1], v[2]))
}

impl CsvSource {
    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: CsvConfig = ctx.parse(params)?;
        let key = |k: &str| format!("{}.{k}", ctx.key);
        if !(c.valid_fraction > 0.0 && c.valid_fraction < 1.0) {
            return Err(Error::config(
                key("valid_fraction"),
                format!("must be in (0, 1), got {}", c.valid_fraction),
            ));
        }
        let mut chars = c.delimiter.chars();
        let delimiter = match (chars.next(), chars.next()) {
            (Some(d), None) if d != '"' && d != '\n' && d != '\r' => d,
            _ => {
                return Err(Error::config(
                    key("delimiter"),
                    format!(
                        "must be one character other than a quote or line end, got {:?}",
                        c.delimiter
                    ),
                ));
            }
        };
        let shape = match &c.shape {
            None => None,
            Some(s) => Some(parse_shape(s).ok_or_else(|| {
                Error::config(
                    key("shape"),
                    format!("expected \"h×w×c\" or \"hxwxc\" with each at least 1, got {s:?}"),
                )
            })?),
        };
        if let Some(s) = c.scale
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::config(
                key("scale"),
                format!("must be a finite number above 0, got {s}"),
            ));
        }
        if let (Some(LabelColumn::Name(n)), false) = (&c.label, c.header) {
            return Err(Error::config(
                key("label"),
                format!("column name {n:?} needs `header: true`; give a 0-based index instead"),
            ));
        }
        Ok(CsvSource {
            key: ctx.key.to_string(),
            path: ctx.resolve(&c.path),
            test_path: c.test_path.as_deref().map(|p| ctx.resolve(p)),
            label: c.label,
            header: c.header,
            delimiter,
            shape,
            valid_fraction: c.valid_fraction,
            scale: c.scale,
            seed: ctx.seed,
        })
    }
}

/// One parsed file: column names (when there is a header) and the rows.
struct Table {
    columns: Option<Vec<String>>,
    /// (1-based line, byte offset of the line, fields)
    rows: Vec<(usize, u64, Vec<String>)>,
}

fn split_line(
    line: &str,
    delim: char,
    path: &Path,
    lineno: usize,
    offset: u64,
) -> Result<Vec<String>> {
    line.split(delim)
        .enumerate()
        .map(|(i, f)| {
            let f = f.trim();
            match f.strip_prefix('"') {
                None => Ok(f.to_string()),
                Some(rest) => match rest.strip_suffix('"') {
                    Some(inner) => Ok(inner.replace("\"\"", "\"")),
                    None => Err(Error::data(
                        path,
                        Some(offset),
                        format!(
                            "line {lineno}, field {}: unterminated quote (a quoted field may not contain the delimiter {delim:?})",
                            i + 1
                        ),
                    )),
                },
            }
        })
        .collect()
}

fn read_table(path: &Path, delim: char, header: bool) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::data(path, Some(e.valid_up_to() as u64), "not valid UTF-8 text"))?;
    let mut columns = None;
    let mut rows = Vec::new();
    let mut expected: Option<usize> = None;
    let mut offset = 0u64;
    for (i, raw) in text.split('\n').enumerate() {
        let here = offset;
        offset += raw.len() as u64 + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let lineno = i + 1;
        let fields = split_line(line, delim, path, lineno, here)?;
        match expected {
            None => expected = Some(fields.len()),
            Some(n) if n != fields.len() => {
                return Err(Error::data(
                    path,
                    Some(here),
                    format!(
                        "line {lineno}: expected {n} fields, found {} (delimiter {delim:?})",
                        fields.len()
                    ),
                ));
            }
            Some(_) => {}
        }
        if header && columns.is_none() {
            columns = Some(fields);
        } else {
            rows.push((lineno, here, fields));
        }
    }
    let width = expected.unwrap_or(0);
    if width < 2 {
        return Err(Error::data(
            path,
            None,
            format!("needs at least 2 columns (features and a label), found {width}"),
        ));
    }
    if rows.is_empty() {
        return Err(Error::data(path, None, "no data rows"));
    }
    Ok(Table { columns, rows })
}

/// Features of one file, and its labels as written with their line numbers.
struct Parsed {
    features: Vec<f32>,
    labels: Vec<(usize, u64, String)>,
}

impl CsvSource {
    fn label_index(&self, t: &Table, width: usize) -> Result<usize> {
        let key = format!("{}.label", self.key);
        match &self.label {
            None => Ok(width - 1),
            Some(LabelColumn::Index(i)) if *i < width => Ok(*i),
            Some(LabelColumn::Index(i)) => Err(Error::config(
                key,
                format!(
                    "column index {i} is out of range: {} has {width} columns (0-based)",
                    self.path.display()
                ),
            )),
            Some(LabelColumn::Name(n)) => t
                .columns
                .as_ref()
                .and_then(|c| c.iter().position(|c| c == n))
                .ok_or_else(|| {
                    Error::config(
                        key,
                        format!(
                            "no column named {n:?} in {}; columns: {}",
                            self.path.display(),
                            t.columns.as_deref().unwrap_or_default().join(", ")
                        ),
                    )
                }),
        }
    }

    fn parse_rows(&self, path: &Path, t: &Table, label: usize) -> Result<Parsed> {
        let width = t.rows[0].2.len();
        let mut features = Vec::with_capacity(t.rows.len() * (width - 1));
        let mut labels = Vec::with_capacity(t.rows.len());
        let scale = self.scale.unwrap_or(1.0);
        for (lineno, offset, fields) in &t.rows {
            for (c, f) in fields.iter().enumerate() {
                if c == label {
                    continue;
                }
                let v = f
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(|v| (v / scale) as f32)
                    .filter(|v| v.is_finite());
                let Some(v) = v else {
                    let name = t.columns.as_ref().map_or_else(
                        || format!("column {}", c + 1),
                        |n| format!("column {:?}", n[c]),
                    );
                    return Err(Error::data(
                        path,
                        Some(*offset),
                        format!("line {lineno}, {name}: {f:?} is not a finite number"),
                    ));
                };
                features.push(v);
            }
            labels.push((*lineno, *offset, fields[label].clone()));
        }
        Ok(Parsed { features, labels })
    }

    fn image_shape(&self, features: usize) -> Result<ImageShape> {
        match self.shape {
            None => Ok(ImageShape {
                channels: 1,
                height: 1,
                width: features,
            }),
            Some((h, w, c)) if h * w * c == features => Ok(ImageShape {
                channels: c,
                height: h,
                width: w,
            }),
            Some((h, w, c)) => Err(Error::config(
                format!("{}.shape", self.key),
                format!(
                    "{h}×{w}×{c} = {} values, but {} has {features} feature columns",
                    h * w * c,
                    self.path.display()
                ),
            )),
        }
    }

    /// Loads the splits and returns the class names, class `i` being `classes[i]`.
    pub fn load_with_classes(&self) -> Result<(Splits, Vec<String>)> {
        let train_t = read_table(&self.path, self.delimiter, self.header)?;
        let width = train_t.rows[0].2.len();
        let label = self.label_index(&train_t, width)?;
        let shape = self.image_shape(width - 1)?;
        let train_p = self.parse_rows(&self.path, &train_t, label)?;

        let numeric: Option<Vec<u32>> = train_p
            .labels
            .iter()
            .map(|(_, _, l)| l.parse::<u32>().ok())
            .collect();
        if let Some(i) = numeric
            .as_ref()
            .and_then(|n| n.iter().position(|&c| c >= MAX_NUMERIC_CLASS))
        {
            let (lineno, offset, l) = &train_p.labels[i];
            return Err(Error::data(
                &self.path,
                Some(*offset),
                format!(
                    "line {lineno}: label {l} is too large: numeric labels are class indices \
                     0, 1, …, below {MAX_NUMERIC_CLASS}"
                ),
            ));
        }
        let classes: Vec<String> = match &numeric {
            Some(n) => {
                let k = n.iter().copied().max().unwrap_or(0) as usize + 1;
                (0..k).map(|i| i.to_string()).collect()
            }
            None => train_p
                .labels
                .iter()
                .map(|(_, _, l)| l.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        if classes.len() < 2 {
            return Err(Error::data(
                &self.path,
                None,
                format!("labels form {} class; at least 2 are needed", classes.len()),
            ));
        }
        let class_of = |path: &Path, (lineno, offset, l): &(usize, u64, String)| -> Result<u32> {
            let found = if numeric.is_some() {
                l.parse::<u32>()
                    .ok()
                    .filter(|&c| (c as usize) < classes.len())
            } else {
                classes.binary_search(l).ok().map(|c| c as u32)
            };
            found.ok_or_else(|| {
                Error::data(
                    path,
                    Some(*offset),
                    format!(
                        "line {lineno}: label {l:?} is not a class of the training file {} ({} classes)",
                        self.path.display(),
                        classes.len()
                    ),
                )
            })
        };
        let train_labels = train_p
            .labels
            .iter()
            .map(|l| class_of(&self.path, l))
            .collect::<Result<Vec<_>>>()?;

        let test = match &self.test_path {
            None => None,
            Some(tp) => {
                let t = read_table(tp, self.delimiter, self.header)?;
                let tw = t.rows[0].2.len();
                if tw != width {
                    return Err(Error::data(
                        tp,
                        Some(t.rows[0].1),
                        format!(
                            "line {}: expected {width} fields as in {}, found {tw}",
                            t.rows[0].0,
                            self.path.display()
                        ),
                    ));
                }
                if t.columns != train_t.columns {
                    return Err(Error::data(
                        tp,
                        Some(0),
                        format!("header differs from that of {}", self.path.display()),
                    ));
                }
                let p = self.parse_rows(tp, &t, label)?;
                let labels = p
                    .labels
                    .iter()
                    .map(|l| class_of(tp, l))
                    .collect::<Result<Vec<_>>>()?;
                Some(ImageSet::new(shape, p.features, labels)?)
            }
        };

        let train = ImageSet::new(shape, train_p.features, train_labels)?;
        let num_classes = classes.len();
        Ok((
            crate::holdout::with_validation(
                crate::holdout::Loaded {
                    train,
                    test,
                    unlabelled: None,
                    num_classes,
                },
                self.valid_fraction,
                self.seed,
                &self.path,
                "rows",
            )?,
            classes,
        ))
    }
}

impl DatasetSource for CsvSource {
    fn load(&self) -> Result<Splits> {
        self.load_with_classes().map(|(s, _)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(extra: serde_json::Value) -> Result<CsvSource> {
        let ctx = BuildContext::new(1).with_key("dataset");
        CsvSource::from_params(&extra, &ctx)
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p.to_string_lossy().into_owned()
    }

    fn numeric_table(n: usize) -> String {
        let mut s = String::from("a,b,c,d,label\n");
        for i in 0..n {
            s.push_str(&format!("{},{},{},{},{}\r\n", i, i * 2, 255, i % 7, i % 3));
        }
        s
    }

    #[test]
    fn reads_numeric_and_conforms() {
        let dir = tempfile::tempdir().expect("tmp");
        let train = write(dir.path(), "train.csv", &numeric_table(60));
        let test = write(dir.path(), "test.csv", &numeric_table(9));
        let (s, classes) = source(serde_json::json!({
            "path": train, "test_path": test, "scale": 255.0, "shape": "2x1x2"
        }))
        .expect("params")
        .load_with_classes()
        .expect("load");
        assert_eq!(classes, vec!["0", "1", "2"]);
        assert_eq!(s.spec.num_classes, 3);
        assert_eq!(
            s.spec.shape,
            ImageShape {
                channels: 2,
                height: 2,
                width: 1
            }
        );
        assert_eq!(s.train.len() + s.valid.len(), 60);
        let t = s.test.as_ref().expect("test");
        assert_eq!(t.len(), 9);
        assert_eq!(t.image(1), &[1.0 / 255.0, 2.0 / 255.0, 1.0, 1.0 / 255.0]);
        assert_eq!(t.labels[..4], [0, 1, 2, 0]);

        kiln_core::testing::check_dataset(move |seed| {
            let ctx = BuildContext::new(seed).with_key("dataset");
            let params = serde_json::json!({ "path": train, "test_path": test });
            Box::new(CsvSource::from_params(&params, &ctx).expect("params"))
        });
    }

    #[test]
    fn string_labels_index_and_no_header() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut text = String::new();
        for i in 0..30 {
            let name = ["dog", "cat", "ant"][i % 3];
            text.push_str(&format!("\"{name}\"\t{i}\t{}\n\n", i + 1));
        }
        let train = write(dir.path(), "train.tsv", &text);
        let test = write(dir.path(), "test.tsv", "ant\t1\t2\nbee\t3\t4\n");
        let (s, classes) = source(serde_json::json!({
            "path": train, "header": false, "delimiter": "\t", "label": 0,
            "valid_fraction": 0.2
        }))
        .expect("params")
        .load_with_classes()
        .expect("load");
        assert_eq!(classes, vec!["ant", "cat", "dog"]);
        assert_eq!(s.spec.shape.width, 2);
        assert_eq!(s.train.len() + s.valid.len(), 30);

        let err = source(serde_json::json!({
            "path": train, "test_path": test, "header": false, "delimiter": "\t", "label": 0
        }))
        .expect("params")
        .load()
        .expect_err("unseen label")
        .to_string();
        assert!(
            err.contains("test.tsv") && err.contains("line 2") && err.contains("\"bee\""),
            "{err}"
        );
    }

    #[test]
    fn bad_files_and_params_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let ragged = write(dir.path(), "ragged.csv", "x,y,label\n1,2,0\n\n3,1\n");
        let err = source(serde_json::json!({ "path": ragged }))
            .expect("params")
            .load()
            .expect_err("ragged")
            .to_string();
        assert!(
            err.contains("ragged.csv")
                && err.contains("line 4")
                && err.contains("expected 3 fields, found 2"),
            "{err}"
        );
        let bad = write(dir.path(), "bad.csv", "x,y,label\n1,2,0\n3,oops,1\n");
        let err = source(serde_json::json!({ "path": bad }))
            .expect("params")
            .load()
            .expect_err("non-numeric")
            .to_string();
        assert!(
            err.contains("bad.csv") && err.contains("line 3") && err.contains("column \"y\""),
            "{err}"
        );
        let good = write(dir.path(), "good.csv", &numeric_table(30));
        let err = source(serde_json::json!({ "path": good, "shape": "3x1x1" }))
            .expect("params")
            .load()
            .expect_err("shape")
            .to_string();
        assert!(err.contains("dataset.shape"), "{err}");
        let err = source(serde_json::json!({ "path": good, "label": "nope" }))
            .expect("params")
            .load()
            .expect_err("label")
            .to_string();
        assert!(err.contains("dataset.label"), "{err}");
        let s = source(serde_json::json!({ "path": good, "label": "d" }))
            .expect("params")
            .load()
            .expect("label by name");
        assert_eq!(s.spec.num_classes, 7);
        for (params, k) in [
            (
                serde_json::json!({ "path": good, "shape": "2x2" }),
                "dataset.shape",
            ),
            (
                serde_json::json!({ "path": good, "delimiter": ";;" }),
                "dataset.delimiter",
            ),
            (
                serde_json::json!({ "path": good, "scale": 0.0 }),
                "dataset.scale",
            ),
            (
                serde_json::json!({ "path": good, "valid_fraction": 0.0 }),
                "dataset.valid_fraction",
            ),
            (
                serde_json::json!({ "path": good, "header": false, "label": "d" }),
                "dataset.label",
            ),
        ] {
            let err = source(params).expect_err("bad param").to_string();
            assert!(err.contains(k), "{err}");
        }
        assert!(source(serde_json::json!({ "path": good, "nope": 1 })).is_err());
        // Found by fuzzing (`fuzz/`, target `csv`): a numeric label of 85,555,550 made as
        // many class names, and the process ran out of memory. (A smaller one here, so that
        // a regression costs this test little.)
        let huge = write(dir.path(), "huge.csv", "x,label\n1,0\n2,100000\n3,1\n");
        let err = source(serde_json::json!({ "path": huge }))
            .expect("params")
            .load()
            .expect_err("huge label")
            .to_string();
        assert!(
            err.contains("huge.csv") && err.contains("line 3") && err.contains("100000"),
            "{err}"
        );
        let edge = format!("x,label\n1,0\n2,{}\n", MAX_NUMERIC_CLASS - 1);
        let edge = write(dir.path(), "edge.csv", &edge);
        // The largest class index allowed passes this check (whatever the split says).
        if let Err(e) = source(serde_json::json!({ "path": edge }))
            .expect("params")
            .load()
        {
            assert!(!e.to_string().contains("too large"), "{e}");
        }
        let missing = source(serde_json::json!({ "path": dir.path().join("none.csv") }))
            .expect("params")
            .load()
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("none.csv"), "{missing}");
    }
}
