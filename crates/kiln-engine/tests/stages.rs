//! Stages on the open API: the conformance suite against every built-in stage, a stage
//! written in this test crate, the improvement loop's stages deciding by their rules, and
//! a finished stage kept or rerun by its configuration hash.

use kiln_core::testing::{Repeatability, check_stage};
use kiln_core::train::{Control, EpochReport, TrainSpec};
use kiln_core::{
    BuildContext, ParamValue, Params, Registry, Stage, StageContext, StageInput, StageOutput,
};
use kiln_engine::config::{Pipeline, PipelineBuilder, TuneBuilder, plugin};
use kiln_engine::context::StageView;
use kiln_engine::run::{RunOptions, open, run};
use serde_json::json;

use kiln_augment as _;
use kiln_datasets as _;
use kiln_ensemble as _;
use kiln_models as _;
use kiln_pruners as _;
use kiln_schedulers as _;
use kiln_search as _;
use kiln_stages as _;

/// A stage written by a "plugin author": it reads the splits, trains a model on half the
/// training split through the context's trainer, and hands on what it measured.
struct HalfData {
    epochs: usize,
}

impl Stage for HalfData {
    fn run(&self, ctx: &dyn StageContext) -> kiln_core::Result<StageOutput> {
        let train = &ctx.splits().train;
        let half: Vec<usize> = (0..train.len() / 2).collect();
        let subset = train.select(&half);
        let recipe = ctx.recipe(&Params::new())?;
        let spec = TrainSpec {
            train: Some(&subset),
            ..TrainSpec::new(&recipe, self.epochs, ctx.seed())
        };
        let mut epochs_seen = 0;
        let mut on_epoch = |_: &EpochReport| -> kiln_core::Result<Control> {
            epochs_seen += 1;
            Ok(Control::Continue)
        };
        let out = ctx.train(&spec, &mut on_epoch)?;
        let best = out.best().expect("an epoch");
        let mut output = StageOutput::new("half_data")
            .metric("val_accuracy", best.val_accuracy)
            .metric("images", subset.len() as f64)
            .metric("epochs_seen", epochs_seen as f64);
        // Later stages train wider models.
        output
            .locks
            .insert("model.width".into(), ParamValue::Int(48));
        Ok(output)
    }
}

/// A stage that reads the one before it.
struct Reader {
    from: String,
}

impl Stage for Reader {
    fn reads(&self) -> Vec<StageInput> {
        vec![StageInput::new("from", &self.from, &["half_data"])]
    }
    fn run(&self, ctx: &dyn StageContext) -> kiln_core::Result<StageOutput> {
        let earlier = ctx.output(&self.from).expect("the earlier output");
        let recipe = ctx.recipe(&Params::new())?;
        Ok(StageOutput::new("reader")
            .metric("earlier_images", earlier.metrics["images"])
            .metric(
                "width_now",
                recipe.model.params["width"].as_f64().unwrap_or(0.0),
            ))
    }
}

fn registry() -> Registry {
    let mut r = Registry::with_static_plugins().expect("built-ins");
    let mut reg = r.registrar("test");
    reg.stage(
        "half_data",
        "train on half the data",
        |p, ctx: &BuildContext| {
            let epochs = p.get("epochs").and_then(|v| v.as_u64()).unwrap_or(1) as usize;
            let _ = ctx;
            Ok(Box::new(HalfData { epochs }))
        },
    )
    .expect("register");
    reg.stage(
        "reader",
        "read an earlier stage",
        |p, ctx: &BuildContext| {
            let from = p
                .get("from")
                .and_then(|v| v.as_str())
                .ok_or_else(|| kiln_core::Error::config(format!("{}.from", ctx.key), "missing"))?;
            Ok(Box::new(Reader { from: from.into() }))
        },
    )
    .expect("register");
    r
}

fn base(name: &str) -> PipelineBuilder {
    PipelineBuilder::new(name)
        .seed(11)
        .dataset(plugin(
            "glyphs",
            json!({ "train": 240, "valid": 80, "test": 80, "size": 12 }),
        ))
        .model(plugin("mlp", json!({ "layers": 1, "width": 16 })))
        .optimizer(json!({ "kind": "adam", "lr": 3e-3 }))
        .trainer(json!({ "epochs": 2, "batch_size": 32 }))
}

