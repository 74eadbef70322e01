//! End-to-end tests of the `kiln` binary on generated data.

#[path = "support/mod.rs"]
mod support;
use support::*;

#[test]
fn plugins_lists_every_built_in_family() {
    let out = kiln().arg("plugins").output().expect("plugins");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "mnist",
        "glyphs",
        "mlp",
        "cnn",
        "random",
        "grid",
        "median",
        "constant",
        "step",
        "hflip",
        "soft_vote",
    ] {
        assert!(text.contains(name), "`{name}` missing from:\n{text}");
    }
}

#[test]
fn pipeline_runs_end_to_end_and_resumes_without_rerunning() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(
        dir.path(),
        "p.toml",
        &pipeline(4, 2, "{ kind = \"random\" }"),
    );
    let run_dir = dir.path().join("run");
    let out = run(&p, &run_dir, &["--quiet"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("summary.json")).expect("summary"),
    )
    .expect("json");
    let train = &summary["stages"]["train"];
    let history = train["details"]["history"].as_array().expect("history");
    assert_eq!(history.len(), 3);
    let loss = |i: usize| history[i]["train_loss"].as_f64().expect("loss");
    assert!(
        loss(2) < loss(0),
        "training did not lower the loss: {history:?}"
    );
    let acc = summary["stages"]["evaluate"]["metrics"]["accuracy"]
        .as_f64()
        .expect("accuracy");
    assert!(acc > 0.2, "test accuracy {acc} is no better than chance");
    assert!(
        run_dir
            .join(train["model"]["checkpoint"].as_str().expect("checkpoint"))
            .is_file()
    );

    let report = show(&run_dir);
    let study = &report["studies"][0];
    assert_eq!(study["name"], "e2e.tune");
    assert_eq!(study["n_trials"], 4);
    let values: Vec<_> = study["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| t["value"].clone())
        .collect();

    // Running again continues the same study: nothing is rerun.
    let out = run(&p, &run_dir, &["--quiet"]);
    assert!(out.status.success(), "rerun failed: {}", stderr(&out));
    let again = show(&run_dir);
    assert_eq!(again["studies"][0]["n_trials"], 4);
    let values2: Vec<_> = again["studies"][0]["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| t["value"].clone())
        .collect();
    assert_eq!(values, values2);

    // More trials asked for: only the new ones run, numbered after the old.
    let out = run(&p, &run_dir, &["--quiet", "--set", "stages.tune.trials=6"]);
    assert!(
        out.status.success(),
        "extended run failed: {}",
        stderr(&out)
    );
    let more = show(&run_dir);
    let numbers: Vec<u64> = more["studies"][0]["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| t["number"].as_u64().expect("n"))
        .collect();
    assert_eq!(numbers, vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn same_seed_gives_the_same_trials() {
    let dir = tempfile::tempdir().expect("tmp");
    // The Gaussian process proposes trials 2 and 3 (log float, stepped int, categorical).
    let search = "{ kind = \"gp\", n_startup_trials = 2 }";
    let p = write(dir.path(), "p.toml", &pipeline(4, 1, search));
    let trials = |name: &str| {
        let run_dir = dir.path().join(name);
        let out = run(&p, &run_dir, &["--quiet"]);
        assert!(out.status.success(), "run failed: {}", stderr(&out));
        show(&run_dir)["studies"][0]["trials"].clone()
    };
    let (a, b) = (trials("a"), trials("b"));
    assert_eq!(a, b, "same seed, same pipeline, different trials");
}

/// With two workers and dropout, each trial's numbers still depend only on the seed: the
/// dropout masks of one trial's steps are drawn from a generator seeded for that step,
/// not from a stream the other worker draws from too. (No pruner: what a pruner decides
/// depends on which other trials have reported, which timing decides.)
#[test]
fn two_workers_with_dropout_give_the_same_numbers_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = pipeline(6, 2, "{ kind = \"random\" }")
        .replace("pruner = { kind = \"median\", n_startup_trials = 2 }\n", "");
    let p = write(dir.path(), "p.toml", &text);
    let values = |name: &str| {
        let run_dir = dir.path().join(name);
        let out = run(
            &p,
            &run_dir,
            &[
                "--quiet",
                "--set",
                "model.dropout=0.3",
                "--set",
                "dataset.train=1000",
            ],
        );
        assert!(out.status.success(), "run failed: {}", stderr(&out));
        show(&run_dir)["studies"][0]["trials"]
            .as_array()
            .expect("trials")
            .iter()
            .map(|t| (t["number"].clone(), t["value"].clone()))
            .collect::<Vec<_>>()
    };
    let (a, b) = (values("a"), values("b"));
    assert_eq!(a.len(), 6);
    assert_eq!(a, b, "same seed, two workers, dropout: different numbers");
}

#[test]
fn killed_run_resumes_keeping_finished_trials() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(
        dir.path(),
        "p.toml",
        &pipeline(5, 1, "{ kind = \"random\" }"),
    );
    let run_dir = dir.path().join("run");
    // Kill as soon as the second trial has started (the first one is finished).
    let saw = kill_at_line(
        kiln()
            .arg("run")
            .arg(&p)
            .arg("--run-dir")
            .arg(&run_dir)
            .arg("--set")
            .arg("trainer.epochs=3"),
        "trial #1 started",
    );
    assert!(saw.contains("trial #0 COMPLETE"), "{saw}");
    let before = show(&run_dir);
    let first = before["studies"][0]["trials"][0].clone();
    assert_eq!(first["state"], "COMPLETE");

    // The killed process's running trial beat a moment ago; with a one-second grace the
    // rerun waits that long for it, then takes it for dead and runs its point again.
    let started = std::time::Instant::now();
    let out = run(
        &p,
        &run_dir,
        &[
            "--quiet",
            "--set",
            "trainer.epochs=3",
            "--set",
            "stages.0.heartbeat_seconds=0.2",
            "--set",
            "stages.0.grace_seconds=1",
        ],
    );
    assert!(
        out.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = show(&run_dir);
    let trials = after["studies"][0]["trials"]
        .as_array()
        .expect("trials")
        .clone();
    assert_eq!(trials[0], first, "a finished trial changed on resume");
    let numbers: Vec<u64> = trials
        .iter()
        .map(|t| t["number"].as_u64().expect("n"))
        .collect();
    let mut unique = numbers.clone();
    unique.dedup();
    assert_eq!(numbers, unique, "trial numbers repeat");
    let done = trials
        .iter()
        .filter(|t| t["state"] == "COMPLETE" || t["state"] == "PRUNED")
        .count();
    assert_eq!(done, 5, "{trials:?}");
    // The interrupted trial is kept as failed, and its parameters ran again.
    let interrupted = trials
        .iter()
        .find(|t| t["state"] == "FAIL")
        .expect("the killed trial is failed once found stale");
    let params = &interrupted["params"];
    assert!(
        trials
            .iter()
            .any(|t| t["state"] != "FAIL" && &t["params"] == params)
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "it waited out the grace"
    );
}

#[test]
fn malformed_pipeline_is_one_clear_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(
        dir.path(),
        "bad.toml",
        "name = \"x\"\n[dataset\nkind = \"glyphs\"\n",
    );
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &[]),
        &["bad.toml:2", "invalid TOML"],
    );

    let text = pipeline(2, 1, "{ kind = \"random\" }").replace("trials = 2", "trials = -2");
    let p = write(dir.path(), "neg.toml", &text);
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &[]),
        &["neg.toml:", "stages[0].trials"],
    );

    let text =
        pipeline(2, 1, "{ kind = \"random\" }").replace("low = 1e-3, high", "low = 0.0, high");
    let p = write(dir.path(), "range.toml", &text);
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &[]),
        &["range.toml:", "optimizer.lr", "log scale"],
    );
    // A stage plugin's bad parameter and a reference to a stage that is not there.
    let text = pipeline(2, 1, "{ kind = \"random\" }").replace(
        "from = \"tune\"\nepochs = 3",
        "from = \"tune\"\nepochs = 3\npatience = 0",
    );
    let p = write(dir.path(), "patience.toml", &text);
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &[]),
        &["patience.toml:41", "stages[1].patience", "at least 1"],
    );
    let text =
        pipeline(2, 1, "{ kind = \"random\" }").replace("from = \"tune\"", "from = \"tnue\"");
    let p = write(dir.path(), "from.toml", &text);
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &[]),
        &[
            "from.toml:",
            "stages[1].from",
            "no earlier stage named `tnue`",
        ],
    );
    assert!(
        !dir.path().join("r").exists(),
        "a failed check left a run directory behind"
    );
}

