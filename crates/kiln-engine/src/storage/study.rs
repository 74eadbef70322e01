//! Studies and trials: the rows Optuna reads, written and read through [`Storage`].

use super::db::{Conn, Row, values};
use super::heartbeat::beat;
use super::open::now;
use crate::error::Result;
use kiln_core::{Direction, Distribution, FrozenTrial, ParamValue, Params, TrialState};
use std::collections::BTreeMap;

use super::open::Storage;

/// A study's row id.
pub type StudyId = i64;
/// A trial's row id.
pub type TrialId = i64;

/// `(value, type)` for `trial_values`; `None` for NaN (not storable as a final value).
fn encode_value(v: f64) -> Option<(Option<f64>, &'static str)> {
    if v.is_nan() {
        None
    } else if v == f64::INFINITY {
        Some((None, "INF_POS"))
    } else if v == f64::NEG_INFINITY {
        Some((None, "INF_NEG"))
    } else {
        Some((Some(v), "FINITE"))
    }
}

fn decode_value(v: Option<f64>, kind: &str) -> f64 {
    match kind {
        "INF_POS" => f64::INFINITY,
        "INF_NEG" => f64::NEG_INFINITY,
        "NAN" => f64::NAN,
        _ => v.unwrap_or(f64::NAN),
    }
}

impl Storage {
    /// The study called `name`, created with `directions` if it does not exist. An existing
    /// study with other directions is an error.
    pub fn create_or_load_study(&self, name: &str, directions: &[Direction]) -> Result<StudyId> {
        self.write(|c| {
            let existing = c
                .query_opt("SELECT study_id FROM studies WHERE study_name = ?1", values![name])?
                .map(|r| r.int(0))
                .transpose()?;
            match existing {
                Some(id) => {
                    let stored: Vec<String> = c
                        .query(
                            "SELECT direction FROM study_directions WHERE study_id = ?1 ORDER BY objective",
                            values![id],
                        )?
                        .iter()
                        .map(|r| r.text(0))
                        .collect::<std::result::Result<_, _>>()?;
                    let wanted: Vec<&str> = directions.iter().map(|d| d.as_optuna()).collect();
                    if stored != wanted {
                        return Err(format!(
                            "study `{name}` exists with directions {stored:?}, the pipeline asks for {wanted:?}"
                        ));
                    }
                    Ok(id)
                }
                None => {
                    let id = c
                        .query_one(
                            "INSERT INTO studies (study_name) VALUES (?1) RETURNING study_id",
                            values![name],
                        )?
                        .int(0)?;
                    for (i, d) in directions.iter().enumerate() {
                        c.execute(
                            "INSERT INTO study_directions (direction, study_id, objective) VALUES (?1, ?2, ?3)",
                            values![d.as_optuna(), id, i as i64],
                        )?;
                    }
                    Ok(id)
                }
            }
        })
    }