/// The trials of the first study in the run directory under `dir`.
fn first_study(dir: &std::path::Path) -> Vec<kiln_core::FrozenTrial> {
    let storage = kiln_engine::storage::Storage::open(&dir.join("run/kiln.db")).expect("db");
    let (study, _) = storage.studies().expect("studies")[0].clone();
    storage.trials(study).expect("trials")
}

fn options(dir: &std::path::Path) -> RunOptions {
    RunOptions {
        run_dir: dir.join("run"),
        quiet: true,
        storage: None,
    }
}

#[test]
fn a_stage_from_a_test_crate_trains_and_a_later_stage_reads_it() {
    let registry = registry();
    let pipeline = base("plugin")
        .stage(json!({ "kind": "half_data", "epochs": 2 }))
        .stage(json!({ "kind": "reader", "from": "half_data" }))
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, registry, &options(dir.path())).expect("runs");
    let half = &summary["stages"]["half_data"]["metrics"];
    assert_eq!(half["images"], 120.0);
    assert_eq!(half["epochs_seen"], 2.0);
    let reader = &summary["stages"]["reader"]["metrics"];
    assert_eq!(reader["earlier_images"], 120.0);
    assert_eq!(
        reader["width_now"], 48.0,
        "the lock reached the later recipe"
    );
}

#[test]
fn a_stage_reading_a_missing_or_wrong_stage_is_refused_with_its_key() {
    let registry = registry();
    let err = base("bad")
        .stage(json!({ "kind": "reader", "from": "nowhere" }))
        .build(&registry)
        .expect_err("no such stage")
        .to_string();
    assert!(
        err.contains("stages[0].from") && err.contains("nowhere"),
        "{err}"
    );
    let err = base("bad")
        .stage(json!({ "kind": "train", "name": "t" }))
        .stage(json!({ "kind": "reader", "from": "t" }))
        .build(&registry)
        .expect_err("wrong kind")
        .to_string();
    assert!(
        err.contains("stages[1].from") && err.contains("half_data"),
        "{err}"
    );
}

/// Runs the conformance suite on every stage of `pipeline` in order, feeding outputs on.
fn conform(pipeline: Pipeline, registry: Registry, timed: &[&str]) -> Vec<StageOutput> {
    let dir = tempfile::tempdir().expect("tmp");
    let mut ctx = open(pipeline, registry, &options(dir.path())).expect("opens");
    let stages = ctx.pipeline.stages.clone();
    let mut outs = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        let out = if stage.study.is_some() {
            kiln_engine::run::run_stage(&ctx, i, stage).expect("tune runs")
        } else {
            let view = StageView::new(&ctx, stage, ctx.seed(&[i as u64]));
            let make = || {
                ctx.registry
                    .build_stage(&stage.spec, &BuildContext::new(0).with_key(&stage.key))
                    .expect("builds")
            };
            let repeat = if timed.contains(&stage.kind.as_str()) {
                Repeatability::Timed
            } else {
                Repeatability::Exact
            };
            check_stage(make, &view, repeat)
        };
        ctx.outputs.push((stage.name.clone(), out.clone()));
        outs.push(out);
    }
    outs
}