#[test]
fn show_prints_error_analysis_and_network_health() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = pipeline(2, 1, "{ kind = \"random\" }").replace(
        "epochs = 2\n",
        "epochs = 2\nprobes = true\nprobe_samples = 32\n",
    );
    let p = write(dir.path(), "p.toml", &text);
    let run_dir = dir.path().join("run");
    let out = run(&p, &run_dir, &["--quiet"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let out = kiln().arg("show").arg(&run_dir).output().expect("show");
    assert!(out.status.success(), "show failed: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "per-class accuracy",
        "confusion (rows: true class",
        "network health",
        "dense0",
        "update/weight ratio",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
}

#[test]
fn unknown_plugin_names_the_closest() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(
        dir.path(),
        "p.toml",
        &pipeline(2, 1, "{ kind = \"randon\" }"),
    );
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &[]),
        &[
            "p.toml:",
            "unknown search plugin `randon`",
            "did you mean `random`",
            "grid",
        ],
    );

    let text = pipeline(2, 1, "{ kind = \"random\" }")
        .replace("kind = \"mlp\"", "kind = \"mlp\"\nwidht = 3");
    let p = write(dir.path(), "typo.toml", &text);
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &[]),
        &["typo.toml:", "widht"],
    );
}

#[test]
fn truncated_idx_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let n = 50usize;
    let mut images = vec![0u8, 0, 8, 3];
    for d in [n as u32, 28, 28] {
        images.extend_from_slice(&d.to_be_bytes());
    }
    images.extend(std::iter::repeat_n(7u8, n * 28 * 28 - 100)); // 100 bytes short
    std::fs::write(data.join("train-images-idx3-ubyte"), images).expect("write");
    let mut labels = vec![0u8, 0, 8, 1];
    labels.extend_from_slice(&(n as u32).to_be_bytes());
    labels.extend((0..n).map(|i| (i % 10) as u8));
    std::fs::write(data.join("train-labels-idx1-ubyte"), labels).expect("write");
    let text = pipeline(2, 1, "{ kind = \"random\" }").replace(
        "kind = \"glyphs\"\ntrain = 400\nvalid = 100\ntest = 100\nsize = 16",
        "kind = \"mnist\"\npath = \"data\"",
    );
    let p = write(dir.path(), "m.toml", &text);
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &["--quiet"]),
        &["train-images-idx3-ubyte", "truncated", "offset"],
    );
    assert!(
        !dir.path().join("r").exists(),
        "a failed run left a run directory behind"
    );
}

