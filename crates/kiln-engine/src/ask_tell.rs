//! `kiln ask` / `kiln tell`: a study driven from outside, as Optuna's CLI does, so any
//! program can be the objective.
//!
//! The first `ask` of a study names its search strategy, space and seed; they are kept as
//! a study attribute, so later calls need only the storage and the study name, and a
//! later `ask` with a different strategy or space is refused rather than silently mixing
//! two searches. The strategy's state is saved after every `ask` and `tell`, as a tune
//! stage saves it, so a search that learns (TPE, CMA-ES) learns from told trials. Calls
//! from several processes or hosts are taken one at a time (the study's exclusive section),
//! so each asker sees the trials asked before it and the saved state never goes back.
//! `--storage` takes Optuna's `sqlite:///` URLs, a file's path or a `postgresql://` URL.

use crate::error::{EngineError, Result};
use crate::storage::{Storage, StudyId, is_postgres_url};
use kiln_core::space::SearchSpaceConfig;
use kiln_core::{
    BuildContext, Direction, Distribution, Error, FrozenTrial, PluginSpec, Registry, SearchSpace,
    StudyView, TrialState,
};
use std::collections::BTreeMap;
use std::path::Path;

/// The study attribute with the search the study was first asked with.
const ASK_KEY: &str = "kiln:ask";
/// The strategy's saved state (the key a tune stage uses too).
const STATE_KEY: &str = "kiln:search_state";

/// The study database a `--storage` URL names, for [`Storage::open_location`]: a
/// `postgresql://` URL as given; `sqlite:///relative.db`, `sqlite:////absolute.db`
/// (Optuna's URLs) or a plain path as the file's path.
pub fn storage_location(url: &str) -> String {
    if is_postgres_url(url) {
        url.to_string()
    } else {
        url.strip_prefix("sqlite:///").unwrap_or(url).to_string()
    }
}

/// A JSON value, or a TOML inline value (`{ kind = "tpe" }`), from the command line.
pub fn parse_inline(text: &str, key: &str) -> Result<serde_json::Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    let table: toml::Table = toml::from_str(&format!("v = {text}")).map_err(|e| {
        EngineError::Core(Error::config(
            key,
            format!("neither JSON nor a TOML value: {e}"),
        ))
    })?;
    serde_json::to_value(&table["v"])
        .map_err(|e| EngineError::Core(Error::config(key, e.to_string())))
}

/// What a study is asked with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AskSearch {
    /// The strategy, e.g. `{ "kind": "tpe" }`.
    pub search: serde_json::Value,
    /// The space, as a tune stage's `[stages.space]` table.
    pub space: serde_json::Value,
    /// The strategy's seed.
    pub seed: u64,
}

/// `kiln ask`'s inputs.
#[derive(Debug, Clone)]
pub struct AskOptions {
    /// The study database: a file's path or a `postgresql://` URL.
    pub storage: String,
    /// The study's name.
    pub study: String,
    /// Its directions (a new study is created with them; an existing one must match).
    pub directions: Vec<Direction>,
    /// Strategy, space and seed: required on a study's first ask, checked on later ones.
    pub search: Option<AskSearch>,
}