#[test]
fn every_built_in_stage_conforms() {
    let registry = registry();
    let pipeline = base("conform")
        .stage(json!({ "kind": "lr_find", "steps": 30 }))
        .stage(json!({ "kind": "batch_size", "start": 16, "max": 64, "steps": 3 }))
        .stage(json!({ "kind": "capacity", "epochs": 1, "dims": { "model.width": [8, 32] } }))
        .tune(TuneBuilder::new(3).epochs(1).param(
            "model.layers",
            json!({ "type": "int", "low": 1, "high": 2 }),
        ))
        .stage(json!({ "kind": "train", "from": "tune", "epochs": 3, "keep_best": 2 }))
        .stage(json!({ "kind": "ensemble", "from": "train", "top_k": 2 }))
        .stage(json!({ "kind": "ensemble", "name": "ens_tune", "from": "tune", "top_k": 2 }))
        .stage(json!({ "kind": "evaluate", "from": "train" }))
        .stage(json!({ "kind": "evaluate", "name": "eval_ens", "from": "ens_tune" }))
        .stage(json!({ "kind": "pseudo_label", "from": "tune", "holdout": 0.5, "rounds": 1, "threshold": 0.3 }))
        .build(&registry)
        .expect("valid");
    let outs = conform(pipeline, registry, &["batch_size"]);
    let kinds: Vec<&str> = outs.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "lr_find",
            "batch_size",
            "capacity",
            "tune",
            "train",
            "ensemble",
            "ensemble",
            "evaluate",
            "evaluate",
            "pseudo_label"
        ]
    );
    // The batch-size finder's lock reached the later stages.
    let bs = outs[1].locks["trainer.batch_size"].clone();
    assert!(matches!(bs, ParamValue::Int(16 | 32 | 64)), "{bs:?}");
    // Error analysis: a confusion matrix over every class, summing to the test images.
    let ea = &outs[7].details["error_analysis"];
    let total: u64 = ea["confusion"]
        .as_array()
        .expect("matrix")
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_u64().expect("count"))
        })
        .sum();
    assert_eq!(total, 80);
    assert_eq!(
        outs[4].members.len(),
        2,
        "keep_best = 2 keeps two checkpoints"
    );
}

#[test]
fn capacity_stops_by_its_rule_and_reports_the_curve() {
    let registry = registry();
    // An unreachable threshold: the sweep tries one step per dimension and stops.
    let pipeline = base("capacity")
        .stage(json!({
            "kind": "capacity", "epochs": 1, "threshold": 1e12,
            "dims": { "model.width": [8, 16, 32], "model.layers": [1, 2] }
        }))
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, registry, &options(dir.path())).expect("runs");
    let out = &summary["stages"]["capacity"];
    let curve = out["details"]["curve"].as_array().expect("curve");
    assert_eq!(
        curve.len(),
        3,
        "the start and one candidate per dimension: {curve:?}"
    );
    assert_eq!(curve[0]["accepted"], true);
    assert!(curve[1..].iter().all(|p| p["accepted"] == false));
    let stopped = out["details"]["stopped"].as_str().expect("reason");
    assert!(
        stopped.contains("below the threshold") || stopped.contains("min_gain"),
        "{stopped}"
    );
    assert_eq!(out["locks"]["model.width"], 8, "the start size is locked");
    assert!(curve[1]["num_params"].as_u64() > curve[0]["num_params"].as_u64());
}

#[test]
fn lr_find_narrows_a_later_tune_and_a_too_high_rate_is_pruned_as_divergence() {
    let registry = registry();
    // `from_lr_find` is a tune-stage key, written as a raw table.
    let pipeline = base("lr")
        .stage(json!({ "kind": "lr_find", "steps": 40, "lock": false }))
        .stage(json!({
            "kind": "tune", "trials": 3, "epochs": 1, "from_lr_find": "lr_find",
            "space": { "model.width": { "type": "int", "low": 8, "high": 16 } }
        }))
        .build(&registry);
    let pipeline = pipeline.expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, crate::registry(), &options(dir.path())).expect("runs");
    let lr = &summary["stages"]["lr_find"]["lr"];
    let (low, high) = (
        lr["low"].as_f64().expect("low"),
        lr["high"].as_f64().expect("high"),
    );
    assert!(low > 0.0 && low < high);
    for t in first_study(dir.path()) {
        let Some(ParamValue::Float(v)) = t.params.get("optimizer.lr") else {
            panic!("trial {} has no optimizer.lr: {:?}", t.number, t.params);
        };
        assert!((low..=high).contains(v), "lr {v} outside [{low}, {high}]");
    }

    // SGD at 1e4 blows up: pruned, with the divergence as its reason, and the study goes on.
    let pipeline = base("hot")
        .optimizer(json!({ "kind": "sgd", "lr": 1e4 }))
        .tune(TuneBuilder::new(2).epochs(2))
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    run(pipeline, registry, &options(dir.path())).expect("the study finishes");
    let trials = first_study(dir.path());
    assert_eq!(trials.len(), 2);
    for t in trials {
        assert_eq!(t.state, kiln_core::TrialState::Pruned, "{t:?}");
        assert!(
            t.reason.as_deref().unwrap_or_default().contains("diverged"),
            "{:?}",
            t.reason
        );
    }
}

