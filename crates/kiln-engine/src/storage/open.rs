//! Opening a study database (a SQLite file or a PostgreSQL URL), creating its schema, and
//! the sections that order writers across processes and hosts.

use super::db::{Conn, TIME_FORMAT, pg_error, values};
use crate::error::{EngineError, Result};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const OPTUNA_SCHEMA: &str = include_str!("optuna_schema.sql");
const OPTUNA_SCHEMA_POSTGRES: &str = include_str!("optuna_schema_postgres.sql");
/// Optuna's schema version and the alembic head it checks on load.
const SCHEMA_VERSION: i64 = 12;
const ALEMBIC_HEAD: &str = "v3.2.0.a";

/// The key of the advisory lock [`Storage::exclusive`] takes on PostgreSQL ("klnc").
const CLAIM_KEY: i64 = 0x6B6C_6E63;

/// A study database: a SQLite file, or a PostgreSQL database that processes on several hosts
/// share. One connection per `Storage`, shared by the worker threads of a process.
pub struct Storage {
    conn: Mutex<Conn>,
    /// The file, or the URL without its password: what errors name.
    location: PathBuf,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.location)
            .finish()
    }
}

pub(super) fn now() -> String {
    chrono::Utc::now().format(TIME_FORMAT).to_string()
}

/// Whether `location` names a PostgreSQL server rather than a file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgresql://") || location.starts_with("postgres://")
}

/// `url` with any password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_string(),
    };
    if tail.is_empty() && !rest.contains('/') {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}/{tail}")
    }
}

impl Storage {
    /// Opens the study database at `location`: a `postgresql://` (or `postgres://`) URL, or
    /// the path of a SQLite file (created if needed). Either gets Optuna's schema if it has
    /// none yet.
    pub fn open_location(location: &str) -> Result<Self> {
        if is_postgres_url(location) {
            Storage::connect(location)
        } else {
            Storage::open(Path::new(location))
        }
    }

    /// Opens (creating if needed) the SQLite database at `path` with Optuna's schema.
    pub fn open(path: &Path) -> Result<Self> {
        let err = |e: rusqlite::Error| EngineError::Storage {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let conn = rusqlite::Connection::open(path).map_err(err)?;
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
            conn: Mutex::new(Conn::Sqlite(conn)),
            location: path.to_path_buf(),
        };
        storage.init_schema()?;
        Ok(storage)
    }

    /// Connects to the PostgreSQL database at `url` (libpq's URL form), creating Optuna's
    /// schema there if it has none.
    pub fn connect(url: &str) -> Result<Self> {
        let location = PathBuf::from(redact(url));
        let err = |message: String| EngineError::Storage {
            path: location.clone(),
            message,
        };
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| err(format!("not a PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // A host cut off from the server must find out, not block for the kernel's ~15
        // minutes of retransmissions: unacknowledged writes fail after 30 s and a silent
        // connection is probed after 10 s, unless the URL says otherwise. The stage then
        // fails with a storage error, and the other hosts re-run its trial after the grace.
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(30));
        }
        if !url.contains("keepalives") {
            config
                .keepalives(true)
                .keepalives_idle(Duration::from_secs(10))
                .keepalives_interval(Duration::from_secs(5))
                .keepalives_retries(3);
        }
        let client = config
            .connect(postgres::NoTls)
            .map_err(|e| err(format!("cannot connect: {}", pg_error(&e))))?;
        let storage = Storage {
            conn: Mutex::new(Conn::Postgres(Box::new(client))),
            location,
        };
        storage.init_schema()?;
        Ok(storage)
    }

    /// The database file, or the server's URL without its password.
    pub fn path(&self) -> &Path {
        &self.location
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn err(&self, e: impl std::fmt::Display) -> EngineError {
        EngineError::Storage {
            path: self.location.clone(),
            message: e.to_string(),
        }
    }

    /// Runs `f` in a writer transaction (see `db.rs`), naming this database in errors.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> std::result::Result<T, String>,
    ) -> Result<T> {
        self.conn().write(f).map_err(|e| self.err(e))
    }