    /// Every study: id and name.
    pub fn studies(&self) -> Result<Vec<(StudyId, String)>> {
        self.read(|c| {
            c.query(
                "SELECT study_id, study_name FROM studies ORDER BY study_id",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.int(0)?, r.text(1)?)))
            .collect()
        })
    }

    /// Creates a trial in `state` (running or waiting) with its parameters, numbering it
    /// atomically. Returns its id and number.
    pub fn create_trial(
        &self,
        study: StudyId,
        state: TrialState,
        params: &Params,
        distributions: &BTreeMap<String, Distribution>,
    ) -> Result<(TrialId, u64)> {
        self.write(|c| insert_trial(c, study, state, params, distributions, None))?
            .ok_or_else(|| self.err("no trial was created"))
    }

    /// Creates a running trial for this process's worker, unless the study already has
    /// `cap` trials that are finished (interrupted ones aside), running or waiting: checked
    /// in the same transaction, so processes sharing a study never overshoot its budget.
    /// The trial's first heartbeat is written in that transaction too, so a worker killed
    /// at any moment after it leaves a trial that goes stale, never one that runs forever.
    pub fn create_trial_within(
        &self,
        study: StudyId,
        params: &Params,
        distributions: &BTreeMap<String, Distribution>,
        cap: usize,
    ) -> Result<Option<(TrialId, u64)>> {
        self.write(|c| {
            let created = insert_trial(
                c,
                study,
                TrialState::Running,
                params,
                distributions,
                Some(cap),
            )?;
            if let Some((id, _)) = created {
                beat(c, id)?;
            }
            Ok(created)
        })
    }

    /// Claims the oldest waiting trial of `study` (sets it running, with its first
    /// heartbeat); returns its id and number. Atomic across workers.
    pub fn claim_waiting(&self, study: StudyId) -> Result<Option<(TrialId, u64)>> {
        self.write(|c| {
            let row = c.query_opt(
                "SELECT trial_id, number FROM trials WHERE study_id = ?1 AND state = 'WAITING' ORDER BY trial_id LIMIT 1",
                values![study],
            )?;
            let Some(row) = row else {
                return Ok(None);
            };
            let (id, number) = (row.int(0)?, row.int(1)?);
            c.execute(
                "UPDATE trials SET state = 'RUNNING', datetime_start = ?2 WHERE trial_id = ?1",
                values![id, now()],
            )?;
            beat(c, id)?;
            Ok(Some((id, number as u64)))
        })
    }

    /// Records an intermediate value (replacing one at the same step).
    pub fn report(&self, trial: TrialId, step: u64, value: f64) -> Result<()> {
        let (v, kind) = encode_value(value).map_or((None, "NAN"), |(v, k)| (v, k));
        self.read(|c| {
            c.execute(
                "INSERT INTO trial_intermediate_values (trial_id, step, intermediate_value, intermediate_value_type)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (trial_id, step) DO UPDATE SET intermediate_value = excluded.intermediate_value,
                     intermediate_value_type = excluded.intermediate_value_type",
                values![trial, step as i64, v, kind],
            )
        })?;
        Ok(())
    }

    /// Sets a trial attribute: `user` ones are the user's (metrics, checkpoint paths),
    /// the others kiln's (reasons, budgets).
    pub fn set_trial_attr(
        &self,
        trial: TrialId,
        key: &str,
        value: &serde_json::Value,
        user: bool,
    ) -> Result<()> {
        let table = if user {
            "trial_user_attributes"
        } else {
            "trial_system_attributes"
        };
        self.read(|c| {
            c.execute(
                &format!(
                    "INSERT INTO {table} (trial_id, \"key\", value_json) VALUES (?1, ?2, ?3)
                     ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json"
                ),
                values![trial, key, value.to_string()],
            )
        })?;
        Ok(())
    }

    /// Finishes a running trial: state, values (complete trials) and reason, in one
    /// transaction. A trial that is no longer running (taken for dead by another process
    /// and re-enqueued, or told already) is left as it is, and `false` returned: a finished
    /// trial never changes, which is what lets [`TrialView`](super::TrialView) keep it.
    pub fn finish_trial(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        reason: Option<&str>,
    ) -> Result<bool> {
        self.finish_trial_with_attrs(trial, state, values, reason, &serde_json::Map::new())
    }

    /// [`Storage::finish_trial`], setting user attributes (metrics, the checkpoint) in the
    /// same transaction.
    pub fn finish_trial_with_attrs(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        reason: Option<&str>,
        attrs: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<bool> {
        self.write(|c| {
            let running = c
                .query_opt(
                    "SELECT 1 FROM trials WHERE trial_id = ?1 AND state = 'RUNNING'",
                    values![trial],
                )?
                .is_some();
            if !running {
                return Ok(false);
            }
            for (key, value) in attrs {
                c.execute(
                    "INSERT INTO trial_user_attributes (trial_id, \"key\", value_json) VALUES (?1, ?2, ?3)
                     ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
                    values![trial, key.as_str(), value.to_string()],
                )?;
            }
            if let Some(values) = values {
                for (i, v) in values.iter().enumerate() {
                    let (v, kind) = encode_value(*v).ok_or_else(|| {
                        "a trial value is NaN; record the trial as failed instead".to_string()
                    })?;
                    c.execute(
                        "INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (trial_id, objective) DO UPDATE SET value = excluded.value, value_type = excluded.value_type",
                        values![trial, i as i64, v, kind],
                    )?;
                }
            }
            if let Some(reason) = reason {
                c.execute(
                    "INSERT INTO trial_system_attributes (trial_id, \"key\", value_json) VALUES (?1, 'fail_reason', ?2)
                     ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
                    values![trial, serde_json::Value::String(reason.to_string()).to_string()],
                )?;
            }
            c.execute(
                "UPDATE trials SET state = ?2, datetime_complete = ?3 WHERE trial_id = ?1",
                values![trial, state.as_str(), now()],
            )?;
            Ok(true)
        })
    }

    /// The study's directions, in objective order.
    pub fn directions(&self, study: StudyId) -> Result<Vec<Direction>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT direction FROM study_directions WHERE study_id = ?1 ORDER BY objective",
                values![study],
            )?
            .iter()
            .map(|r| r.text(0))
            .collect::<std::result::Result<Vec<String>, String>>()
        })?;
        rows.iter()
            .map(|d| match d.as_str() {
                "MINIMIZE" => Ok(Direction::Minimize),
                "MAXIMIZE" => Ok(Direction::Maximize),
                other => Err(self.err(format!("unknown direction `{other}`"))),
            })
            .collect()
    }

    /// Every trial of `study`, by number.
    pub fn trials(&self, study: StudyId) -> Result<Vec<FrozenTrial>> {
        self.trials_from(study, 0)
    }

    /// Trial `number` of `study`, if it has one.
    pub fn trial(&self, study: StudyId, number: u64) -> Result<Option<FrozenTrial>> {
        Ok(self
            .trials_from(study, number)?
            .into_iter()
            .find(|t| t.number == number))
    }

    /// `study`'s trials numbered `from` or more, in number order.
    pub(super) fn trials_from(&self, study: StudyId, from: u64) -> Result<Vec<FrozenTrial>> {
        let mut conn = self.conn();
        let from = from as i64;
        let mut q = |sql: &str| -> Result<Vec<Row>> {
            conn.query(sql, values![study, from])
                .map_err(|e| self.err(e))
        };
        let e = |e: String| self.err(e);
        let mut trials: BTreeMap<i64, FrozenTrial> = BTreeMap::new();
        for r in q(
            "SELECT trial_id, number, state FROM trials WHERE study_id = ?1 AND number >= ?2 ORDER BY number",
        )? {
            let (id, number, state) = (
                r.int(0).map_err(e)?,
                r.opt_int(1).map_err(e)?,
                r.text(2).map_err(e)?,
            );
            let state = TrialState::parse(&state)
                .ok_or_else(|| self.err(format!("trial {id}: unknown state `{state}`")))?;
            let number =
                number.ok_or_else(|| self.err(format!("trial {id} has no number")))? as u64;
            let mut t = FrozenTrial::running(number, Params::new());
            t.state = state;
            trials.insert(id, t);
        }
        for r in q("SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json FROM trial_params p
                    JOIN trials t ON t.trial_id = p.trial_id WHERE t.study_id = ?1 AND t.number >= ?2")?
        {
            let (id, name, internal, dist_json) = (
                r.int(0).map_err(e)?,
                r.text(1).map_err(e)?,
                r.real(2).map_err(e)?,
                r.text(3).map_err(e)?,
            );
            let dist = serde_json::from_str(&dist_json)
                .ok()
                .and_then(|v| Distribution::from_optuna_json(&v))
                .ok_or_else(|| {
                    self.err(format!("trial {id}: unreadable distribution of `{name}`"))
                })?;
            let value: ParamValue = dist.from_internal(internal).ok_or_else(|| {
                self.err(format!(
                    "trial {id}: value {internal} of `{name}` is outside {dist}"
                ))
            })?;
            if let Some(t) = trials.get_mut(&id) {
                t.params.insert(name.clone(), value);
                t.distributions.insert(name, dist);
            }
        }
        for r in q("SELECT v.trial_id, v.objective, v.value, v.value_type FROM trial_values v
                    JOIN trials t ON t.trial_id = v.trial_id WHERE t.study_id = ?1 AND t.number >= ?2 ORDER BY v.objective")?
        {
            let (id, v, kind) = (r.int(0).map_err(e)?, r.opt_real(2).map_err(e)?, r.text(3).map_err(e)?);
            if let Some(t) = trials.get_mut(&id) {
                t.values
                    .get_or_insert_with(Vec::new)
                    .push(decode_value(v, &kind));
            }
        }
        for r in q("SELECT i.trial_id, i.step, i.intermediate_value, i.intermediate_value_type
                    FROM trial_intermediate_values i JOIN trials t ON t.trial_id = i.trial_id WHERE t.study_id = ?1 AND t.number >= ?2")?
        {
            let (id, step, v, kind) = (
                r.int(0).map_err(e)?,
                r.int(1).map_err(e)?,
                r.opt_real(2).map_err(e)?,
                r.text(3).map_err(e)?,
            );
            if let Some(t) = trials.get_mut(&id) {
                t.intermediate
                    .insert(step.max(0) as u64, decode_value(v, &kind));
            }
        }
        for (table, user) in [
            ("trial_user_attributes", true),
            ("trial_system_attributes", false),
        ] {
            let rows = q(&format!(
                "SELECT a.trial_id, a.\"key\", a.value_json FROM {table} a
                 JOIN trials t ON t.trial_id = a.trial_id WHERE t.study_id = ?1 AND t.number >= ?2"
            ))?;
            for r in rows {
                let (id, key, json) = (
                    r.int(0).map_err(e)?,
                    r.text(1).map_err(e)?,
                    r.text(2).map_err(e)?,
                );
                let Some(t) = trials.get_mut(&id) else {
                    continue;
                };
                let value: serde_json::Value =
                    serde_json::from_str(&json).unwrap_or(serde_json::Value::String(json));
                if !user && key == "fail_reason" {
                    t.reason = value.as_str().map(str::to_string);
                } else if user {
                    t.attrs.insert(key, value);
                } else {
                    t.attrs.insert(format!("system:{key}"), value);
                }
            }
        }
        let mut out: Vec<FrozenTrial> = trials.into_values().collect();
        out.sort_by_key(|t| t.number);
        Ok(out)
    }

    /// The row id of trial `number` of `study`.
    pub fn trial_id(&self, study: StudyId, number: u64) -> Result<TrialId> {
        self.read(|c| {
            c.query_one(
                "SELECT trial_id FROM trials WHERE study_id = ?1 AND number = ?2",
                values![study, number as i64],
            )?
            .int(0)
        })
    }

    /// Sets a study system attribute (kiln's: strategy state, …).
    pub fn set_study_attr(
        &self,
        study: StudyId,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<()> {
        self.read(|c| {
            c.execute(
                "INSERT INTO study_system_attributes (study_id, \"key\", value_json) VALUES (?1, ?2, ?3)
                 ON CONFLICT (study_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
                values![study, key, value.to_string()],
            )
        })?;
        Ok(())
    }

    /// A study system attribute.
    pub fn study_attr(&self, study: StudyId, key: &str) -> Result<Option<serde_json::Value>> {
        let json = self.read(|c| {
            c.query_opt(
                "SELECT value_json FROM study_system_attributes WHERE study_id = ?1 AND \"key\" = ?2",
                values![study, key],
            )?
            .map(|r| r.text(0))
            .transpose()
        })?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| self.err(format!("attribute `{key}`: {e}")))
        })
        .transpose()
    }
}

/// Inserts a trial and its parameters, numbered `0..n` within the study; `None` when `cap`
/// trials (interrupted ones aside) already count against the budget.
fn insert_trial(
    c: &mut Conn,
    study: StudyId,
    state: TrialState,
    params: &Params,
    distributions: &BTreeMap<String, Distribution>,
    cap: Option<usize>,
) -> std::result::Result<Option<(TrialId, u64)>, String> {
    if let Some(cap) = cap {
        let counted = c
            .query_one(
                "SELECT COUNT(*) FROM trials t WHERE t.study_id = ?1 AND NOT EXISTS (
                         SELECT 1 FROM trial_system_attributes a
                         WHERE a.trial_id = t.trial_id AND a.\"key\" = 'kiln:interrupted')",
                values![study],
            )?
            .int(0)?;
        if counted as usize >= cap {
            return Ok(None);
        }
    }
    let number = c
        .query_one(
            "SELECT COUNT(*) FROM trials WHERE study_id = ?1",
            values![study],
        )?
        .int(0)?;
    let start = (state == TrialState::Running).then(now);
    let id = c
        .query_one(
            "INSERT INTO trials (number, study_id, state, datetime_start) VALUES (?1, ?2, ?3, ?4)
                 RETURNING trial_id",
            values![number, study, state.as_str(), start],
        )?
        .int(0)?;
    for (name, value) in params {
        let dist = distributions
            .get(name)
            .ok_or_else(|| format!("parameter `{name}` has no distribution"))?;
        let internal = dist
            .to_internal(value)
            .ok_or_else(|| format!("value {value} of `{name}` is outside {dist}"))?;
        c.execute(
                "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) VALUES (?1, ?2, ?3, ?4)",
                values![id, name.as_str(), internal, dist.to_optuna_json().to_string()],
            )?;
    }
    Ok(Some((id, number as u64)))
}
