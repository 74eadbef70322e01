//! Heartbeats (Optuna's `trial_heartbeats` table): how a process tells the others that it
//! is still training a running trial, and how a trial whose worker died is found.
//!
//! As in Optuna, only a trial that has beaten at least once can go stale: a trial asked
//! from outside (`kiln ask`) has no worker kiln knows of and stays running until told.

use super::db::{Conn, TIME_FORMAT, values};
use super::open::{Storage, now};
use super::study::{StudyId, TrialId};
use crate::error::Result;
use kiln_core::TrialState;
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
            || "0001-01-01 00:00:00.000000".to_string(),
            |t| t.format(TIME_FORMAT).to_string(),
        )
}

/// Records a heartbeat for `trial` now, on `c` (inside the caller's transaction if any).
pub(super) fn beat(c: &mut Conn, trial: TrialId) -> std::result::Result<(), String> {
    c.execute(
        "INSERT INTO trial_heartbeats (trial_id, heartbeat) VALUES (?1, ?2)
         ON CONFLICT (trial_id) DO UPDATE SET heartbeat = excluded.heartbeat",
        values![trial, now()],
    )?;
    Ok(())
}

impl Storage {
    /// Records that `trial`'s worker is alive now.
    pub fn heartbeat(&self, trial: TrialId) -> Result<()> {
        self.read(|c| beat(c, trial))
    }

    /// Numbers of `study`'s running trials whose last heartbeat is older than `grace`.
    pub fn stale_trials(&self, study: StudyId, grace: Duration) -> Result<Vec<u64>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT t.number FROM trials t JOIN trial_heartbeats h ON h.trial_id = t.trial_id
                 WHERE t.study_id = ?1 AND t.state = 'RUNNING' AND h.heartbeat < ?2
                 ORDER BY t.number",
                values![study, ago(grace)],
            )?
            .iter()
            .map(|r| r.int(0))
            .collect::<std::result::Result<Vec<i64>, String>>()
        })?;
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
        let mut recovered = 0;
        for number in stale {
            // One trial read each: recovery runs inside claims, and a long study has many.
            let Some(t) = self.trial(study, number)? else {
                continue;
            };
            let id = self.trial_id(study, number)?;
            if !self.fail_if_running(id)? {
                continue;
            }
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
        self.write(|c| {
            let changed = c.execute(
                "UPDATE trials SET state = 'FAIL', datetime_complete = ?2
                 WHERE trial_id = ?1 AND state = 'RUNNING'",
                values![trial, now()],
            )?;
            if changed == 1 {
                c.execute(
                    "INSERT INTO trial_system_attributes (trial_id, \"key\", value_json) VALUES (?1, 'fail_reason', ?2)
                     ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
                    values![trial, serde_json::Value::String(STALE_REASON.into()).to_string()],
                )?;
                // In the same transaction, so no reader sees it failed but not interrupted.
                c.execute(
                    "INSERT INTO trial_system_attributes (trial_id, \"key\", value_json) VALUES (?1, 'kiln:interrupted', 'true')
                     ON CONFLICT (trial_id, \"key\") DO UPDATE SET value_json = excluded.value_json",
                    values![trial],
                )?;
            }
            Ok(changed == 1)
        })
    }
}
