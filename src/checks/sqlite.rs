//! `sqlite`: open a database file read-only, run `SELECT 1`, optionally `PRAGMA quick_check`,
//! and optionally take the write lock, so a database another process keeps locked (what
//! stalls healthmon's own store) shows as a failure.

use super::{BuildContext, Check, CheckConfig, FieldError, Outcome};
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize)]
pub struct SqliteConfig {
    /// The database file.
    pub path: PathBuf,
    /// Also run `PRAGMA quick_check` (reads every page: slow on big files).
    #[serde(default)]
    pub quick_check: bool,
    /// Also take the write lock (`BEGIN IMMEDIATE`, then `ROLLBACK`; nothing is written):
    /// unhealthy when another connection holds it for most of the timeout.
    #[serde(default)]
    pub writable: bool,
}

impl CheckConfig for SqliteConfig {
    const KIND: &'static str = "sqlite";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        if self.path.as_os_str().is_empty() {
            return Err(FieldError::new(
                "path",
                "expected the path of a SQLite file",
            ));
        }
        Ok(Arc::new(SqliteCheck {
            path: self.path,
            quick_check: self.quick_check,
            writable: self.writable,
            timeout: ctx.timeout,
        }))
    }
}

#[derive(Debug)]
pub struct SqliteCheck {
    path: PathBuf,
    quick_check: bool,
    writable: bool,
    timeout: Duration,
}

#[async_trait]
impl Check for SqliteCheck {
    async fn probe(&self) -> Outcome {
        let path = self.path.clone();
        let (quick, writable, timeout) = (self.quick_check, self.writable, self.timeout);
        match tokio::task::spawn_blocking(move || {
            let outcome = inspect(&path, quick, timeout)?;
            if writable && outcome.status != super::Status::Unhealthy {
                return write_lock(&path, timeout, outcome);
            }
            Ok(outcome)
        })
        .await
        {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Outcome::unhealthy(format!("{}: {e}", self.path.display())),
            Err(e) => Outcome::unhealthy(format!("sqlite check failed: {e}")),
        }
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }
}

fn inspect(path: &Path, quick_check: bool, timeout: Duration) -> rusqlite::Result<Outcome> {
    // Read-only and without creating the file: a missing database is a failure, not a new file.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(timeout)?;
    let one: i64 = conn.query_row("SELECT 1", [], |r| r.get(0))?;
    if one != 1 {
        return Ok(Outcome::unhealthy(format!("SELECT 1 returned {one}")));
    }
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let size = pages * page_size;
    let mut outcome = Outcome::healthy()
        .with_message(format!(
            "SELECT 1 ok, {}",
            crate::system::human_bytes(size.max(0) as u64)
        ))
        .observe("size_bytes", size);
    if quick_check {
        let mut stmt = conn.prepare("PRAGMA quick_check")?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        let ok = problems.len() == 1 && problems[0] == "ok";
        outcome = outcome.observe("quick_check", if ok { "ok" } else { "failed" });
        if ok {
            outcome.message = Some(format!(
                "SELECT 1 and quick_check ok, {}",
                crate::system::human_bytes(size.max(0) as u64)
            ));
        }
        if !ok {
            let first = problems.first().cloned().unwrap_or_default();
            return Ok(Outcome {
                status: super::Status::Unhealthy,
                message: Some(format!("quick_check: {first}")),
                ..outcome
            });
        }
    }
    Ok(outcome)
}

/// Takes and releases the write lock, waiting for it up to most of the timeout (so the answer
/// is this check's, not the runner's cut).
fn write_lock(path: &Path, timeout: Duration, outcome: Outcome) -> rusqlite::Result<Outcome> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let wait = timeout.mul_f64(0.8);
    conn.busy_timeout(wait)?;
    let started = std::time::Instant::now();
    match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => Ok(outcome.observe(
            "write_lock_ms",
            (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
        )),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Ok(Outcome::unhealthy(format!(
                "the database is locked: another connection has held its write lock for more than {}",
                crate::duration::format(wait)
            )))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn a_database_locked_by_another_connection_fails_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t(x);")
            .unwrap();
        let free = write_lock(&path, Duration::from_millis(500), Outcome::healthy()).unwrap();
        assert_eq!(free.status, Status::Healthy);
        assert!(free.observed.contains_key("write_lock_ms"));
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        // Reads still work in WAL mode, so only the write lock shows it.
        assert_eq!(
            inspect(&path, false, Duration::from_millis(500))
                .unwrap()
                .status,
            Status::Healthy
        );
        let locked = write_lock(&path, Duration::from_millis(500), Outcome::healthy()).unwrap();
        assert_eq!(locked.status, Status::Unhealthy);
        assert!(
            locked.message.as_deref().unwrap().contains("locked"),
            "{locked:?}"
        );
        other.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn a_real_database_passes_select_and_quick_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        let out = inspect(&path, true, Duration::from_secs(1)).unwrap();
        assert_eq!(out.status, Status::Healthy);
        assert_eq!(out.observed["quick_check"], "ok");
    }

    #[test]
    fn a_missing_file_fails_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.db");
        assert!(inspect(&path, false, Duration::from_secs(1)).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn a_file_that_is_not_sqlite_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = inspect(&path, false, Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("not a database"), "{err}");
    }
}
