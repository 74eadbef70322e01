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
