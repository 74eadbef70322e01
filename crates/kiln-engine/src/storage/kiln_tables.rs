//! kiln's own tables, beside Optuna's (which ignores them): stage outputs with the hash of
//! the configuration that produced them, network-health probes per epoch, and the
//! prediction cache (a saved model's class probabilities on a split, with the fingerprint of
//! the checkpoint and split contents they were computed from).

use super::Storage;
use super::db::{Conn, values};
use super::open::now;
use crate::error::Result;

const KILN_TABLES: &str = "
CREATE TABLE IF NOT EXISTS kiln_stage_outputs (
    run_name VARCHAR(512) NOT NULL,
    stage VARCHAR(512) NOT NULL,
    output_json TEXT NOT NULL,
    datetime_complete DATETIME NOT NULL,
    PRIMARY KEY (run_name, stage)
);
CREATE TABLE IF NOT EXISTS kiln_health (
    run_name VARCHAR(512) NOT NULL,
    stage VARCHAR(512) NOT NULL,
    trial_number INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    health_json TEXT NOT NULL,
    PRIMARY KEY (run_name, stage, trial_number, epoch)
);
CREATE TABLE IF NOT EXISTS kiln_predictions (
    run_name VARCHAR(512) NOT NULL,
    checkpoint VARCHAR(1024) NOT NULL,
    split VARCHAR(16) NOT NULL,
    fingerprint VARCHAR(64) NOT NULL,
    num_classes INTEGER NOT NULL,
    probs BLOB NOT NULL,
    PRIMARY KEY (run_name, checkpoint, split)
);";

/// Creates the tables, and adds columns that older kiln databases lack. PostgreSQL spells
/// two types differently; kiln has only ever created current tables there.
pub(super) fn create(c: &mut Conn) -> std::result::Result<(), String> {
    if c.is_postgres() {
        let ddl = KILN_TABLES
            .replace("DATETIME", "TIMESTAMP WITHOUT TIME ZONE")
            .replace("BLOB", "BYTEA");
        c.batch(&ddl)?;
        return c.batch(
            "ALTER TABLE kiln_stage_outputs ADD COLUMN IF NOT EXISTS config_hash VARCHAR(64)",
        );
    }
    c.batch(KILN_TABLES)?;
    let has_hash = c
        .query_one(
            "SELECT COUNT(*) FROM pragma_table_info('kiln_stage_outputs') WHERE name = 'config_hash'",
            &[],
        )?
        .int(0)?
        > 0;
    if !has_hash {
        c.batch("ALTER TABLE kiln_stage_outputs ADD COLUMN config_hash VARCHAR(64)")?;
    }
    Ok(())
}

/// A finished stage's output and the hash of the configuration that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStage {
    /// The output, as JSON.
    pub output: serde_json::Value,
    /// The configuration hash (`None` for databases from before hashes were kept).
    pub config_hash: Option<String>,
}

/// One epoch's network-health record.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthRow {
    /// The stage.
    pub stage: String,
    /// The tune trial, or `None` for a stage's own run.
    pub trial: Option<u64>,
    /// 0-based epoch.
    pub epoch: usize,
    /// The [`kiln_core::train::EpochHealth`], as JSON.
    pub health: serde_json::Value,
}

impl Storage {
    /// Records a pipeline stage's output and its configuration hash.
    pub fn set_stage_output(
        &self,
        run: &str,
        stage: &str,
        output: &serde_json::Value,
        config_hash: &str,
    ) -> Result<()> {
        self.read(|c| {
            c.execute(
                "INSERT INTO kiln_stage_outputs (run_name, stage, output_json, datetime_complete, config_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (run_name, stage) DO UPDATE SET output_json = excluded.output_json,
                     datetime_complete = excluded.datetime_complete, config_hash = excluded.config_hash",
                values![run, stage, output.to_string(), now(), config_hash],
            )
        })?;
        Ok(())
    }

    /// A stage's recorded output.
    pub fn stage_output(&self, run: &str, stage: &str) -> Result<Option<StoredStage>> {
        let row = self.read(|c| {
            c.query_opt(
                "SELECT output_json, config_hash FROM kiln_stage_outputs WHERE run_name = ?1 AND stage = ?2",
                values![run, stage],
            )?
            .map(|r| Ok((r.text(0)?, r.opt_text(1)?)))
            .transpose()
        })?;
        row.map(|(j, config_hash)| {
            let output = serde_json::from_str(&j)
                .map_err(|e| self.err(format!("stage `{stage}` output: {e}")))?;
            Ok(StoredStage {
                output,
                config_hash,
            })
        })
        .transpose()
    }

