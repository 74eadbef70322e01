//! Study storage in Optuna's RDB schema.
//!
//! The tables are exactly those Optuna 5 creates (`optuna_schema.sql` is its DDL), so
//! `optuna.load_study(storage="sqlite:///RUN/kiln.db")` and optuna-dashboard read a kiln
//! study unchanged. kiln's own data lives in attribute rows (`kiln:`-prefixed system
//! attributes, user attributes for metrics and checkpoints) and in `kiln_`-prefixed tables
//! that Optuna ignores. Every value reaches SQL as a bound parameter.
//!
//! Encodings (checked against Optuna 5.0.0): enums as upper-case names; values ±inf as
//! `NULL` with `INF_POS`/`INF_NEG`, NaN intermediates as `NULL` with `NAN`; parameters in
//! Optuna's internal representation (categoricals by index) with `distribution_json`;
//! datetimes as naive UTC `%Y-%m-%d %H:%M:%S.%f`; trial numbers `0..n` per study, assigned
//! inside an immediate transaction so concurrent writers never duplicate one.

mod heartbeat;
mod kiln_tables;
mod sqlite;

pub use heartbeat::STALE_REASON;
pub use kiln_tables::{HealthRow, StoredStage};
pub use sqlite::{Storage, StudyId, TrialId};

#[cfg(test)]
mod tests;
