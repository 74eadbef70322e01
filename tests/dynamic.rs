//! Dynamic plugins end to end: build the example plugin as a shared library, load it into
//! a prebuilt `kiln`, run a study whose strategy the TOML picks from the library, and see
//! refusals — a different compatibility record, a non-plugin library, a missing file —
//! reported cleanly by a process that stays in control (exit code 1, no crash).
//!
//! The binary and the library are built by one `cargo build` so that they share kiln-core's
//! features (a `cargo test` build turns on kiln-core's `testing` feature for everything it
//! builds, which a plugin built separately would rightly be refused for).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cargo_build(args: &[&str]) -> Vec<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--message-format=json", "-q"])
        .args(args)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .flat_map(|m| {
            let files: Vec<PathBuf> = m["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(PathBuf::from))
                .collect();
            let exe = m["executable"].as_str().map(PathBuf::from);
            files.into_iter().chain(exe)
        })
        .collect()
}

fn copy(from: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(from, &to).expect("copy artifact");
    to
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A refused library: exit code 1 (the process ended itself, no signal), one clear error.
fn assert_refused(out: &Output, needles: &[&str]) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a clean exit 1, got {:?}: {}",
        out.status,
        stderr(out)
    );
    let err = stderr(out);
    assert!(
        err.lines().any(|l| l.starts_with("error: plugin library")),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

#[test]
fn plugin_library_is_loaded_checked_and_refused_when_incompatible() {
    let dir = tempfile::tempdir().expect("tmp");
    let so = std::env::consts::DLL_SUFFIX;
    let built = cargo_build(&["-p", "kiln-cli", "-p", "kiln-example-dynamic"]);
    let kiln_exe = built
        .iter()
        .find(|p| p.file_stem().is_some_and(|s| s == "kiln") && p.extension().is_none())
        .expect("kiln binary");
    let lib = built
        .iter()
        .find(|p| {
            p.to_string_lossy()
                .ends_with(&format!("kiln_example_dynamic{so}"))
        })
        .expect("plugin library");
    let kiln = copy(kiln_exe, dir.path(), "kiln");
    let good = copy(lib, dir.path(), &format!("libgood{so}"));
    let built = cargo_build(&[
        "-p",
        "kiln-example-dynamic",
        "--features",
        "fake-incompatible",
    ]);
    let lib = built
        .iter()
        .find(|p| {
            p.to_string_lossy()
                .ends_with(&format!("kiln_example_dynamic{so}"))
        })
        .expect("plugin library");
    let bad = copy(lib, dir.path(), &format!("libbad{so}"));

    // Listed with its origin.
    let out = Command::new(&kiln)
        .arg("plugins")
        .arg("--plugin")
        .arg(&good)
        .output()
        .expect("kiln");
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    let line = listing
        .lines()
        .find(|l| l.trim_start().starts_with("annealing"))
        .expect("annealing listed");
    assert!(
        line.contains(&format!("library {}", good.display())),
        "{line}"
    );
    assert!(listing.contains("gaussian_noise"));

    // A study whose strategy (and an augmenter) come from the library, named in the TOML.
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "dyn"
seed = 5
plugins = ["libgood{so}"]
augment = [{{ kind = "gaussian_noise", p = 0.5, sigma = 0.05 }}]

[dataset]
kind = "glyphs"
train = 300
valid = 100
test = 100
size = 16

[model]
kind = "mlp"
layers = 1
width = 32

[trainer]
epochs = 1

[[stages]]
kind = "tune"
trials = 4
workers = 2
search = {{ kind = "annealing", t0 = 0.5 }}

[stages.space]
"optimizer.lr" = {{ type = "float", low = 1e-3, high = 3e-2, log = true }}
"model.width" = {{ type = "int", low = 16, high = 64 }}
"#
        ),
    )
    .expect("write pipeline");
    let run_dir = dir.path().join("run");
    let out = Command::new(&kiln)
        .arg("run")
        .arg(&pipeline)
        .arg("--run-dir")
        .arg(&run_dir)
        .arg("--quiet")
        .output()
        .expect("kiln");
    assert!(
        out.status.success(),
        "run with the plugin failed: {}",
        stderr(&out)
    );
    let out = Command::new(&kiln)
        .arg("show")
        .arg(&run_dir)
        .arg("--json")
        .output()
        .expect("kiln");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["studies"][0]["n_trials"], 4);
    assert_eq!(report["studies"][0]["complete"], 4);

    // Without the library the same file names an unknown plugin.
    std::fs::write(
        &pipeline,
        std::fs::read_to_string(&pipeline)
            .expect("read")
            .replace(&format!("plugins = [\"libgood{so}\"]"), ""),
    )
    .expect("write");
    let out = Command::new(&kiln)
        .arg("run")
        .arg(&pipeline)
        .arg("--run-dir")
        .arg(dir.path().join("r2"))
        .output()
        .expect("kiln");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown augmenter plugin `gaussian_noise`"),
        "{}",
        stderr(&out)
    );

    // Refusals.
    let out = Command::new(&kiln)
        .arg("plugins")
        .arg("--plugin")
        .arg(&bad)
        .output()
        .expect("kiln");
    assert_refused(
        &out,
        &[
            "built differently",
            &format!(
                "ABI version: library 999, host {}",
                kiln_core::abi::ABI_VERSION
            ),
            "compiler: library `rustc 1.0.0-nightly",
            "Rebuild it",
        ],
    );
    // The process outlives a refusal: it goes on to load the good library and list it.
    let out = Command::new(&kiln)
        .arg("plugins")
        .arg("--plugin")
        .arg(&bad)
        .arg("--plugin")
        .arg(&good)
        .output()
        .expect("kiln");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("built differently")
            && stderr(&out).contains("loaded plugin library"),
        "{}",
        stderr(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("annealing"),
        "the good library was not listed after a refusal"
    );
    let not_plugin = dir.path().join(format!("libplain{so}"));
    let c = dir.path().join("plain.c");
    std::fs::write(&c, "int kiln_is_not_here(void) { return 42; }\n").expect("write");
    let cc = Command::new("cc")
        .arg("-shared")
        .arg("-fPIC")
        .arg("-o")
        .arg(&not_plugin)
        .arg(&c)
        .status();
    if !cc.is_ok_and(|s| s.success()) {
        // No C compiler: any system library that is not a kiln plugin will do.
        std::fs::copy("/lib/x86_64-linux-gnu/libm.so.6", &not_plugin)
            .expect("a non-plugin shared library");
    }
    let out = Command::new(&kiln)
        .arg("plugins")
        .arg("--plugin")
        .arg(&not_plugin)
        .output()
        .expect("kiln");
    assert_refused(&out, &["not a kiln plugin", "KILN_PLUGIN_DECLARATION"]);
    let out = Command::new(&kiln)
        .arg("plugins")
        .arg("--plugin")
        .arg(dir.path().join("missing.so"))
        .output()
        .expect("kiln");
    assert_refused(&out, &["missing.so", "no such file"]);
    let junk = dir.path().join(format!("libjunk{so}"));
    std::fs::write(&junk, b"definitely not ELF").expect("write");
    let out = Command::new(&kiln)
        .arg("plugins")
        .arg("--plugin")
        .arg(&junk)
        .output()
        .expect("kiln");
    assert_refused(&out, &["cannot be loaded as a shared library"]);
}
