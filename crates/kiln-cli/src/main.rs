//! The `kiln` command line.

// Name every built-in plugin crate so that its `inventory` registrations are linked.
use kiln_augment as _;
use kiln_datasets as _;
use kiln_ensemble as _;
use kiln_models as _;
use kiln_schedulers as _;
use kiln_search as _;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kiln_core::{Family, Registry};
use kiln_engine::config::{self, Pipeline};
use kiln_engine::run::{RunOptions, run};
use std::path::PathBuf;
use std::process::ExitCode;

/// kiln: make deep-learning models better after they first run.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline; running it again in the same run directory continues it.
    Run {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        /// Run directory (default: runs/<pipeline name>).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        /// Override a key: `--set trainer.epochs=3`, `--set stages.tune.trials=20`,
        /// `--set dataset.path=../data` (paths relative to the current folder).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Check the pipeline and exit without running it.
        #[arg(long)]
        check: bool,
        /// No progress lines.
        #[arg(long, short)]
        quiet: bool,
    },
    /// List the registered plugins.
    Plugins,
    /// Show a run: trials, best trial, stage results.
    Show {
        /// The run directory.
        run_dir: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

fn registry() -> Result<Registry> {
    Registry::with_static_plugins().context("registering built-in plugins")
}

fn main() -> ExitCode {
    // Trial panics are caught and recorded; print them as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("panic{at}: {msg}");
    }));
    match main_inner(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
}

fn main_inner(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run {
            pipeline,
            run_dir,
            sets,
            check,
            quiet,
        } => {
            let registry = registry()?;
            let (raw, source) = config::load(&pipeline, &sets)?;
            let pipeline = Pipeline::validate(raw, &source, &registry)?;
            if check {
                println!(
                    "{}: ok ({} stages)",
                    source.path.display(),
                    pipeline.stages.len()
                );
                return Ok(());
            }
            let run_dir = run_dir.unwrap_or_else(|| PathBuf::from("runs").join(&pipeline.name));
            let summary = run(
                pipeline,
                registry,
                &RunOptions {
                    run_dir: run_dir.clone(),
                    quiet,
                },
            )?;
            print_summary(&summary);
            println!(
                "run directory: {} (kiln show {})",
                run_dir.display(),
                run_dir.display()
            );
            Ok(())
        }
        Command::Plugins => {
            let registry = registry()?;
            for family in Family::ALL {
                let entries: Vec<_> = registry.entries().filter(|e| e.family == family).collect();
                if entries.is_empty() {
                    continue;
                }
                println!("{family}:");
                for e in entries {
                    println!("  {:<12} {}  [{}]", e.name, e.summary, e.origin);
                }
            }
            Ok(())
        }
        Command::Show { run_dir, json } => {
            let report = kiln_engine::show::collect(&run_dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", kiln_engine::show::render(&report));
            }
            Ok(())
        }
    }
}

fn print_summary(summary: &serde_json::Value) {
    for (stage, out) in summary["stages"].as_object().into_iter().flatten() {
        match out["kind"].as_str() {
            Some("tune") => {
                let best = &out["best"];
                println!(
                    "{stage}: {} trials ({} complete, {} pruned, {} failed); best trial #{} {} = {}",
                    out["trials"],
                    out["complete"],
                    out["pruned"],
                    out["failed"],
                    best["number"],
                    out["objective"].as_str().unwrap_or("value"),
                    best["value"]
                );
                println!("  best params: {}", best["params"]);
            }
            Some("train") => println!(
                "{stage}: best epoch {} of {}, val accuracy {}",
                out["best_epoch"].as_u64().map_or(0, |e| e + 1),
                out["epochs"],
                out["val_accuracy"]
            ),
            Some("evaluate") => println!(
                "{stage}: {} accuracy of `{}` = {}",
                out["split"].as_str().unwrap_or("test"),
                out["from"].as_str().unwrap_or(""),
                out["accuracy"]
            ),
            Some("ensemble") => println!(
                "{stage}: {} members, val accuracy {}",
                out["members"].as_array().map_or(0, Vec::len),
                out["val_accuracy"]
            ),
            _ => println!("{stage}: {out}"),
        }
    }
}
