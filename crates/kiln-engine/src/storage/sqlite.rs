use crate::error::{EngineError, Result};
use kiln_core::{Direction, Distribution, FrozenTrial, ParamValue, Params, TrialState};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const OPTUNA_SCHEMA: &str = include_str!("optuna_schema.sql");
/// Optuna's schema version and the alembic head it checks on load.
const SCHEMA_VERSION: i64 = 12;
const ALEMBIC_HEAD: &str = "v3.2.0.a";

/// A study's row id.
pub type StudyId = i64;
/// A trial's row id.
pub type TrialId = i64;

/// A study database: one SQLite file, shared by the worker threads of a run.
pub struct Storage {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("path", &self.path).finish()
    }
}

pub(super) fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

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
    /// Opens (creating if needed) the database at `path` with Optuna's schema.
    pub fn open(path: &Path) -> Result<Self> {
        let err = |e: rusqlite::Error| EngineError::Storage {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
        // Switching a new file to WAL takes an exclusive lock and reports "locked" at once
        // instead of waiting on the busy timeout, so two processes opening the same new
        // study both need to retry it.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(err(e)),
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        let storage = Storage {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        };
        storage.init_schema()?;
        Ok(storage)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn err(&self, e: impl std::fmt::Display) -> EngineError {
        EngineError::Storage {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    fn init_schema(&self) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let has_tables: bool = tx
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'studies'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| self.err(e))?
            > 0;
        if has_tables {
            let head: Option<String> = tx
                .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
                .optional()
                .map_err(|e| self.err(format!("not an Optuna/kiln study database: {e}")))?;
            if head.as_deref().is_some_and(|h| h != ALEMBIC_HEAD) {
                return Err(self.err(format!(
                    "schema revision {head:?} is not Optuna's {ALEMBIC_HEAD}; this kiln cannot use it"
                )));
            }
        } else {
            tx.execute_batch(OPTUNA_SCHEMA).map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO version_info (version_info_id, schema_version, library_version) VALUES (1, ?1, ?2)",
                params![SCHEMA_VERSION, format!("kiln-{}", env!("CARGO_PKG_VERSION"))],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO alembic_version (version_num) VALUES (?1)",
                params![ALEMBIC_HEAD],
            )
            .map_err(|e| self.err(e))?;
        }
        super::kiln_tables::create(&tx).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// The study called `name`, created with `directions` if it does not exist. An existing
    /// study with other directions is an error.
    pub fn create_or_load_study(&self, name: &str, directions: &[Direction]) -> Result<StudyId> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT study_id FROM studies WHERE study_name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let id = match existing {
            Some(id) => {
                let mut stmt = tx
                    .prepare("SELECT direction FROM study_directions WHERE study_id = ?1 ORDER BY objective")
                    .map_err(|e| self.err(e))?;
                let stored: Vec<String> = stmt
                    .query_map(params![id], |r| r.get(0))
                    .and_then(|rows| rows.collect())
                    .map_err(|e| self.err(e))?;
                let wanted: Vec<&str> = directions.iter().map(|d| d.as_optuna()).collect();
                if stored != wanted {
                    return Err(self.err(format!(
                        "study `{name}` exists with directions {stored:?}, the pipeline asks for {wanted:?}"
                    )));
                }
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO studies (study_name) VALUES (?1)",
                    params![name],
                )
                .map_err(|e| self.err(e))?;
                let id = tx.last_insert_rowid();
                for (i, d) in directions.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO study_directions (direction, study_id, objective) VALUES (?1, ?2, ?3)",
                        params![d.as_optuna(), id, i as i64],
                    )
                    .map_err(|e| self.err(e))?;
                }
                id
            }
        };
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Every study: id and name.
    pub fn studies(&self) -> Result<Vec<(StudyId, String)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT study_id, study_name FROM studies ORDER BY study_id")
            .map_err(|e| self.err(e))?;
        let rows: Vec<(StudyId, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        Ok(rows)
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
        self.create_trial_within(study, state, params, distributions, None)?
            .ok_or_else(|| self.err("no trial was created"))
    }

    /// [`Storage::create_trial`], unless the study already has `cap` trials that are
    /// finished (interrupted ones aside), running or waiting: checked in the same
    /// transaction, so processes sharing a study never overshoot its budget.
    pub fn create_trial_within(
        &self,
        study: StudyId,
        state: TrialState,
        params: &Params,
        distributions: &BTreeMap<String, Distribution>,
        cap: Option<usize>,
    ) -> Result<Option<(TrialId, u64)>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        if let Some(cap) = cap {
            let counted: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM trials t WHERE t.study_id = ?1 AND NOT EXISTS (
                         SELECT 1 FROM trial_system_attributes a
                         WHERE a.trial_id = t.trial_id AND a.\"key\" = 'kiln:interrupted')",
                    params![study],
                    |r| r.get(0),
                )
                .map_err(|e| self.err(e))?;
            if counted as usize >= cap {
                return Ok(None);
            }
        }
        let number: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM trials WHERE study_id = ?1",
                params![study],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let start = (state == TrialState::Running).then(now);
        tx.execute(
            "INSERT INTO trials (number, study_id, state, datetime_start) VALUES (?1, ?2, ?3, ?4)",
            params![number, study, state.as_str(), start],
        )
        .map_err(|e| self.err(e))?;
        let id = tx.last_insert_rowid();
        for (name, value) in params {
            let dist = distributions
                .get(name)
                .ok_or_else(|| self.err(format!("parameter `{name}` has no distribution")))?;
            let internal = dist
                .to_internal(value)
                .ok_or_else(|| self.err(format!("value {value} of `{name}` is outside {dist}")))?;
            tx.execute(
                "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) VALUES (?1, ?2, ?3, ?4)",
                params![id, name, internal, dist.to_optuna_json().to_string()],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Some((id, number as u64)))
    }

    /// Claims the oldest waiting trial of `study` (sets it running). Atomic across workers.
    pub fn claim_waiting(&self, study: StudyId) -> Result<Option<TrialId>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT trial_id FROM trials WHERE study_id = ?1 AND state = 'WAITING' ORDER BY trial_id LIMIT 1",
                params![study],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(id) = id {
            tx.execute(
                "UPDATE trials SET state = 'RUNNING', datetime_start = ?2 WHERE trial_id = ?1",
                params![id, now()],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Records an intermediate value (replacing one at the same step).
    pub fn report(&self, trial: TrialId, step: u64, value: f64) -> Result<()> {
        let (v, kind) = encode_value(value).map_or((None, "NAN"), |(v, k)| (v, k));
        self.conn()
            .execute(
                "INSERT INTO trial_intermediate_values (trial_id, step, intermediate_value, intermediate_value_type)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (trial_id, step) DO UPDATE SET intermediate_value = excluded.intermediate_value,
                     intermediate_value_type = excluded.intermediate_value_type",
                params![trial, step as i64, v, kind],
            )
            .map_err(|e| self.err(e))?;
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
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO {table} (trial_id, \"key\", value_json) VALUES (?1, ?2, ?3)
                     ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json"
                ),
                params![trial, key, value.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Finishes a trial: state, values (complete trials) and reason, in one transaction.
    pub fn finish_trial(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        reason: Option<&str>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        if let Some(values) = values {
            for (i, v) in values.iter().enumerate() {
                let (v, kind) = encode_value(*v).ok_or_else(|| {
                    self.err("a trial value is NaN; record the trial as failed instead")
                })?;
                tx.execute(
                    "INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (trial_id, objective) DO UPDATE SET value = excluded.value, value_type = excluded.value_type",
                    params![trial, i as i64, v, kind],
                )
                .map_err(|e| self.err(e))?;
            }
        }
        if let Some(reason) = reason {
            tx.execute(
                "INSERT INTO trial_system_attributes (trial_id, \"key\", value_json) VALUES (?1, 'fail_reason', ?2)
                 ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
                params![trial, serde_json::Value::String(reason.to_string()).to_string()],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.execute(
            "UPDATE trials SET state = ?2, datetime_complete = ?3 WHERE trial_id = ?1",
            params![trial, state.as_str(), now()],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// The study's directions, in objective order.
    pub fn directions(&self, study: StudyId) -> Result<Vec<Direction>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT direction FROM study_directions WHERE study_id = ?1 ORDER BY objective",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<String> = stmt
            .query_map(params![study], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
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
        let conn = self.conn();
        let q = |sql: &str| conn.prepare(sql).map_err(|e| self.err(e));
        let mut trials: BTreeMap<i64, FrozenTrial> = BTreeMap::new();
        let mut stmt =
            q("SELECT trial_id, number, state FROM trials WHERE study_id = ?1 ORDER BY number")?;
        let rows = stmt
            .query_map(params![study], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        for (id, number, state) in rows {
            let state = TrialState::parse(&state)
                .ok_or_else(|| self.err(format!("trial {id}: unknown state `{state}`")))?;
            let number =
                number.ok_or_else(|| self.err(format!("trial {id} has no number")))? as u64;
            let mut t = FrozenTrial::running(number, Params::new());
            t.state = state;
            trials.insert(id, t);
        }
        let mut stmt = q("SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json FROM trial_params p
                          JOIN trials t ON t.trial_id = p.trial_id WHERE t.study_id = ?1")?;
        let rows = stmt
            .query_map(params![study], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, f64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        for (id, name, internal, dist_json) in rows {
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
        let mut stmt = q("SELECT v.trial_id, v.objective, v.value, v.value_type FROM trial_values v
                          JOIN trials t ON t.trial_id = v.trial_id WHERE t.study_id = ?1 ORDER BY v.objective")?;
        let rows = stmt
            .query_map(params![study], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<f64>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        for (id, v, kind) in rows {
            if let Some(t) = trials.get_mut(&id) {
                t.values
                    .get_or_insert_with(Vec::new)
                    .push(decode_value(v, &kind));
            }
        }
        let mut stmt = q("SELECT i.trial_id, i.step, i.intermediate_value, i.intermediate_value_type
                          FROM trial_intermediate_values i JOIN trials t ON t.trial_id = i.trial_id WHERE t.study_id = ?1")?;
        let rows = stmt
            .query_map(params![study], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<f64>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))?;
        for (id, step, v, kind) in rows {
            if let Some(t) = trials.get_mut(&id) {
                t.intermediate
                    .insert(step.max(0) as u64, decode_value(v, &kind));
            }
        }
        for (table, user) in [
            ("trial_user_attributes", true),
            ("trial_system_attributes", false),
        ] {
            let mut stmt = q(&format!(
                "SELECT a.trial_id, a.\"key\", a.value_json FROM {table} a
                 JOIN trials t ON t.trial_id = a.trial_id WHERE t.study_id = ?1"
            ))?;
            let rows = stmt
                .query_map(params![study], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|e| self.err(e))?;
            for (id, key, json) in rows {
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
        self.conn()
            .query_row(
                "SELECT trial_id FROM trials WHERE study_id = ?1 AND number = ?2",
                params![study, number as i64],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Sets a study system attribute (kiln's: strategy state, …).
    pub fn set_study_attr(
        &self,
        study: StudyId,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO study_system_attributes (study_id, \"key\", value_json) VALUES (?1, ?2, ?3)
                 ON CONFLICT (study_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
                params![study, key, value.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A study system attribute.
    pub fn study_attr(&self, study: StudyId, key: &str) -> Result<Option<serde_json::Value>> {
        let json: Option<String> = self
            .conn()
            .query_row(
                "SELECT value_json FROM study_system_attributes WHERE study_id = ?1 AND \"key\" = ?2",
                params![study, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| self.err(format!("attribute `{key}`: {e}")))
        })
        .transpose()
    }
}