    /// Runs `f` while no other process sharing this database runs an `exclusive` section
    /// (threads of one process are the caller's to order). The tune stage reads the study,
    /// asks its strategy and creates the trial inside one, so two processes never propose
    /// the same point from the same view of the study. The lock is the server's
    /// session-level advisory lock on PostgreSQL, and an OS file lock on `DB-claim` beside a
    /// SQLite file; both go with the process if it dies.
    pub fn exclusive<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let is_postgres = self.conn().is_postgres();
        if is_postgres {
            self.read(|c| c.execute("SELECT pg_advisory_lock(?1)", values![CLAIM_KEY]))?;
            let out = f();
            let unlocked =
                self.read(|c| c.execute("SELECT pg_advisory_unlock(?1)", values![CLAIM_KEY]));
            let v = out?;
            unlocked?;
            return Ok(v);
        }
        let mut name = self.location.clone().into_os_string();
        name.push("-claim");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&name)
            .map_err(|e| self.err(format!("claim lock {}: {e}", Path::new(&name).display())))?;
        file.lock()
            .map_err(|e| self.err(format!("claim lock {}: {e}", Path::new(&name).display())))?;
        let out = f();
        // Closing the file releases the lock too; unlocking first says so.
        let _ = file.unlock();
        out
    }

    /// Runs `f` on the connection, outside a transaction.
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> std::result::Result<T, String>,
    ) -> Result<T> {
        f(&mut self.conn()).map_err(|e| self.err(e))
    }

    fn init_schema(&self) -> Result<()> {
        self.write(|c| {
            let probe = if c.is_postgres() {
                "SELECT COUNT(*) FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = 'studies'"
            } else {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'studies'"
            };
            let has_tables = c.query_one(probe, &[])?.int(0)? > 0;
            if has_tables {
                let head = c
                    .query_opt("SELECT version_num FROM alembic_version", &[])
                    .map_err(|e| format!("not an Optuna/kiln study database: {e}"))?
                    .map(|r| r.text(0))
                    .transpose()?;
                if head.as_deref().is_some_and(|h| h != ALEMBIC_HEAD) {
                    return Err(format!(
                        "schema revision {head:?} is not Optuna's {ALEMBIC_HEAD}; this kiln cannot use it"
                    ));
                }
            } else {
                c.batch(if c.is_postgres() {
                    OPTUNA_SCHEMA_POSTGRES
                } else {
                    OPTUNA_SCHEMA
                })?;
                c.execute(
                    "INSERT INTO version_info (version_info_id, schema_version, library_version) VALUES (1, ?1, ?2)",
                    values![SCHEMA_VERSION, format!("kiln-{}", env!("CARGO_PKG_VERSION"))],
                )?;
                c.execute(
                    "INSERT INTO alembic_version (version_num) VALUES (?1)",
                    values![ALEMBIC_HEAD],
                )?;
            }
            super::kiln_tables::create(c)
        })
    }
}

/// Creates a new, empty schema `name` on the PostgreSQL server at `url` and returns the URL
/// that keeps a study there (libpq's `options=-c search_path=…`). For tests and throwaway
/// studies that must not see each other on a shared server.
pub fn scratch_schema(url: &str, name: &str) -> Result<String> {
    let err = |message: String| EngineError::Storage {
        path: PathBuf::from(redact(url)),
        message,
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(err(format!(
            "schema name `{name}`: use letters, digits and _ only"
        )));
    }
    let mut client = url
        .parse::<postgres::Config>()
        .and_then(|c| c.connect(postgres::NoTls))
        .map_err(|e| err(format!("cannot connect: {}", pg_error(&e))))?;
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))
        .map_err(|e| err(pg_error(&e)))?;
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}options=-c%20search_path%3D{name}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            super::redact("postgresql://kiln:s3cret@db.example:5432/studies"),
            "postgresql://kiln:***@db.example:5432/studies"
        );
        assert_eq!(
            super::redact("postgres://kiln@127.0.0.1/kiln"),
            "postgres://kiln@127.0.0.1/kiln"
        );
    }
}