#[test]
fn train_stops_early_keeps_best_and_periodic_checkpoints_with_their_state() {
    let registry = registry();
    let pipeline = base("early")
        .scheduler(plugin("exponential", json!({ "gamma": 0.999 })))
        .stage(json!({
            "kind": "train", "epochs": 12, "patience": 1, "min_delta": 0.5,
            "checkpoint_every": 1, "keep_best": 2
        }))
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, registry, &options(dir.path())).expect("runs");
    let out = &summary["stages"]["train"];
    // min_delta 0.5 of accuracy cannot be met twice: stopped after two epochs.
    assert_eq!(out["metrics"]["epochs_run"], 2.0, "{out}");
    assert_eq!(out["details"]["stopped"]["kind"], "early_stopped");
    let checkpoints = out["details"]["checkpoints"]
        .as_array()
        .expect("checkpoints");
    assert_eq!(checkpoints.len(), 2, "{checkpoints:?}");
    let best = out["model"]["checkpoint"].as_str().expect("best");
    let best_epoch = out["metrics"]["best_epoch"].as_f64().expect("epoch") as usize;
    assert!(best.ends_with(&format!("train-epoch-{:03}.safetensors", best_epoch + 1)));
    for c in checkpoints {
        let path = dir
            .path()
            .join("run")
            .join(c["path"].as_str().expect("path"));
        assert!(path.is_file(), "{}", path.display());
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("state.json")).expect("sidecar"),
        )
        .expect("json");
        assert!(state["scheduler_state"].is_object(), "{state}");
        assert_eq!(state["epoch"], c["epoch"]);
    }
}

#[test]
fn a_finished_stage_is_kept_only_while_its_configuration_is_unchanged() {
    let registry = registry();
    let build = |epochs: usize| {
        base("hash")
            .stage(json!({ "kind": "half_data", "epochs": epochs }))
            .stage(json!({ "kind": "reader", "from": "half_data" }))
            .build(&registry)
            .expect("valid")
    };
    let dir = tempfile::tempdir().expect("tmp");
    let first = run(build(1), crate::registry(), &options(dir.path())).expect("runs");
    let db = dir.path().join("run/kiln.db");
    let stamp = |stage: &str| {
        let storage = kiln_engine::storage::Storage::open(&db).expect("db");
        storage
            .stage_output("hash", stage)
            .expect("read")
            .expect("recorded")
            .config_hash
    };
    let hash1 = stamp("half_data");
    let again = run(build(1), crate::registry(), &options(dir.path())).expect("runs");
    assert_eq!(
        first["stages"], again["stages"],
        "unchanged: kept as it was"
    );
    assert_eq!(stamp("half_data"), hash1);
    let changed = run(build(2), registry, &options(dir.path())).expect("runs");
    assert_eq!(
        changed["stages"]["half_data"]["metrics"]["epochs_seen"],
        2.0
    );
    assert_ne!(stamp("half_data"), hash1);
    assert_ne!(stamp("reader"), None);
}

#[test]
fn probes_are_recorded_and_a_health_pruner_stops_trials_on_them() {
    let registry = registry();
    let pipeline = base("health")
        .trainer(json!({ "epochs": 2, "batch_size": 32, "probes": true, "probe_samples": 64 }))
        .tune(
            TuneBuilder::new(2)
                .pruner(plugin("health", json!({ "max_update_ratio": 0.0 })))
                .param(
                    "model.width",
                    json!({ "type": "int", "low": 8, "high": 16 }),
                ),
        )
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    run(pipeline, registry, &options(dir.path())).expect("runs");
    for t in first_study(dir.path()) {
        assert_eq!(t.state, kiln_core::TrialState::Pruned);
        assert!(
            t.reason
                .as_deref()
                .unwrap_or_default()
                .contains("update/weight")
        );
    }
    let storage = kiln_engine::storage::Storage::open(&dir.path().join("run/kiln.db")).expect("db");
    let rows = storage.health("health").expect("health");
    assert_eq!(rows.len(), 2, "one probed epoch per trial before pruning");
    let layers = rows[0].health["layers"].as_array().expect("layers");
    assert_eq!(layers[0]["layer"], "dense0");
    let dead = layers[0]["dead_fraction"].as_f64().expect("dead");
    assert!((0.0..=1.0).contains(&dead));
    let hist: u64 = layers[0]["histogram"]["counts"]
        .as_array()
        .expect("bins")
        .iter()
        .map(|c| c.as_u64().expect("count"))
        .sum();
    assert_eq!(hist % 64, 0, "every probe sample × unit is binned");
    assert!(
        !rows[0].health["updates"]
            .as_array()
            .expect("updates")
            .is_empty()
    );
}