fn storage_err(path: &Path, message: impl std::fmt::Display) -> EngineError {
    EngineError::Storage {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn strategy_for(
    registry: &Registry,
    storage: &Storage,
    study: StudyId,
    search: &AskSearch,
) -> Result<(Box<dyn kiln_core::SearchStrategy>, SearchSpace)> {
    let spec = PluginSpec::from_value(&search.search, "--search")?;
    let config: SearchSpaceConfig = serde_json::from_value(search.space.clone())
        .map_err(|e| EngineError::Core(Error::config("--space", e.to_string())))?;
    let space = SearchSpace::from_config(&config, "--space")?;
    let mut strategy =
        registry.build_search(&spec, &BuildContext::new(search.seed).with_key("--search"))?;
    if let Some(state) = storage.study_attr(study, STATE_KEY)? {
        strategy.load_state(&state)?;
    }
    Ok((strategy, space))
}

/// Asks the study for a trial: creates it running and returns `{ "number", "params" }`.
pub fn ask(registry: &Registry, o: &AskOptions) -> Result<serde_json::Value> {
    let storage = Storage::open_location(&o.storage)?;
    // One asker at a time across processes and hosts: the strategy's view of the study
    // and its saved state then never go backwards.
    storage.exclusive(|| ask_exclusive(registry, &storage, o))
}

fn ask_exclusive(
    registry: &Registry,
    storage: &Storage,
    o: &AskOptions,
) -> Result<serde_json::Value> {
    let study = storage.create_or_load_study(&o.study, &o.directions)?;
    let stored: Option<AskSearch> = storage
        .study_attr(study, ASK_KEY)?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| storage_err(storage.path(), format!("study attribute `{ASK_KEY}`: {e}")))?;
    let search = match (stored, &o.search) {
        (Some(s), Some(given)) if &s != given => {
            return Err(storage_err(
                storage.path(),
                format!(
                    "study `{}` was first asked with search {} over {} (seed {}); ask it with the same, or with none",
                    o.study, s.search, s.space, s.seed
                ),
            ));
        }
        (Some(s), _) => s,
        (None, Some(given)) => {
            storage.set_study_attr(
                study,
                ASK_KEY,
                &serde_json::to_value(given).map_err(|e| storage_err(storage.path(), e))?,
            )?;
            given.clone()
        }
        (None, None) => {
            return Err(EngineError::Core(Error::config(
                "--space",
                format!(
                    "study `{}` has not been asked before: give its --space",
                    o.study
                ),
            )));
        }
    };
    let (mut strategy, space) = strategy_for(registry, storage, study, &search)?;
    let trials = storage.trials(study)?;
    let view = StudyView {
        directions: &o.directions,
        trials: &trials,
    };
    let suggestion = strategy.ask(&space, &view, trials.len() as u64)?;
    space.check(&suggestion.params)?;
    let distributions: BTreeMap<String, Distribution> = suggestion
        .params
        .keys()
        .filter_map(|k| space.get(k).map(|p| (k.clone(), p.distribution.clone())))
        .collect();
    let (_, number) = storage.create_trial(
        study,
        TrialState::Running,
        &suggestion.params,
        &distributions,
    )?;
    storage.set_study_attr(study, STATE_KEY, &strategy.save_state()?)?;
    Ok(serde_json::json!({ "number": number, "params": suggestion.params }))
}

/// `kiln tell`'s inputs.
#[derive(Debug, Clone)]
pub struct TellOptions {
    /// The study database: a file's path or a `postgresql://` URL.
    pub storage: String,
    /// The study's name.
    pub study: String,
    /// The trial's number, as `ask` printed it.
    pub trial: u64,
    /// How it ended: complete (with one value per direction), pruned (a value optional)
    /// or fail.
    pub state: TrialState,
    /// Its values.
    pub values: Vec<f64>,
}

/// Finishes a running trial and tells the study's strategy.
pub fn tell(registry: &Registry, o: &TellOptions) -> Result<()> {
    if !is_postgres_url(&o.storage) && !Path::new(&o.storage).is_file() {
        return Err(storage_err(Path::new(&o.storage), "no such study database"));
    }
    let storage = Storage::open_location(&o.storage)?;
    storage.exclusive(|| tell_exclusive(registry, &storage, o))
}

fn tell_exclusive(registry: &Registry, storage: &Storage, o: &TellOptions) -> Result<()> {
    let study = storage
        .studies()?
        .into_iter()
        .find(|(_, name)| name == &o.study)
        .map(|(id, _)| id)
        .ok_or_else(|| storage_err(storage.path(), format!("no study named `{}`", o.study)))?;
    let directions = storage.directions(study)?;
    let trials = storage.trials(study)?;
    let trial = trials.iter().find(|t| t.number == o.trial).ok_or_else(|| {
        storage_err(
            storage.path(),
            format!("study `{}` has no trial #{}", o.study, o.trial),
        )
    })?;
    if trial.state != TrialState::Running {
        return Err(storage_err(
            storage.path(),
            format!("trial #{} is already {:?}", o.trial, trial.state),
        ));
    }
    let bad = |m: String| EngineError::Core(Error::config("--values", m));
    if o.values.iter().any(|v| !v.is_finite()) {
        return Err(bad(
            "values must be finite numbers (tell a failed trial with --state fail)".into(),
        ));
    }
    let values = match o.state {
        TrialState::Complete if o.values.len() != directions.len() => {
            return Err(bad(format!(
                "a complete trial needs {} value(s), one per direction; got {}",
                directions.len(),
                o.values.len()
            )));
        }
        TrialState::Complete => Some(o.values.as_slice()),
        TrialState::Pruned if o.values.len() > 1 => {
            return Err(bad("a pruned trial keeps at most one value".into()));
        }
        TrialState::Pruned => (!o.values.is_empty()).then_some(o.values.as_slice()),
        TrialState::Fail if !o.values.is_empty() => {
            return Err(bad("a failed trial has no values".into()));
        }
        TrialState::Fail => None,
        TrialState::Running | TrialState::Waiting => {
            return Err(EngineError::Core(Error::config(
                "--state",
                "must be complete, pruned or fail",
            )));
        }
    };
    let id = storage.trial_id(study, o.trial)?;
    let reason = (o.state != TrialState::Complete).then_some("told by `kiln tell`");
    if !storage.finish_trial(id, o.state, values, reason)? {
        return Err(storage_err(
            storage.path(),
            format!("trial #{} was finished by another caller first", o.trial),
        ));
    }
    if let Some(search) = storage.study_attr(study, ASK_KEY)? {
        let search: AskSearch = serde_json::from_value(search).map_err(|e| {
            storage_err(storage.path(), format!("study attribute `{ASK_KEY}`: {e}"))
        })?;
        let (mut strategy, _) = strategy_for(registry, storage, study, &search)?;
        let finished: Option<FrozenTrial> = storage
            .trials(study)?
            .into_iter()
            .find(|t| t.number == o.trial);
        if let Some(t) = finished {
            strategy.tell(&t)?;
            storage.set_study_attr(study, STATE_KEY, &strategy.save_state()?)?;
        }
    }
    Ok(())
}
