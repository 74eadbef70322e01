//! `kiln bench study`: several `kiln` processes on one study, as a user would run them,
//! timed and then audited. For each process count it writes a tiny pipeline whose tune
//! stage is a grid of distinct points (one per trial, so a point run twice is visible),
//! starts one `kiln run` and `N - 1` `kiln worker`s on a fresh study (a new run directory
//! for SQLite, a new schema on PostgreSQL), waits for them, and reads the study back:
//! trials lost (budget not met, numbers with gaps, trials left running) and points run
//! twice are counted, beside trials per second and the speed-up over one process.

use anyhow::{Context, Result, bail};
use kiln_core::TrialState;
use kiln_engine::storage::{Storage, scratch_schema};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// One measured configuration.
#[derive(Debug, serde::Serialize)]
pub struct StudyBenchRow {
    pub processes: usize,
    pub trials: usize,
    pub seconds: f64,
    pub trials_per_second: f64,
    /// Throughput over the first row's, divided by the process-count ratio.
    pub efficiency: f64,
    pub lost: usize,
    pub duplicated: usize,
    /// Finished trials per process, in start order.
    pub split: Vec<usize>,
}

fn pipeline(trials: usize, epochs: usize) -> String {
    // Distinct learning rates, one per trial: the grid runs each exactly once.
    let rates: Vec<String> = (0..trials)
        .map(|i| format!("{:.6e}", 1e-3 * (1.0 + i as f64 / trials as f64)))
        .collect();
    format!(
        r#"
name = "bench-study"
seed = 1
workers = 1

[dataset]
kind = "glyphs"
train = 512
valid = 64
test = 32
size = 12

[model]
kind = "mlp"
layers = 1
width = 64

[trainer]
batch_size = 32
epochs = {epochs}

[[stages]]
kind = "tune"
trials = {trials}
search = {{ kind = "grid", values = {{ "optimizer.lr" = [{}] }} }}

[stages.space]
"optimizer.lr" = {{ type = "float", low = 1e-3, high = 2e-3 }}
"#,
        rates.join(", ")
    )
}

fn spawn(verb: &str, pipeline: &Path, run_dir: &Path, storage: Option<&str>) -> Result<Child> {
    let exe = std::env::current_exe().context("the kiln binary")?;
    let mut c = Command::new(exe);
    c.arg(verb)
        .arg(pipeline)
        .arg("--run-dir")
        .arg(run_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("KILN_PROGRESS", "plain");
    if let Some(url) = storage {
        c.args(["--storage", url]);
    }
    Ok(c.spawn()?)
}

/// Runs the study once with `processes` processes; returns its row (efficiency unset).
fn measure(
    dir: &Path,
    processes: usize,
    trials: usize,
    epochs: usize,
    storage: Option<&str>,
) -> Result<StudyBenchRow> {
    let base = dir.join(format!("p{processes}"));
    std::fs::create_dir_all(&base)?;
    let p = base.join("pipeline.toml");
    std::fs::write(&p, pipeline(trials, epochs))?;
    let url = match storage {
        Some(url) => Some(scratch_schema(
            url,
            &format!("kiln_bench_{}_{processes}", std::process::id()),
        )?),
        None => None,
    };
    // On SQLite the processes share one run directory (its kiln.db); on PostgreSQL each
    // has its own, as on separate hosts.
    let run_dir = |i: usize| match url {
        Some(_) => base.join(format!("host-{i}")),
        None => base.join("run"),
    };
    let started = Instant::now();
    let mut children = Vec::new();
    for i in 0..processes {
        let verb = if i == 0 { "run" } else { "worker" };
        children.push(spawn(verb, &p, &run_dir(i), url.as_deref())?);
    }
    // Each child's progress is drained by a thread of its own, so none blocks on a full
    // pipe while another is waited for.
    let waiting: Vec<_> = children
        .into_iter()
        .map(|child| std::thread::spawn(move || child.wait_with_output()))
        .collect();
    let mut split = Vec::new();
    for (i, handle) in waiting.into_iter().enumerate() {
        let out = handle
            .join()
            .map_err(|_| anyhow::anyhow!("process {i}: its reader panicked"))??;
        let said = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("process {i} failed: {said}");
        }
        split.push(said.matches(" started: ").count());
    }
    let seconds = started.elapsed().as_secs_f64();
    let storage = match &url {
        Some(u) => Storage::open_location(u)?,
        None => Storage::open(&run_dir(0).join("kiln.db"))?,
    };
    let (study, _) = storage
        .studies()?
        .into_iter()
        .next()
        .context("the run made no study")?;
    let all = storage.trials(study)?;
    let finished: Vec<_> = all
        .iter()
        .filter(|t| matches!(t.state, TrialState::Complete | TrialState::Pruned))
        .collect();
    let gaps = all
        .iter()
        .enumerate()
        .filter(|(i, t)| t.number != *i as u64)
        .count();
    let unfinished = all
        .iter()
        .filter(|t| matches!(t.state, TrialState::Running | TrialState::Waiting))
        .count();
    let lost = trials.saturating_sub(finished.len()) + gaps + unfinished;
    let points: BTreeSet<String> = finished
        .iter()
        .map(|t| serde_json::to_string(&t.params).unwrap_or_default())
        .collect();
    let duplicated = finished.len() - points.len();
    Ok(StudyBenchRow {
        processes,
        trials,
        seconds,
        trials_per_second: finished.len() as f64 / seconds,
        efficiency: f64::NAN,
        lost,
        duplicated,
        split,
    })
}

/// `kiln bench study`.
pub fn study(
    processes: Vec<usize>,
    trials: usize,
    epochs: usize,
    storage: Option<String>,
    json: bool,
) -> Result<Vec<StudyBenchRow>> {
    if processes.is_empty() || processes.contains(&0) {
        bail!("--processes: give counts of at least 1, e.g. 1,2");
    }
    if trials == 0 || epochs == 0 {
        bail!("--trials and --epochs must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let mut rows: Vec<StudyBenchRow> = Vec::new();
    if !json {
        println!(
            "{:>9} {:>7} {:>9} {:>9} {:>10} {:>5} {:>10}  split",
            "processes", "trials", "seconds", "trials/s", "efficiency", "lost", "duplicated"
        );
    }
    for &n in &processes {
        let mut row = measure(dir.path(), n, trials, epochs, storage.as_deref())?;
        let first = rows.first().map_or(&row, |r| r);
        row.efficiency =
            (row.trials_per_second / first.trials_per_second) / (n as f64 / first.processes as f64);
        if json {
            println!("{}", serde_json::to_string(&row)?);
        } else {
            println!(
                "{:>9} {:>7} {:>9.2} {:>9.2} {:>10.2} {:>5} {:>10}  {:?}",
                row.processes,
                row.trials,
                row.seconds,
                row.trials_per_second,
                row.efficiency,
                row.lost,
                row.duplicated,
                row.split
            );
        }
        rows.push(row);
    }
    Ok(rows)
}