#[test]
fn fine_tuning_continues_the_schedule_saved_with_the_checkpoint() {
    let registry = registry();
    let gamma: f64 = 0.99;
    let pipeline = base("resume")
        .scheduler(plugin("exponential", json!({ "gamma": gamma })))
        .stage(json!({ "kind": "train", "name": "a", "epochs": 2 }))
        .stage(json!({
            "kind": "train", "name": "b", "epochs": 1,
            "init_from": "a", "resume_schedule": true
        }))
        .stage(json!({ "kind": "train", "name": "c", "epochs": 1, "init_from": "a" }))
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, registry, &options(dir.path())).expect("runs");
    let steps = 240_f64 / 32.0; // 7.5: 8 steps per epoch
    let per_epoch = steps.ceil() as i32;
    let best_a = summary["stages"]["a"]["metrics"]["best_epoch"]
        .as_f64()
        .expect("best epoch") as i32;
    let lr = |stage: &str| {
        summary["stages"][stage]["details"]["history"][0]["lr"]
            .as_f64()
            .expect("lr")
    };
    // The last step of b's first epoch continues a's schedule after its best epoch.
    let expected = 3e-3 * gamma.powi(per_epoch * (best_a + 1) + per_epoch - 1);
    assert!(
        (lr("b") - expected).abs() < 1e-12,
        "{} vs {expected}",
        lr("b")
    );
    // Without resume_schedule the schedule starts afresh.
    assert!(
        (lr("c") - 3e-3 * gamma.powi(per_epoch - 1)).abs() < 1e-12,
        "{}",
        lr("c")
    );
    assert!(summary["stages"]["b"]["metrics"]["val_accuracy"].as_f64() > Some(0.1));
}

#[test]
fn pseudo_labelling_records_its_rounds_against_a_labelled_only_baseline() {
    let registry = registry();
    let err = base("pl")
        .stage(json!({ "kind": "pseudo_label" }))
        .build(&registry)
        .expect_err("no model and no pool")
        .to_string();
    assert!(err.contains("stages[0].from"), "{err}");
    let pipeline = base("pl")
        .trainer(json!({ "epochs": 3, "batch_size": 32 }))
        .stage(json!({
            "kind": "pseudo_label", "holdout": 0.5, "rounds": 2, "threshold": 0.5,
            "per_class_cap": 6
        }))
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, registry, &options(dir.path())).expect("runs");
    let out = &summary["stages"]["pseudo_label"];
    let (labelled, pool) = (
        out["details"]["labelled"].as_u64().expect("labelled"),
        out["details"]["pool"].as_u64().expect("pool"),
    );
    assert_eq!(
        labelled + pool,
        240,
        "a stratified half of the training split is the pool"
    );
    assert!(pool.abs_diff(120) <= 10, "{pool}");
    let baseline = out["metrics"]["baseline_val_accuracy"]
        .as_f64()
        .expect("baseline");
    let best = out["metrics"]["val_accuracy"].as_f64().expect("best");
    assert!(best >= baseline, "the stage hands on the better model");
    for key in ["baseline_test_accuracy", "test_accuracy"] {
        let acc = out["metrics"][key]
            .as_f64()
            .expect("glyphs have a test split");
        assert!((0.0..=1.0).contains(&acc), "{key} {acc}");
    }
    for r in out["details"]["rounds"].as_array().expect("rounds") {
        let added = r["added"].as_u64().expect("added");
        let per_class: u64 = r["per_class"]
            .as_array()
            .expect("per class")
            .iter()
            .map(|n| n.as_u64().expect("count"))
            .sum();
        assert_eq!(per_class, added);
        assert!(
            r["per_class"]
                .as_array()
                .expect("per class")
                .iter()
                .all(|n| n.as_u64() <= Some(6))
        );
        let acc = r["pseudo_label_accuracy"].as_f64().expect("labels known");
        assert!((0.0..=1.0).contains(&acc));
    }
    let model = out["model"]["checkpoint"].as_str().expect("model");
    assert!(dir.path().join("run").join(model).is_file());
}

