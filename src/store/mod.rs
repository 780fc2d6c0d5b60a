//! The SQLite health log. All SQL lives in this module.
//!
//! One writer thread owns its own connection and commits results in batches
//! ([`writer`]); readers (the API, `report`) borrow connections from an r2d2 pool. WAL mode
//! lets both proceed at once.

pub mod alerts;
pub mod queries;
pub mod rollup;
pub mod series;
mod settled;
pub mod summary;
pub mod writer;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the directory {dir} for the database: {source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// Not a `source`: rusqlite's message already says what its own source would repeat
    /// ("Error code 14: unable to open database file").
    #[error("cannot open the database {path}: {cause}")]
    Open {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error("cannot migrate the database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database query failed: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The migrations in `migrations/`, applied in order on start.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../migrations/0001_init.sql")),
        M::up(include_str!("../../migrations/0002_alerts.sql")),
    ])
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // NORMAL in WAL mode syncs at checkpoints only: a power cut may lose the last commits
    // but never corrupts the file, and each commit costs no fsync.
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
}

/// Read access to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    path: PathBuf,
    /// The run this process writes, whose coverage extends to "now" rather than to its last
    /// commit. Unset for readers such as `report`.
    current_run: Arc<OnceLock<i64>>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`; returns the store and
    /// the connection reserved for the writer.
    ///
    /// # Errors
    /// When the file cannot be opened or created, or a migration fails.
    pub fn open(path: &Path) -> Result<(Store, Connection), StoreError> {
        let open_err = |cause| StoreError::Open {
            path: path.to_path_buf(),
            cause,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let mut writer = Connection::open(path).map_err(open_err)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(open_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode; readers may wait for the writer.");
        }
        configure(&writer).map_err(open_err)?;
        migrations()
            .to_latest(&mut writer)
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            configure(c)?;
            c.execute_batch("PRAGMA query_only = ON;")
        });
        let pool = r2d2::Pool::builder()
            .max_size(4)
            .min_idle(Some(1))
            .build(manager)?;
        Ok((
            Store {
                pool,
                path: path.to_path_buf(),
                current_run: Arc::default(),
            },
            writer,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Marks `run` as this process's run (see [`queries::Now`]).
    pub fn set_current_run(&self, run: i64) {
        let _ = self.current_run.set(run);
    }

    /// "Now" as the queries need it: the time, and the run still being written.
    pub fn now(&self) -> queries::Now {
        queries::Now {
            ms: chrono::Utc::now().timestamp_millis(),
            run: self.current_run.get().copied(),
        }
    }

    /// Runs a read on a pooled connection, off the async threads.
    ///
    /// # Errors
    /// Pool exhaustion, SQL errors, or the task panicking.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get()?;
            f(&conn)
        })
        .await?
    }

    /// A pooled connection for synchronous callers (the `report` command).
    ///
    /// # Errors
    /// When the pool cannot hand one out.
    pub fn connection(
        &self,
    ) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, StoreError> {
        Ok(self.pool.get()?)
    }
}

/// Registers the configured checks (by name; ids stay stable across runs) and returns their
/// ids in config order.
fn register_checks(
    conn: &Connection,
    checks: &[writer::CheckName],
    now_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut upsert = conn.prepare(
        "INSERT INTO checks (name, kind, first_seen_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind RETURNING id",
    )?;
    checks
        .iter()
        .map(|c| Ok(upsert.query_row(rusqlite::params![c.name, c.kind, now_ms], |r| r.get(0))?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid_and_reopening_is_idempotent() {
        assert!(migrations().validate().is_ok());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/h.db");
        let (_store, conn) = Store::open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        let (_store, conn) = Store::open(&path).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'health_log'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}
