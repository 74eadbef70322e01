//! `kiln ask` and `kiln tell`: the arguments, parsed into the engine's options.

use anyhow::{Result, bail};
use clap::Args;
use kiln_core::{Direction, Registry, TrialState};
use kiln_engine::ask_tell::{self, AskOptions, AskSearch, TellOptions};

/// `kiln ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The study database: `sqlite:///study.db` (Optuna's form) or a path.
    #[arg(long)]
    storage: String,
    /// The study's name (created on its first ask).
    #[arg(long)]
    study: String,
    /// Objective directions, one per value `tell` will give: maximize or minimize.
    #[arg(long = "direction", default_value = "maximize", value_delimiter = ',')]
    directions: Vec<String>,
    /// The search strategy, as JSON or a TOML inline table: `{ kind = "tpe" }`.
    #[arg(long, default_value = "{ kind = \"random\" }")]
    search: String,
    /// The space, as a tune stage's `[stages.space]`:
    /// `{ x = { type = "float", low = 0.0, high = 1.0 } }`. Needed on the first ask.
    #[arg(long)]
    space: Option<String>,
    /// The strategy's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// `kiln tell`.
#[derive(Debug, Args)]
pub struct TellArgs {
    /// The study database, as given to `kiln ask`.
    #[arg(long)]
    storage: String,
    /// The study's name.
    #[arg(long)]
    study: String,
    /// The trial's number, as `kiln ask` printed it.
    #[arg(long)]
    trial: u64,
    /// Its values, one per direction (space- or comma-separated).
    #[arg(long, num_args = 0.., value_delimiter = ',', allow_negative_numbers = true)]
    values: Vec<f64>,
    /// How it ended: complete, pruned or fail.
    #[arg(long, default_value = "complete")]
    state: String,
}

fn direction(s: &str) -> Result<Direction> {
    match s.trim() {
        "maximize" => Ok(Direction::Maximize),
        "minimize" => Ok(Direction::Minimize),
        other => bail!("--direction: `{other}` is neither maximize nor minimize"),
    }
}

/// Asks for a trial and prints `{"number": N, "params": {...}}`.
pub fn ask(registry: &Registry, a: AskArgs) -> Result<()> {
    let directions = a
        .directions
        .iter()
        .map(|d| direction(d))
        .collect::<Result<Vec<_>>>()?;
    let search = match &a.space {
        Some(space) => Some(AskSearch {
            search: ask_tell::parse_inline(&a.search, "--search")?,
            space: ask_tell::parse_inline(space, "--space")?,
            seed: a.seed,
        }),
        None => None,
    };
    let out = ask_tell::ask(
        registry,
        &AskOptions {
            storage: ask_tell::storage_location(&a.storage),
            study: a.study,
            directions,
            search,
        },
    )?;
    println!("{out}");
    Ok(())
}

/// Finishes a trial.
pub fn tell(registry: &Registry, t: TellArgs) -> Result<()> {
    let state = match t.state.as_str() {
        "complete" => TrialState::Complete,
        "pruned" => TrialState::Pruned,
        "fail" => TrialState::Fail,
        other => bail!("--state: `{other}` is not complete, pruned or fail"),
    };
    ask_tell::tell(
        registry,
        &TellOptions {
            storage: ask_tell::storage_location(&t.storage),
            study: t.study,
            trial: t.trial,
            state,
            values: t.values,
        },
    )?;
    Ok(())
}