#[test]
fn augmentation_strengths_are_search_dimensions() {
    let registry = registry();
    let with_aug = || {
        base("augsearch")
            .augment(plugin("rotate", json!({ "p": 0.5, "degrees": 5.0 })))
            .augment(plugin("contrast", json!({ "p": 0.5 })))
    };
    let err = with_aug()
        .tune(TuneBuilder::new(1).param(
            "augment.cutout.p",
            json!({ "type": "float", "low": 0.1, "high": 0.9 }),
        ))
        .build(&registry)
        .expect_err("no cutout in the list")
        .to_string();
    assert!(
        err.contains("augment.cutout.p") && err.contains("no `cutout`"),
        "{err}"
    );
    let err = with_aug()
        .tune(TuneBuilder::new(1).param(
            "augment.rotate.degrees",
            json!({ "type": "float", "low": 10.0, "high": 400.0 }),
        ))
        .build(&registry)
        .expect_err("degrees over 180")
        .to_string();
    assert!(err.contains("degrees"), "{err}");
    let pipeline = with_aug()
        .tune(
            TuneBuilder::new(3)
                .epochs(1)
                .param(
                    "augment.rotate.degrees",
                    json!({ "type": "float", "low": 0.0, "high": 30.0 }),
                )
                .param(
                    "augment.contrast.strength",
                    json!({ "type": "float", "low": 0.0, "high": 0.5 }),
                ),
        )
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    run(pipeline, registry, &options(dir.path())).expect("runs");
    let trials = first_study(dir.path());
    assert_eq!(trials.len(), 3);
    for t in trials {
        assert_eq!(t.state, kiln_core::TrialState::Complete, "{t:?}");
        assert!(t.params.contains_key("augment.rotate.degrees"));
    }
    // The recipe carries the searched strength to the augmenter.
    let p = base("r")
        .augment(plugin("rotate", json!({ "degrees": 5.0 })))
        .stage(json!({ "kind": "train" }))
        .build(&crate::registry())
        .expect("valid");
    let mut params = Params::new();
    params.insert("augment.rotate.degrees".into(), ParamValue::Float(20.0));
    let recipe = p.recipe(&params).expect("recipe");
    assert_eq!(recipe.augment[0].params["degrees"], 20.0);
}

#[test]
fn a_pipeline_with_label_mixing_trains_on_soft_targets_and_learns() {
    let registry = registry();
    let pipeline = base("mix")
        .trainer(json!({ "epochs": 12, "batch_size": 32 }))
        .augment(plugin("mixup", json!({ "p": 0.5, "alpha": 0.4 })))
        .augment(plugin("cutmix", json!({ "p": 0.5 })))
        .stage(json!({ "kind": "train" }))
        .stage(json!({ "kind": "evaluate" }))
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, registry, &options(dir.path())).expect("runs");
    let acc = summary["stages"]["evaluate"]["metrics"]["accuracy"]
        .as_f64()
        .expect("test accuracy");
    // Glyphs have 10 classes: chance is 0.1 (0.475 here; 0.675 without the mixing, which
    // slows learning on so little data).
    assert!(acc > 0.3, "test accuracy {acc} with mixup and cutmix");
    let err = base("mix")
        .augment(plugin("cutmix", json!({ "alpha": -1.0 })))
        .stage(json!({ "kind": "train" }))
        .build(&crate::registry())
        .expect_err("negative alpha")
        .to_string();
    assert!(err.contains("augment[0].alpha"), "{err}");
}

