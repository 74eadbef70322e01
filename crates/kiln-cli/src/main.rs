//! The `kiln` command line.

// Name every built-in plugin crate so that its `inventory` registrations are linked.
use kiln_augment as _;
use kiln_datasets as _;
use kiln_ensemble as _;
use kiln_models as _;
use kiln_pruners as _;
use kiln_schedulers as _;
use kiln_search as _;
use kiln_stages as _;

mod ask_tell;
mod bench;
mod bench_study;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kiln_core::{Family, Registry};
use kiln_engine::config::{self, Pipeline};
use kiln_engine::preview::{self, PreviewOptions};
use kiln_engine::run::{RunOptions, run};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// kiln: make deep-learning models better after they first run.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A pipeline and the run directory it runs in: what `kiln run` and `kiln worker` share.
#[derive(Debug, clap::Args)]
struct PipelineArgs {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
    /// Run directory (default: runs/<pipeline name>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Override a key: `--set trainer.epochs=3`, `--set stages.tune.trials=20`,
    /// `--set dataset.path=../data` (paths relative to the current folder).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Load plugins from this shared library (repeatable); adds to the file's `plugins`.
    #[arg(long = "plugin", value_name = "LIBRARY")]
    plugins: Vec<PathBuf>,
    /// Study storage: `postgresql://user[:password]@host[:port]/db` (shared by `kiln worker`
    /// processes on other hosts), or a SQLite file (default: RUN_DIR/kiln.db).
    #[arg(long, value_name = "URL")]
    storage: Option<String>,
}

