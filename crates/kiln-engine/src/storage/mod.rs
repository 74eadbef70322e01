//! Study storage in Optuna's RDB schema, in a SQLite file or on a PostgreSQL server.
//!
//! The tables are exactly those Optuna 5 creates (`optuna_schema.sql` is its SQLite DDL,
//! `optuna_schema_postgres.sql` its PostgreSQL one, with native enums), so
//! `optuna.load_study(storage="sqlite:///RUN/kiln.db")` — or the same `postgresql://` URL
//! kiln was given — and optuna-dashboard read a kiln study unchanged. `db.rs` is the only
//! code that knows which database it talks to. kiln's own data lives in attribute rows (`kiln:`-prefixed system
//! attributes, user attributes for metrics and checkpoints) and in `kiln_`-prefixed tables
//! that Optuna ignores. Every value reaches SQL as a bound parameter.
//!
//! Encodings (checked against Optuna 5.0.0): enums as upper-case names; values ±inf as
//! `NULL` with `INF_POS`/`INF_NEG`, NaN intermediates as `NULL` with `NAN`; parameters in
//! Optuna's internal representation (categoricals by index) with `distribution_json`;
//! datetimes as naive UTC `%Y-%m-%d %H:%M:%S.%f`; trial numbers `0..n` per study, assigned
//! inside a writer transaction (SQLite's immediate transaction, a PostgreSQL advisory lock)
//! so concurrent writers, on any host, never duplicate one.

mod db;
mod heartbeat;
mod kiln_tables;
mod open;
mod study;
mod view;

pub use heartbeat::STALE_REASON;
pub use kiln_tables::{HealthRow, StoredStage};
pub use open::{Storage, is_postgres_url, scratch_schema};
pub use study::{StudyId, TrialId};
pub use view::TrialView;

#[cfg(test)]
mod tests;