#[test]
fn an_ensemble_caches_each_members_outputs_and_evaluate_reads_them_back() {
    let registry = registry();
    let pipeline = |worst: usize| {
        base("cache")
            .tune(TuneBuilder::new(3).epochs(1).param(
                "optimizer.lr",
                json!({ "type": "float", "low": 1e-3, "high": 1e-2, "log": true }),
            ))
            .stage(json!({ "kind": "ensemble", "from": "tune", "top_k": 3,
                           "ensembler": { "kind": "soft_vote" } }))
            .stage(json!({ "kind": "evaluate", "from": "ensemble", "worst": worst }))
            .build(&crate::registry())
            .expect("valid")
    };
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline(5), registry, &options(dir.path())).expect("runs");
    let eval = &summary["stages"]["evaluate"]["metrics"];
    let (acc, best, gain) = (
        eval["accuracy"].as_f64().expect("accuracy"),
        eval["best_member_accuracy"].as_f64().expect("best member"),
        eval["gain_over_best_member"].as_f64().expect("gain"),
    );
    assert!((acc - best - gain).abs() < 1e-12);
    let db = rusqlite::Connection::open(dir.path().join("run/kiln.db")).expect("db");
    let count = |split: &str| -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM kiln_predictions WHERE split = ?1",
            [split],
            |r| r.get(0),
        )
        .expect("count")
    };
    assert_eq!(
        (count("valid"), count("test")),
        (3, 3),
        "one row per member and split"
    );
    // Rewrite the cached test outputs (fingerprints kept) to say "class 0" everywhere: an
    // evaluation rerun that reads the cache must then score exactly the share of class 0.
    let rows: Vec<(String, i64, Vec<u8>)> = db
        .prepare("SELECT checkpoint, num_classes, probs FROM kiln_predictions WHERE split = 'test'")
        .expect("select")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    for (checkpoint, classes, probs) in rows {
        let classes = classes as usize;
        let one_hot: Vec<u8> = (0..probs.len() / 4)
            .flat_map(|i| if i % classes == 0 { 1f32 } else { 0f32 }.to_le_bytes())
            .collect();
        db.execute(
            "UPDATE kiln_predictions SET probs = ?1 WHERE checkpoint = ?2 AND split = 'test'",
            rusqlite::params![one_hot, checkpoint],
        )
        .expect("update");
    }
    drop(db);
    let summary = run(pipeline(4), crate::registry(), &options(dir.path())).expect("reruns");
    let acc = summary["stages"]["evaluate"]["metrics"]["accuracy"]
        .as_f64()
        .expect("accuracy");
    let per_class = summary["stages"]["evaluate"]["details"]["error_analysis"]["per_class_count"]
        .as_array()
        .expect("counts")
        .iter()
        .map(|c| c.as_f64().expect("count"))
        .collect::<Vec<_>>();
    let share0 = per_class[0] / per_class.iter().sum::<f64>();
    assert!(
        (acc - share0).abs() < 1e-12,
        "{acc} vs {share0}: the cache was not read"
    );
}

#[test]
fn multi_run_and_snapshot_members_feed_an_ensemble() {
    let registry = registry();
    let pipeline = base("members")
        .tune(TuneBuilder::new(3).epochs(1).param(
            "optimizer.lr",
            json!({ "type": "float", "low": 1e-3, "high": 1e-2, "log": true }),
        ))
        .stage(
            json!({ "kind": "train", "name": "retrain", "from": "tune", "top_k": 2,
                       "seeds": 2, "epochs": 2 }),
        )
        .stage(json!({ "kind": "ensemble", "from": "retrain", "top_k": 10 }))
        .stage(json!({ "kind": "evaluate", "from": "ensemble" }))
        .build(&registry)
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, registry, &options(dir.path())).expect("runs");
    let retrain = &summary["stages"]["retrain"];
    let runs = retrain["details"]["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 4, "two trials × two seeds");
    let seeds: std::collections::BTreeSet<u64> = runs
        .iter()
        .map(|r| r["seed"].as_u64().expect("seed"))
        .collect();
    assert_eq!(seeds.len(), 4, "every run has its own seed");
    assert_ne!(runs[0]["params"], runs[2]["params"], "two different trials");
    let members = retrain["members"].as_array().expect("members");
    assert_eq!(members.len(), 4, "each run's best checkpoint");
    let files: std::collections::BTreeSet<&str> = members
        .iter()
        .map(|m| m["checkpoint"].as_str().expect("path"))
        .collect();
    assert_eq!(
        files.len(),
        4,
        "runs do not overwrite each other's checkpoints"
    );
    let candidates = summary["stages"]["ensemble"]["details"]["candidates"]
        .as_array()
        .expect("candidates");
    assert_eq!(candidates.len(), 4);
    assert!(summary["stages"]["evaluate"]["metrics"]["gain_over_best_member"].is_number());

    let err = base("snap")
        .stage(json!({ "kind": "train", "snapshots": true }))
        .build(&crate::registry())
        .expect_err("snapshots without checkpoint_every")
        .to_string();
    assert!(err.contains("stages[0].snapshots"), "{err}");
    let pipeline = base("snap")
        .scheduler(plugin(
            "cosine",
            json!({ "period_epochs": 2, "restarts": true }),
        ))
        .stage(json!({ "kind": "train", "epochs": 6, "checkpoint_every": 2, "snapshots": true }))
        .build(&crate::registry())
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, crate::registry(), &options(dir.path())).expect("runs");
    let epochs: Vec<u64> = summary["stages"]["train"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["epoch"].as_u64().expect("epoch"))
        .collect();
    // The snapshots at the end of each cosine cycle (epochs 2, 4, 6; 0-based 1, 3, 5) and
    // the best checkpoint, which may be one of them.
    for e in [1, 3, 5] {
        assert!(
            epochs.contains(&e),
            "snapshot at epoch {e} missing from {epochs:?}"
        );
    }
}

