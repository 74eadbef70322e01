//! What the report is drawn from: `kiln show`'s JSON ([`crate::show::collect_from`]), plus
//! what the plots need that `kiln show` leaves out: each trial's distributions (log scales,
//! categorical levels, PED-ANOVA's grids) and its intermediate values (the learning curves
//! of the trials). Rendering reads that JSON only, so the page can also be made from a
//! saved `kiln show --json` (the plots that need the additions are then left out).

use crate::error::Result;
use crate::run::db_path;
use crate::storage::Storage;
use kiln_core::{Direction, Distribution, Params, TrialState};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// `kiln show --json`'s report with, in every trial, `distributions` and `intermediate`
/// (`[[step, value], …]`).
pub fn collect(run_dir: &Path, storage: Option<&str>) -> Result<serde_json::Value> {
    // collect_from checks the run directory and says what is wrong with it.
    let mut report = crate::show::collect_from(run_dir, storage)?;
    let store = match storage {
        Some(location) => Storage::open_location(location)?,
        None => Storage::open(&db_path(run_dir))?,
    };
    let Some(studies) = report["studies"].as_array_mut() else {
        return Ok(report);
    };
    for (id, name) in store.studies()? {
        let Some(study) = studies.iter_mut().find(|s| s["name"] == name.as_str()) else {
            continue;
        };
        let trials = store.trials(id)?;
        let by_number: BTreeMap<u64, &kiln_core::FrozenTrial> =
            trials.iter().map(|t| (t.number, t)).collect();
        let rows = study["trials"].as_array_mut().into_iter().flatten();
        for t in rows.filter_map(serde_json::Value::as_object_mut) {
            let number = t.get("number").and_then(serde_json::Value::as_u64);
            let Some(frozen) = number.and_then(|n| by_number.get(&n)) else {
                continue;
            };
            let distributions = serde_json::to_value(&frozen.distributions).unwrap_or_default();
            t.insert("distributions".into(), distributions);
            let steps = frozen.intermediate.iter();
            let steps = steps
                .map(|(step, v)| serde_json::json!([step, v]))
                .collect();
            t.insert("intermediate".into(), steps);
        }
    }
    Ok(report)
}

/// One trial as the plots read it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Trial {
    pub(super) number: u64,
    pub(super) state: TrialState,
    /// One per objective; NaN where the JSON has null (serde_json writes NaN so).
    #[serde(default, deserialize_with = "nullable_floats")]
    pub(super) values: Option<Vec<f64>>,
    #[serde(default)]
    pub(super) params: Params,
    #[serde(default)]
    pub(super) distributions: BTreeMap<String, Distribution>,
    #[serde(default, deserialize_with = "steps")]
    pub(super) intermediate: Vec<(u64, f64)>,
    #[serde(default)]
    pub(super) reason: Option<String>,
}

impl Trial {
    /// The first objective of a complete trial, when finite.
    pub(super) fn value(&self) -> Option<f64> {
        self.values
            .as_ref()
            .and_then(|v| v.first().copied())
            .filter(|v| v.is_finite() && self.state == TrialState::Complete)
    }

    /// The last intermediate value, finite.
    pub(super) fn last_intermediate(&self) -> Option<f64> {
        self.intermediate
            .last()
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite())
    }
}

/// One study as the plots read it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Study {
    pub(super) name: String,
    #[serde(default)]
    pub(super) directions: Vec<Direction>,
    #[serde(default)]
    pub(super) trials: Vec<Trial>,
    #[serde(default)]
    pub(super) best_trial: Option<u64>,
}

impl Study {
    /// The first objective's direction.
    pub(super) fn direction(&self) -> Direction {
        self.directions
            .first()
            .copied()
            .unwrap_or(Direction::Minimize)
    }

    /// Complete trials with a finite first objective.
    pub(super) fn complete(&self) -> impl Iterator<Item = &Trial> {
        self.trials.iter().filter(|t| t.value().is_some())
    }
}

/// The studies of a report; a study whose JSON does not parse is left out.
pub(super) fn studies(report: &serde_json::Value) -> Vec<Study> {
    report["studies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| serde_json::from_value(s.clone()).ok())
        .collect()
}

fn nullable_floats<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
    let v: Option<Vec<Option<f64>>> = Option::deserialize(d)?;
    Ok(v.map(|v| v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect()))
}

fn steps<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(u64, f64)>, D::Error> {
    let v: Option<Vec<(u64, Option<f64>)>> = Option::deserialize(d)?;
    Ok(v.unwrap_or_default()
        .into_iter()
        .map(|(s, x)| (s, x.unwrap_or(f64::NAN)))
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn trials_parse_with_nulls_and_without_the_additions() {
        let report = serde_json::json!({"studies": [
            {"name": "s", "directions": ["maximize"], "trials": [
                {"number": 0, "state": "COMPLETE", "values": [null], "params": {"a": 1}},
                {"number": 1, "state": "PRUNED", "values": null, "params": {"a": "x"},
                 "intermediate": [[0, 0.5], [1, null]],
                 "distributions": {"a": {"type": "categorical", "choices": [1, "x"]}}},
            ]},
            {"name": 3}
        ]});
        let studies = super::studies(&report);
        assert_eq!(studies.len(), 1);
        let t = &studies[0].trials;
        assert_eq!(t[0].value(), None);
        assert_eq!(t[1].intermediate.len(), 2);
        assert_eq!(t[1].last_intermediate(), None);
        assert_eq!(studies[0].direction(), kiln_core::Direction::Maximize);
    }
}