    /// Every recorded stage output of run `run`, in completion order.
    pub fn stage_outputs(&self, run: &str) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT stage, output_json FROM kiln_stage_outputs WHERE run_name = ?1 ORDER BY datetime_complete",
                values![run],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?)))
            .collect::<std::result::Result<Vec<_>, String>>()
        })?;
        rows.into_iter()
            .map(|(s, j)| Ok((s, serde_json::from_str(&j).map_err(|e| self.err(e))?)))
            .collect()
    }

    /// The names of every run with recorded stage outputs.
    pub fn runs(&self) -> Result<Vec<String>> {
        self.read(|c| {
            c.query(
                "SELECT DISTINCT run_name FROM kiln_stage_outputs ORDER BY run_name",
                &[],
            )?
            .iter()
            .map(|r| r.text(0))
            .collect()
        })
    }

    /// Records one epoch's health (replacing an earlier record of the same epoch).
    pub fn record_health(&self, run: &str, row: &HealthRow) -> Result<()> {
        let trial = row.trial.map_or(-1, |t| t as i64);
        self.read(|c| {
            c.execute(
                "INSERT INTO kiln_health (run_name, stage, trial_number, epoch, health_json)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (run_name, stage, trial_number, epoch) DO UPDATE SET health_json = excluded.health_json",
                values![run, row.stage.as_str(), trial, row.epoch as i64, row.health.to_string()],
            )
        })?;
        Ok(())
    }

    /// Every health record of run `run`, by stage, trial and epoch.
    pub fn health(&self, run: &str) -> Result<Vec<HealthRow>> {
        let rows = self.read(|c| {
            c.query(
                "SELECT stage, trial_number, epoch, health_json FROM kiln_health WHERE run_name = ?1
                 ORDER BY stage, trial_number, epoch",
                values![run],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.int(1)?, r.int(2)?, r.text(3)?)))
            .collect::<std::result::Result<Vec<_>, String>>()
        })?;
        rows.into_iter()
            .map(|(stage, trial, epoch, j)| {
                Ok(HealthRow {
                    stage,
                    trial: u64::try_from(trial).ok(),
                    epoch: epoch.max(0) as usize,
                    health: serde_json::from_str(&j).map_err(|e| self.err(e))?,
                })
            })
            .collect()
    }
}

impl Storage {
    /// The cached predictions of `checkpoint` on `split`, if they were computed from the
    /// contents `fingerprint` names; stale or unreadable rows are a miss.
    pub fn prediction(
        &self,
        run: &str,
        checkpoint: &str,
        split: &str,
        fingerprint: &str,
    ) -> Result<Option<kiln_core::Predictions>> {
        let row = self.read(|c| {
            c.query_opt(
                "SELECT fingerprint, num_classes, probs FROM kiln_predictions
                 WHERE run_name = ?1 AND checkpoint = ?2 AND split = ?3",
                values![run, checkpoint, split],
            )?
            .map(|r| Ok((r.text(0)?, r.int(1)?, r.bytes(2)?)))
            .transpose()
        })?;
        Ok(row.and_then(|(f, classes, bytes)| {
            if f != fingerprint || bytes.len() % 4 != 0 {
                return None;
            }
            let probs = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            kiln_core::Predictions::new(usize::try_from(classes).ok()?, probs).ok()
        }))
    }

    /// Stores (or replaces) the predictions of `checkpoint` on `split`.
    pub fn set_prediction(
        &self,
        run: &str,
        checkpoint: &str,
        split: &str,
        fingerprint: &str,
        predictions: &kiln_core::Predictions,
    ) -> Result<()> {
        let bytes: Vec<u8> = predictions
            .probs
            .iter()
            .flat_map(|p| p.to_le_bytes())
            .collect();
        self.read(|c| {
            c.execute(
                "INSERT INTO kiln_predictions (run_name, checkpoint, split, fingerprint, num_classes, probs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (run_name, checkpoint, split) DO UPDATE SET fingerprint = excluded.fingerprint,
                     num_classes = excluded.num_classes, probs = excluded.probs",
                values![run, checkpoint, split, fingerprint, predictions.num_classes as i64, bytes],
            )
        })?;
        Ok(())
    }
}
