//! `kiln report`: one self-contained HTML page of a real run, every plot the run has data
//! for, every user string escaped; clear errors for a bad run directory or output path.

#[path = "support/mod.rs"]
mod support;
use support::*;

const EVIL: &str = "<script>alert(1)</script>";
/// The pipeline's name becomes file names, so it cannot hold `/`: an unclosed tag, which
/// would swallow the rest of the page if it were not escaped.
const OPEN_TAG: &str = "<script>alert(1)";

/// A tiny probed pipeline named with a script tag: LR range test, a study of 6 trials,
/// training and evaluation.
fn evil_pipeline() -> String {
    format!(
        r#"
name = "r{OPEN_TAG}"
seed = 3
workers = 2

[dataset]
kind = "glyphs"
train = 300
valid = 100
test = 100
size = 16

[model]
kind = "mlp"
layers = 1
width = 16

[optimizer]
kind = "adam"
lr = 3e-3

[trainer]
batch_size = 32
epochs = 2
probes = true

[[stages]]
kind = "lr_find"
steps = 30

[[stages]]
kind = "tune"
trials = 6
search = {{ kind = "random" }}

[stages.space]
"optimizer.lr" = {{ type = "float", low = 1e-3, high = 3e-2, log = true }}
"model.width" = {{ type = "int", low = 8, high = 32, step = 8 }}
"model.activation" = {{ type = "categorical", choices = ["relu", "gelu"] }}

[[stages]]
kind = "train"
from = "tune"
epochs = 2

[[stages]]
kind = "evaluate"
"#
    )
}

/// A second study in the run's database, through `kiln ask`/`tell`, whose name and
/// categorical values carry the script tag (a pipeline's values must be valid settings).
fn add_evil_study(run_dir: &std::path::Path) {
    let db = run_dir.join("kiln.db");
    let space = format!(
        r#"{{ "c<b>" = {{ type = "categorical", choices = ["plain", "{EVIL}"] }}, x = {{ type = "float", low = 0.0, high = 1.0 }} }}"#
    );
    for i in 0..6 {
        let out = kiln()
            .args([
                "ask",
                "--study",
                &format!("ask{EVIL}"),
                "--space",
                &space,
                "--storage",
            ])
            .arg(&db)
            .output()
            .expect("ask");
        assert!(out.status.success(), "ask: {}", stderr(&out));
        let asked: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("ask prints JSON");
        let number = asked["number"].as_u64().expect("number").to_string();
        let value = format!("0.{i}");
        let out = kiln()
            .args([
                "tell",
                "--study",
                &format!("ask{EVIL}"),
                "--trial",
                &number,
                "--values",
                &value,
                "--storage",
            ])
            .arg(&db)
            .output()
            .expect("tell");
        assert!(out.status.success(), "tell: {}", stderr(&out));
    }
}

fn plot_ids(html: &str) -> Vec<String> {
    html.match_indices("<svg id=\"")
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
        .collect()
}

#[test]
fn report_of_a_real_run_has_its_plots_and_escapes_user_text() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(dir.path(), "p.toml", &evil_pipeline());
    let run_dir = dir.path().join("run");
    let out = run(&p, &run_dir, &["--quiet"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    add_evil_study(&run_dir);

    let path = dir.path().join("report.html");
    let out = kiln()
        .arg("report")
        .arg(&run_dir)
        .arg("-o")
        .arg(&path)
        .output()
        .expect("report");
    assert!(out.status.success(), "report failed: {}", stderr(&out));
    let html = std::fs::read_to_string(&path).expect("report file");

    let ids = plot_ids(&html);
    for id in [
        // The pipeline's study.
        "plot-history",
        "plot-intermediate",
        "plot-importance",
        "plot-parallel",
        "plot-heatmap",
        // The asked study: no epochs, so no intermediate values.
        "plot-history-2",
        "plot-importance-2",
        "plot-parallel-2",
        "plot-heatmap-2",
        // The stages.
        "plot-lr-find",
        "plot-loss",
        "plot-accuracy",
        "plot-confusion",
        "plot-probe-histograms",
        "plot-probe-dead",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
    }
    assert!(
        !ids.iter().any(|i| i.starts_with("plot-intermediate-")),
        "{ids:?}"
    );
    // No capacity, ensemble or multi-objective data: those plots are left out.
    for absent in ["plot-capacity", "plot-ensemble", "plot-pareto"] {
        assert!(!ids.iter().any(|i| i == absent), "{absent} drawn: {ids:?}");
    }
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "unescaped <script> in the report"
    );
    assert!(
        html.contains("ask&lt;script&gt;alert(1)&lt;/script&gt;"),
        "study name"
    );
    assert!(
        html.contains("r&lt;script&gt;alert(1).tune"),
        "pipeline's study"
    );
    assert!(html.contains("c&lt;b&gt;"), "parameter name");
    // Offline: nothing is fetched.
    let outside = html.replace("http://www.w3.org/2000/svg", "");
    for bad in ["http://", "https://", "src=", "<link"] {
        assert!(!outside.contains(bad), "{bad} in the report");
    }

    // `kiln show --html` writes the same page.
    let shown = dir.path().join("shown.html");
    let out = kiln()
        .arg("show")
        .arg(&run_dir)
        .arg("--html")
        .arg(&shown)
        .output()
        .expect("show");
    assert!(out.status.success(), "show --html failed: {}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&shown).expect("shown"), html);
}

#[test]
fn a_missing_run_or_an_unwritable_output_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("no-such-run");
    let out = kiln()
        .arg("report")
        .arg(&missing)
        .arg("-o")
        .arg(dir.path().join("r.html"))
        .output()
        .expect("report");
    assert_clean_error(&out, &["no-such-run", "not a kiln run directory"]);
    assert!(!dir.path().join("r.html").exists());

    // A run directory that exists, and an output folder that does not.
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).expect("mkdir");
    let db = run_dir.join("kiln.db");
    let out = kiln()
        .args([
            "ask",
            "--study",
            "s",
            "--space",
            "{ x = { type = \"float\", low = 0.0, high = 1.0 } }",
            "--storage",
        ])
        .arg(&db)
        .output()
        .expect("ask");
    assert!(out.status.success(), "ask: {}", stderr(&out));
    let bad = dir.path().join("no-such-dir").join("r.html");
    let out = kiln()
        .arg("report")
        .arg(&run_dir)
        .arg("-o")
        .arg(&bad)
        .output()
        .expect("report");
    assert_clean_error(&out, &["no-such-dir/r.html", "cannot write the report"]);
}
