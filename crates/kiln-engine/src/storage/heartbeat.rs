//! Heartbeats (Optuna's `trial_heartbeats` table): how a process tells the others that it
//! is still training a running trial, and how a trial whose worker died is found.
//!
//! As in Optuna, only a trial that has beaten at least once can go stale: a trial asked
//! from outside (`kiln ask`) has no worker kiln knows of and stays running until told.

use super::sqlite::{Storage, StudyId, TrialId, now};
use crate::error::Result;
use kiln_core::TrialState;
use rusqlite::{TransactionBehavior, params};
use std::time::Duration;

/// The reason recorded on a trial failed for going stale.
pub const STALE_REASON: &str =
    "interrupted: its worker stopped beating (killed, crashed or cut off); re-enqueued";

/// A timestamp `age` ago in the storage's format (naive UTC), which orders as text.
fn ago(age: Duration) -> String {
    // A grace longer than the calendar reaches back: nothing is that old.
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
        .map_or_else(
            || "0000-01-01 00:00:00.000000".to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        )
}

impl Storage {
    /// Records that `trial`'s worker is alive now.
    pub fn heartbeat(&self, trial: TrialId) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO trial_heartbeats (trial_id, heartbeat) VALUES (?1, ?2)
                 ON CONFLICT (trial_id) DO UPDATE SET heartbeat = excluded.heartbeat",
                params![trial, now()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Numbers of `study`'s running trials whose last heartbeat is older than `grace`.
    pub fn stale_trials(&self, study: StudyId, grace: Duration) -> Result<Vec<u64>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT t.number FROM trials t JOIN trial_heartbeats h ON h.trial_id = t.trial_id
                 WHERE t.study_id = ?1 AND t.state = 'RUNNING' AND h.heartbeat < ?2
                 ORDER BY t.number",
            )
            .map_err(|e| self.err(e))?;
        let rows: Vec<i64> = stmt
            .query_map(params![study, ago(grace)], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|n| n as u64).collect())
    }

    /// Fails `study`'s stale running trials ([`STALE_REASON`]) and enqueues their
    /// parameters again as waiting trials, so the study evaluates the points it would have
    /// without the interruption. Each is failed only if it is still running at that
    /// moment, so two processes recovering at once re-enqueue it once. Returns how many
    /// this call recovered.
    pub fn recover_stale(&self, study: StudyId, grace: Duration) -> Result<usize> {
        let stale = self.stale_trials(study, grace)?;
        if stale.is_empty() {
            return Ok(0);
        }
        let trials = self.trials(study)?;
        let mut recovered = 0;
        for number in stale {
            let Some(t) = trials.iter().find(|t| t.number == number) else {
                continue;
            };
            let id = self.trial_id(study, number)?;
            if !self.fail_if_running(id)? {
                continue;
            }
            self.set_trial_attr(
                id,
                "kiln:interrupted",
                &serde_json::Value::Bool(true),
                false,
            )?;
            let (new_id, _) =
                self.create_trial(study, TrialState::Waiting, &t.params, &t.distributions)?;
            if let Some(budget) = t.attrs.get("system:kiln:epochs") {
                self.set_trial_attr(new_id, "kiln:epochs", budget, false)?;
            }
            recovered += 1;
        }
        Ok(recovered)
    }

    /// Sets a running trial failed with [`STALE_REASON`]; false if it was no longer
    /// running (another process finished or recovered it first).
    fn fail_if_running(&self, trial: TrialId) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let changed = tx
            .execute(
                "UPDATE trials SET state = 'FAIL', datetime_complete = ?2
                 WHERE trial_id = ?1 AND state = 'RUNNING'",
                params![trial, now()],
            )
            .map_err(|e| self.err(e))?;
        if changed == 1 {
            tx.execute(
                "INSERT INTO trial_system_attributes (trial_id, \"key\", value_json) VALUES (?1, 'fail_reason', ?2)
                 ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
                params![trial, serde_json::Value::String(STALE_REASON.into()).to_string()],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(changed == 1)
    }
}