#[test]
fn weight_averaging_validates_and_checkpoints_the_average() {
    // EMA: every epoch validates the average; the snapshot checkpoints hold it (the
    // ensemble stage re-scores each file on validation data from scratch).
    let pipeline = base("ema")
        .trainer(json!({ "epochs": 3, "batch_size": 32, "average": "ema", "ema_decay": 0.9 }))
        .stage(json!({ "kind": "train", "epochs": 3, "checkpoint_every": 1, "snapshots": true }))
        .stage(json!({ "kind": "ensemble", "from": "train", "ensembler": { "kind": "soft_vote" } }))
        .build(&registry())
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, registry(), &options(dir.path())).expect("runs");
    let history = summary["stages"]["train"]["details"]["history"]
        .as_array()
        .expect("history");
    assert_eq!(history.len(), 3);
    let averaged: Vec<f64> = history
        .iter()
        .map(|e| e["val_accuracy"].as_f64().expect("val"))
        .collect();
    let raw: Vec<f64> = history
        .iter()
        .map(|e| {
            e["raw_val_accuracy"]
                .as_f64()
                .expect("raw weights scored too")
        })
        .collect();
    assert_ne!(
        averaged, raw,
        "an EMA of 0.9 differs from the last step's weights"
    );
    let candidates = summary["stages"]["ensemble"]["details"]["candidates"]
        .as_array()
        .expect("candidates");
    assert!(!candidates.is_empty());
    for c in candidates {
        let label = c["model"].as_str().expect("label");
        let epoch: usize = label
            .rsplit("epoch ")
            .next()
            .and_then(|e| e.trim().parse().ok())
            .expect("`… epoch N` label");
        let file = c["val_accuracy"].as_f64().expect("val");
        assert!(
            (file - averaged[epoch - 1]).abs() < 1e-9,
            "{label}: the checkpoint scores {file}, the averaged weights {}, the raw {}",
            averaged[epoch - 1],
            raw[epoch - 1]
        );
    }

    // SWA from half-way: the first half is scored raw, the first fold equals the raw
    // weights, later epochs average.
    let pipeline = base("swa")
        .trainer(json!({ "epochs": 4, "batch_size": 32, "average": "swa", "swa_start": 0.5 }))
        .stage(json!({ "kind": "train", "epochs": 4 }))
        .build(&registry())
        .expect("valid");
    let dir = tempfile::tempdir().expect("tmp");
    let summary = run(pipeline, registry(), &options(dir.path())).expect("runs");
    let history = summary["stages"]["train"]["details"]["history"]
        .as_array()
        .expect("history");
    assert!(history[0]["raw_val_accuracy"].is_null() && history[1]["raw_val_accuracy"].is_null());
    assert_eq!(history[2]["raw_val_accuracy"], history[2]["val_accuracy"]);
    assert!(history[3]["raw_val_accuracy"].is_number());

    for (key, value) in [("ema_decay", json!(1.0)), ("swa_start", json!(-0.1))] {
        let err = base("bad")
            .trainer(json!({ "average": "ema", key: value }))
            .stage(json!({ "kind": "train" }))
            .build(&registry())
            .expect_err("out of range")
            .to_string();
        assert!(err.contains(&format!("trainer.{key}")), "{err}");
    }
}