#[test]
fn a_truncated_cifar_file_a_ragged_csv_and_a_corrupt_png_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let with_dataset = |name: &str, table: &str| {
        let text = pipeline(2, 1, "{ kind = \"random\" }").replace(
            "kind = \"glyphs\"\ntrain = 400\nvalid = 100\ntest = 100\nsize = 16",
            table,
        );
        write(dir.path(), name, &text)
    };
    // CIFAR-10: two whole records, then 100 bytes of a third.
    let cifar = dir.path().join("cifar");
    std::fs::create_dir(&cifar).expect("mkdir");
    let mut bytes = Vec::new();
    for label in [3u8, 7] {
        bytes.push(label);
        bytes.extend(std::iter::repeat_n(9u8, 3072));
    }
    bytes.extend(std::iter::repeat_n(1u8, 100));
    std::fs::write(cifar.join("data_batch_1.bin"), bytes).expect("write");
    let p = with_dataset("c.toml", "kind = \"cifar10\"\npath = \"cifar\"");
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &["--quiet"]),
        &["data_batch_1.bin", "6146"],
    );
    // CSV: the third data row has one field too few.
    std::fs::write(
        dir.path().join("d.csv"),
        "a,b,label\n0.1,0.2,0\n0.3,0.4,1\n0.5,1\n0.7,0.8,0\n",
    )
    .expect("write");
    let p = with_dataset("v.toml", "kind = \"csv\"\npath = \"d.csv\"");
    assert_clean_error(
        &run(&p, &dir.path().join("r"), &["--quiet"]),
        &["d.csv", "line 4"],
    );
    // An image folder whose first image is a PNG header followed by garbage.
    for class in ["a", "b"] {
        let folder = dir.path().join("img").join(class);
        std::fs::create_dir_all(&folder).expect("mkdir");
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(b"not really a png");
        std::fs::write(folder.join("0.png"), png).expect("write");
    }
    let p = with_dataset("i.toml", "kind = \"image_folder\"\npath = \"img\"");
    assert_clean_error(&run(&p, &dir.path().join("r"), &["--quiet"]), &["0.png"]);
    assert!(
        !dir.path().join("r").exists(),
        "a failed load left a run directory behind"
    );
}