impl PipelineArgs {
    /// The validated pipeline, its registry and its run directory.
    fn load(self) -> Result<(Pipeline, Registry, PathBuf, Option<String>)> {
        let (pipeline, registry) = load_pipeline(&self.pipeline, &self.sets, self.plugins)?;
        let run_dir = self
            .run_dir
            .unwrap_or_else(|| PathBuf::from("runs").join(&pipeline.name));
        Ok((pipeline, registry, run_dir, self.storage))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline; running it again in the same run directory continues it.
    Run {
        #[command(flatten)]
        at: PipelineArgs,
        /// Check the pipeline and exit without running it.
        #[arg(long)]
        check: bool,
        /// No progress lines.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Join the tune stages of a run that `kiln run` drives in the same run directory:
    /// the studies' budgets are shared (heartbeats, no trial repeated); other stages are
    /// left to `kiln run`.
    Worker {
        #[command(flatten)]
        at: PipelineArgs,
        /// Seconds to wait for `kiln run` to finish a stage a tune stage follows.
        #[arg(long, default_value_t = 600.0)]
        patience: f64,
        /// No progress lines.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Write a PNG grid of the pipeline's augmenters at work: one row per training sample,
    /// the original first, then one column per draw.
    AugmentPreview {
        /// The pipeline file (TOML), loaded as `kiln run` loads it.
        pipeline: PathBuf,
        /// The PNG file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Rows: the first N training images.
        #[arg(long, default_value_t = 8)]
        samples: usize,
        /// Augmented columns.
        #[arg(long, default_value_t = 8)]
        draws: usize,
        /// Seed of the draws (default: the pipeline's).
        #[arg(long)]
        seed: Option<u64>,
        /// Override a key, as for `kiln run`: `--set augment.affine.degrees=30`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Load plugins from this shared library (repeatable).
        #[arg(long = "plugin", value_name = "LIBRARY")]
        plugins: Vec<PathBuf>,
    },
    /// List the registered plugins, with where each comes from.
    Plugins {
        /// Also load plugins from this shared library (repeatable).
        #[arg(long = "plugin", value_name = "LIBRARY")]
        plugins: Vec<PathBuf>,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Ask a study for a trial to evaluate outside kiln (as `optuna ask`): prints its
    /// number and parameters as JSON.
    Ask(ask_tell::AskArgs),
    /// Tell a study how an asked trial ended (as `optuna tell`).
    Tell(ask_tell::TellArgs),
    /// Show a run: trials, best trial, stage results.
    Show {
        /// The run directory.
        run_dir: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// Also write the HTML report (as `kiln report` does) to this file.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Where the run's studies live, when `kiln run --storage URL` put them there.
        #[arg(long, value_name = "URL")]
        storage: Option<String>,
    },
    /// Write a run's report: one self-contained HTML page with plots (inline SVG, no
    /// script, works offline) of its studies and stages.
    Report {
        /// The run directory.
        run_dir: PathBuf,
        /// The HTML file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Where the run's studies live, when `kiln run --storage URL` put them there.
        #[arg(long, value_name = "URL")]
        storage: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Search strategies on branin, hartmann6 and rosenbrock5 (minimising).
    Search {
        /// Strategy kinds, comma-separated (default: every registered strategy but grid).
        #[arg(long, value_delimiter = ',')]
        strategies: Vec<String>,
        /// Functions, comma-separated (default: all three).
        #[arg(long, value_delimiter = ',')]
        functions: Vec<String>,
        /// Trials per seed.
        #[arg(long, default_value_t = 100)]
        trials: usize,
        /// Seeds per (function, strategy).
        #[arg(long, default_value_t = 10)]
        seeds: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Several processes on one study: trials per second against one process, and the
    /// study audited afterwards for lost and duplicated trials.
    Study {
        /// Process counts to measure, comma-separated (one `kiln run`, the rest `kiln
        /// worker`s); efficiency is against the first.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        processes: Vec<usize>,
        /// The study's budget (a grid of this many distinct points).
        #[arg(long, default_value_t = 40)]
        trials: usize,
        /// Epochs per trial (512 training images of 12×12, an MLP of width 64): more
        /// makes each trial's training outweigh its bookkeeping.
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        /// A PostgreSQL server to keep the studies on (a fresh schema each) instead of a
        /// SQLite file.
        #[arg(long, value_name = "URL")]
        storage: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Training throughput (samples/s) of the built-in CNN and MLP on each backend this
    /// binary was built with: one epoch of optimisation steps after a warm-up, batch 64.
    /// `docs/scripts/bench_train_pytorch.py` measures PyTorch on the same data.
    Train {
        /// An MNIST folder (IDX files; its training split, less 10 % for validation);
        /// default: 3,600 generated 28×28 glyphs.
        #[arg(long, value_name = "DIR")]
        mnist: Option<PathBuf>,
        /// Devices, comma-separated (default: every backend built: cpu, tch:cpu, cuda:0).
        #[arg(long, value_delimiter = ',')]
        devices: Vec<String>,
        /// Models, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "cnn,mlp")]
        models: Vec<String>,
        /// Samples per batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Timed epochs, each on a fresh model; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Untimed steps before each timed epoch.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Augmentation throughput on synthetic data: hflip, affine, brightness and contrast on
    /// 10,000 28×28×1 images (batches of 256) and 1,000 224×224×3 images (batches of 32).
    Augment {
        /// Timed passes over the data (after one warm-up pass); medians are reported.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Seed of the pixels and the draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn registry() -> Result<Registry> {
    Registry::with_static_plugins().context("registering built-in plugins")
}

/// The built-in plugins plus those of `libraries`, each loaded after its compatibility check.
fn registry_with(libraries: &[PathBuf]) -> Result<Registry> {
    let mut registry = registry()?;
    for lib in libraries {
        let loaded = kiln_loader::load(lib, &mut registry)?;
        eprintln!(
            "loaded plugin library {} ({} {})",
            loaded.path.display(),
            loaded.name,
            loaded.version
        );
    }
    Ok(registry)
}

/// A pipeline file with `--set` overrides, validated against the built-in plugins, its
/// `plugins = [...]` libraries (relative to the file) and `extra` ones: what `kiln run` and
/// `kiln augment-preview` both start from.
fn load_pipeline(
    path: &Path,
    sets: &[String],
    extra: Vec<PathBuf>,
) -> Result<(Pipeline, Registry)> {
    let (raw, source) = config::load(path, sets)?;
    let base = path.parent().map(PathBuf::from).unwrap_or_default();
    let mut libraries: Vec<PathBuf> = raw.plugins.iter().map(|p| base.join(p)).collect();
    libraries.extend(extra);
    let registry = registry_with(&libraries)?;
    let pipeline = Pipeline::validate(raw, &source, &registry)?;
    Ok((pipeline, registry))
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
        Command::Run { at, check, quiet } => {
            let pipeline_path = at.pipeline.clone();
            let (pipeline, registry, run_dir, storage) = at.load()?;
            if check {
                println!(
                    "{}: ok ({} stages)",
                    pipeline_path.display(),
                    pipeline.stages.len()
                );
                return Ok(());
            }
            let summary = run(
                pipeline,
                registry,
                &RunOptions {
                    run_dir: run_dir.clone(),
                    quiet,
                    storage: storage.clone(),
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
        Command::Worker {
            at,
            patience,
            quiet,
        } => {
            let (pipeline, registry, run_dir, storage) = at.load()?;
            let patience = std::time::Duration::try_from_secs_f64(patience)
                .map_err(|_| anyhow::anyhow!("--patience must be a number of seconds >= 0"))?;
            let joined = kiln_engine::run::work(
                pipeline,
                registry,
                &RunOptions {
                    run_dir: run_dir.clone(),
                    quiet,
                    storage: storage.clone(),
                },
                patience,
            )?;
            println!(
                "worker done: {joined} tune stage(s) of {} joined",
                run_dir.display()
            );
            Ok(())
        }
        Command::AugmentPreview {
            pipeline: pipeline_path,
            output,
            samples,
            draws,
            seed,
            sets,
            plugins,
        } => {
            let (pipeline, registry) = load_pipeline(&pipeline_path, &sets, plugins)?;
            let options = PreviewOptions {
                samples,
                draws,
                seed,
                pipeline_file: pipeline_path,
            };
            let grid = preview::write_preview(&pipeline, &registry, &options, &output)?;
            println!(
                "{}: {} samples × (original + {} draws), cells ×{}, {}×{} px",
                output.display(),
                grid.samples,
                grid.draws,
                grid.scale,
                grid.width,
                grid.height
            );
            Ok(())
        }
        Command::Plugins { plugins } => {
            // Listing goes on past a refused library (each refusal is reported), so one
            // bad path does not hide what the others provide; the exit code still says.
            let mut registry = registry()?;
            let mut refused = 0;
            for lib in &plugins {
                match kiln_loader::load(lib, &mut registry) {
                    Ok(l) => eprintln!(
                        "loaded plugin library {} ({} {})",
                        l.path.display(),
                        l.name,
                        l.version
                    ),
                    Err(e) => {
                        eprintln!("error: {e}");
                        refused += 1;
                    }
                }
            }
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
            if refused > 0 {
                anyhow::bail!("{refused} plugin library(ies) refused; see above");
            }
            Ok(())
        }
        Command::Bench {
            what:
                BenchCommand::Search {
                    strategies,
                    functions,
                    trials,
                    seeds,
                    json,
                },
        } => bench::search(strategies, functions, trials, seeds, json),
        Command::Bench {
            what:
                BenchCommand::Augment {
                    repeats,
                    seed,
                    json,
                },
        } => bench::augment(repeats, seed, json),
        Command::Bench {
            what:
                BenchCommand::Train {
                    mnist,
                    devices,
                    models,
                    batch,
                    repeats,
                    warmup,
                    json,
                },
        } => bench::train(bench::TrainArgs {
            mnist,
            devices,
            models,
            batch,
            repeats,
            warmup,
            json,
        }),
        Command::Bench {
            what:
                BenchCommand::Study {
                    processes,
                    trials,
                    epochs,
                    storage,
                    json,
                },
        } => {
            let rows = bench_study::study(processes, trials, epochs, storage, json)?;
            let bad: usize = rows.iter().map(|r| r.lost + r.duplicated).sum();
            if bad > 0 {
                anyhow::bail!("{bad} trial(s) lost or duplicated");
            }
            Ok(())
        }
        Command::Ask(args) => ask_tell::ask(&registry_with(&[])?, args),
        Command::Tell(args) => ask_tell::tell(&registry_with(&[])?, args),
        Command::Show {
            run_dir,
            json,
            html,
            storage,
        } => {
            let report = kiln_engine::show::collect_from(&run_dir, storage.as_deref())?;
            if let Some(path) = html {
                kiln_engine::report::write(&run_dir, storage.as_deref(), &path)?;
                eprintln!("report written to {}", path.display());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", kiln_engine::show::render(&report));
            }
            Ok(())
        }
        Command::Report {
            run_dir,
            output,
            storage,
        } => {
            kiln_engine::report::write(&run_dir, storage.as_deref(), &output)?;
            println!("report written to {}", output.display());
            Ok(())
        }
    }
}

fn print_summary(summary: &serde_json::Value) {
    for (stage, out) in summary["stages"].as_object().into_iter().flatten() {
        match serde_json::from_value::<kiln_core::StageOutput>(out.clone()) {
            Ok(o) => {
                println!("{stage}: {}", kiln_engine::show_stages::stage_text(&o));
                if let Some(p) = o.params.as_ref().filter(|_| o.kind == "tune") {
                    println!(
                        "  best params: {}",
                        serde_json::to_string(p).unwrap_or_default()
                    );
                }
            }
            Err(_) => println!("{stage}: {out}"),
        }
    }
}
