//! `kiln bench`: what the binary prints for the engine's benchmarks.

use anyhow::Result;
use kiln_core::Family;

/// `kiln bench search`: one row per (function, strategy).
pub fn search(
    strategies: Vec<String>,
    functions: Vec<String>,
    trials: usize,
    seeds: usize,
    json: bool,
) -> Result<()> {
    use kiln_engine::bench;
    let registry = crate::registry()?;
    let strategies = if strategies.is_empty() {
        registry
            .names(Family::Search)
            .into_iter()
            .filter(|s| s != "grid")
            .collect()
    } else {
        strategies
    };
    let all = bench::functions();
    for f in &functions {
        if !all.iter().any(|g| g.name == f) {
            anyhow::bail!("unknown function `{f}`; known: branin, hartmann6, rosenbrock5");
        }
    }
    if !json {
        println!(
            "{:<12} {:<15} {:>6} {:>5} {:>6} {:>12} {:>13} {:>10}",
            "function",
            "strategy",
            "trials",
            "seeds",
            "ran",
            "median_best",
            "median_regret",
            "ms/trial"
        );
    }
    for f in all
        .iter()
        .filter(|f| functions.is_empty() || functions.iter().any(|n| n == f.name))
    {
        for s in &strategies {
            let spec = kiln_core::PluginSpec::named(s);
            let row = bench::run_pair(&registry, f, &spec, trials, seeds)?;
            if json {
                println!("{}", serde_json::to_string(&row)?);
            } else {
                println!(
                    "{:<12} {:<15} {:>6} {:>5} {:>6} {:>12.6} {:>13.6} {:>10}",
                    row.function,
                    row.strategy,
                    row.trials,
                    row.seeds,
                    row.trials_run,
                    row.median_best,
                    row.median_regret,
                    row.ms_per_trial_at_end
                        .map_or("-".to_string(), |t| format!("{t:.4}"))
                );
            }
        }
    }
    Ok(())
}

/// `kiln bench augment`: the chain and each op, for each standard workload.
pub fn augment(repeats: usize, seed: u64, json: bool) -> Result<()> {
    use kiln_engine::bench_augment::{run_workload, standard_chain, standard_workloads};
    let registry = crate::registry()?;
    let chain = standard_chain();
    if !json {
        println!(
            "{:<12} {:>6} {:>5} {:<11} {:>12} {:>10} {:>6}",
            "images", "count", "batch", "op", "images/s", "ms/batch", "share"
        );
    }
    for w in standard_workloads() {
        for row in run_workload(&registry, &w, &chain, repeats, seed)? {
            if json {
                println!("{}", serde_json::to_string(&row)?);
            } else {
                println!(
                    "{:<12} {:>6} {:>5} {:<11} {:>12.0} {:>10.3} {:>5.0}%",
                    row.workload,
                    row.images,
                    row.batch,
                    row.op,
                    row.median_images_per_s,
                    row.median_ms_per_batch,
                    row.share * 100.0
                );
            }
        }
    }
    Ok(())
}

/// What `kiln bench train` was asked.
pub struct TrainArgs {
    pub mnist: Option<std::path::PathBuf>,
    pub devices: Vec<String>,
    pub models: Vec<String>,
    pub batch: usize,
    pub repeats: usize,
    pub warmup: usize,
    pub json: bool,
}

/// `kiln bench train`: one row per (device, model).
pub fn train(args: TrainArgs) -> Result<()> {
    use anyhow::Context;
    use kiln_engine::bench_train::{TrainBench, built_devices};
    let registry = crate::registry()?;
    let data = match &args.mnist {
        Some(dir) => serde_json::json!({ "kind": "mnist", "path": dir, "valid_fraction": 0.1 }),
        None => serde_json::json!({ "kind": "glyphs", "train": 3600, "valid": 400, "size": 28 }),
    };
    let data = kiln_core::PluginSpec::from_value(&data, "dataset")?;
    let splits = registry
        .build_dataset(&data, &kiln_core::BuildContext::new(0).with_key("dataset"))?
        .load()
        .context("loading the benchmark's data")?;
    let devices = if args.devices.is_empty() {
        built_devices().into_iter().map(String::from).collect()
    } else {
        args.devices
    };
    let bench = TrainBench {
        registry: &registry,
        train: &splits.train,
        spec: &splits.spec,
        batch: args.batch,
        warmup_steps: args.warmup,
        repeats: args.repeats,
        seed: 0,
    };
    bench.check()?;
    if !args.json {
        println!(
            "{} training images of {}×{}×{}; batch {}, {} warm-up steps, median of {} epoch(s)",
            splits.train.len(),
            splits.spec.shape.height,
            splits.spec.shape.width,
            splits.spec.shape.channels,
            args.batch,
            args.warmup,
            args.repeats
        );
        println!(
            "{:<10} {:<6} {:>9} {:>8} {:>10} {:>11}",
            "device", "model", "params", "samples", "s/epoch", "samples/s"
        );
    }
    for device in &devices {
        for model in &args.models {
            let row = bench
                .run(device, model)
                .with_context(|| format!("{model} on {device}"))?;
            if args.json {
                println!("{}", serde_json::to_string(&row)?);
            } else {
                println!(
                    "{:<10} {:<6} {:>9} {:>8} {:>10.3} {:>11.1}",
                    row.device,
                    row.model,
                    row.num_params,
                    row.samples,
                    row.seconds,
                    row.samples_per_s
                );
            }
        }
    }
    Ok(())
}
