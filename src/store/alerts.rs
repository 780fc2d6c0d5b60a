//! SQL of the alert engine: alert rows, the outbox, maintenance windows and meta facts.
//!
//! Writes arrive as [`AlertOp`]s through the writer's ops lane (so they are never dropped and
//! commit in order); reads are plain functions on a pooled connection. The row types carry
//! kinds, levels and states as the strings stored, so this module knows nothing of the
//! engine's types.

use super::StoreError;
use crate::time::Millis;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// One alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    /// What it is about; at most one open alert per key.
    pub key: String,
    pub kind: String,
    pub check: String,
    pub rule: Option<String>,
    pub level: String,
    pub state: String,
    pub started_ms: Millis,
    pub resolved_ms: Option<Millis>,
    pub acknowledged_ms: Option<Millis>,
    pub value: Option<f64>,
    pub message: Option<String>,
    /// The engine's own memory of the alert, as JSON.
    pub detail: String,
    pub updated_ms: Millis,
}

/// A new outbox entry.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRow {
    pub id: i64,
    pub notifier: String,
    pub event: String,
    /// The message as JSON.
    pub body: String,
    /// Its mail thread as JSON.
    pub thread: String,
    pub created_ms: Millis,
    pub alert_ids: Vec<i64>,
}

/// How a send attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: i64,
    /// `pending` (will be retried), `sent` or `failed` (given up).
    pub state: &'static str,
    pub attempts: u32,
    pub next_attempt_ms: Option<Millis>,
    pub sent_ms: Option<Millis>,
    pub error: Option<String>,
}

/// A write of the engine, committed through the writer.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertOp {
    /// Inserts the alert, or replaces the row with its id.
    Alert(AlertRow),
    Enqueue(NotificationRow),
    Attempt(Attempt),
    /// A maintenance window that began (recorded once; a repeat is ignored). `check` is the
    /// config index, `None` for every check.
    Maintenance {
        name: String,
        check: Option<usize>,
        start_ms: Millis,
        end_ms: Millis,
    },
    Meta {
        key: String,
        value: String,
    },
}

/// Applies one op inside the writer's transaction; `ids` maps config indexes to check ids.
pub(super) fn apply(tx: &Transaction<'_>, ids: &[i64], op: &AlertOp) -> rusqlite::Result<()> {
    match op {
        AlertOp::Alert(a) => {
            tx.prepare_cached(
                "INSERT INTO alerts (id, alert_key, kind, check_name, rule, level, state, started_ms, resolved_ms,
                     acknowledged_ms, value, message, detail, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (id) DO UPDATE SET level = excluded.level, state = excluded.state,
                     resolved_ms = excluded.resolved_ms, acknowledged_ms = excluded.acknowledged_ms,
                     value = excluded.value, message = excluded.message, detail = excluded.detail,
                     updated_ms = excluded.updated_ms",
            )?
            .execute(params![
                a.id,
                a.key,
                a.kind,
                a.check,
                a.rule,
                a.level,
                a.state,
                a.started_ms,
                a.resolved_ms,
                a.acknowledged_ms,
                a.value,
                a.message,
                a.detail,
                a.updated_ms
            ])?;
        }
        AlertOp::Enqueue(n) => {
            tx.prepare_cached(
                "INSERT INTO notifications (id, notifier, event, body, thread, state, attempts, created_ms, next_attempt_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6)",
            )?
            .execute(params![n.id, n.notifier, n.event, n.body, n.thread, n.created_ms])?;
            let mut link = tx.prepare_cached(
                "INSERT OR IGNORE INTO notification_alerts (notification_id, alert_id) VALUES (?1, ?2)",
            )?;
            for alert in &n.alert_ids {
                link.execute(params![n.id, alert])?;
            }
        }
        AlertOp::Attempt(a) => {
            tx.prepare_cached(
                "UPDATE notifications SET state = ?2, attempts = ?3, next_attempt_ms = ?4,
                     sent_ms = coalesce(?5, sent_ms), error = ?6 WHERE id = ?1",
            )?
            .execute(params![
                a.id,
                a.state,
                a.attempts,
                a.next_attempt_ms,
                a.sent_ms,
                a.error
            ])?;
        }
        AlertOp::Maintenance {
            name,
            check,
            start_ms,
            end_ms,
        } => {
            let check_id = check.and_then(|i| ids.get(i).copied());
            if check.is_some() && check_id.is_none() {
                return Ok(());
            }
            // UNIQUE treats NULLs as distinct, so a window for every check is looked up first.
            let exists: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM maintenance_windows
                     WHERE name = ?1 AND check_id IS ?2 AND start_ms = ?3)",
                )?
                .query_row(params![name, check_id, start_ms], |r| r.get(0))?;
            if !exists {
                tx.prepare_cached(
                    "INSERT INTO maintenance_windows (name, check_id, start_ms, end_ms) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![name, check_id, start_ms, end_ms])?;
            }
        }
        AlertOp::Meta { key, value } => {
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        }
    }
    Ok(())
}

const ALERT_COLUMNS: &str =
    "id, alert_key, kind, check_name, rule, level, state, started_ms, resolved_ms, acknowledged_ms,
     value, message, detail, updated_ms";

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        key: r.get(1)?,
        kind: r.get(2)?,
        check: r.get(3)?,
        rule: r.get(4)?,
        level: r.get(5)?,
        state: r.get(6)?,
        started_ms: r.get(7)?,
        resolved_ms: r.get(8)?,
        acknowledged_ms: r.get(9)?,
        value: r.get(10)?,
        message: r.get(11)?,
        detail: r.get(12)?,
        updated_ms: r.get(13)?,
    })
}

/// Alerts not yet resolved, and resolved ones whose resolution is still to be told, oldest
/// first (the engine's state to resume).
///
/// # Errors
/// SQL errors.
pub fn open_alerts(conn: &Connection) -> Result<Vec<AlertRow>, StoreError> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts
         WHERE state != 'resolved' OR json_extract(detail, '$.resolve_pending') = 1 ORDER BY id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], alert_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An outbox entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNotification {
    pub id: i64,
    pub notifier: String,
    pub event: String,
    pub body: String,
    pub thread: String,
    pub state: String,
    pub attempts: u32,
    pub created_ms: Millis,
    pub next_attempt_ms: Option<Millis>,
    pub sent_ms: Option<Millis>,
    pub error: Option<String>,
    pub alert_ids: Vec<i64>,
}

/// Notifications still to send, oldest first.
///
/// # Errors
/// SQL errors.
pub fn pending_notifications(conn: &Connection) -> Result<Vec<StoredNotification>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT n.id, n.notifier, n.event, n.body, n.thread, n.state, n.attempts, n.created_ms,
                n.next_attempt_ms, n.sent_ms, n.error,
                (SELECT group_concat(alert_id) FROM notification_alerts WHERE notification_id = n.id)
         FROM notifications n WHERE n.state = 'pending' ORDER BY n.id",
    )?;
    let rows = stmt.query_map([], |r| {
        let ids: Option<String> = r.get(11)?;
        Ok(StoredNotification {
            id: r.get(0)?,
            notifier: r.get(1)?,
            event: r.get(2)?,
            body: r.get(3)?,
            thread: r.get(4)?,
            state: r.get(5)?,
            attempts: r.get(6)?,
            created_ms: r.get(7)?,
            next_attempt_ms: r.get(8)?,
            sent_ms: r.get(9)?,
            error: r.get(10)?,
            alert_ids: ids
                .unwrap_or_default()
                .split(',')
                .filter_map(|s| s.parse().ok())
                .collect(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The largest alert and notification ids used so far (0 when none), so new ones continue.
///
/// # Errors
/// SQL errors.
pub fn last_ids(conn: &Connection) -> Result<(i64, i64), StoreError> {
    Ok(conn.query_row(
        "SELECT (SELECT coalesce(max(id), 0) FROM alerts), (SELECT coalesce(max(id), 0) FROM notifications)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// A meta fact.
///
/// # Errors
/// SQL errors.
pub fn meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

/// One notification as the alerts API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationState {
    pub notifier: String,
    pub event: String,
    pub state: String,
    pub attempts: u32,
    pub sent_ms: Option<Millis>,
    pub error: Option<String>,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub check: Option<String>,
    pub state: Option<String>,
    pub limit: u32,
}

/// Alerts, newest first, each with its notifications (oldest first).
///
/// # Errors
/// SQL errors.
pub fn list_alerts(
    conn: &Connection,
    filter: &AlertFilter,
) -> Result<Vec<(AlertRow, Vec<NotificationState>)>, StoreError> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE (?1 IS NULL OR check_name = ?1) AND (?2 IS NULL OR state = ?2)
         ORDER BY started_ms DESC, id DESC LIMIT ?3"
    );
    let alerts: Vec<AlertRow> = conn
        .prepare_cached(&sql)?
        .query_map(params![filter.check, filter.state, filter.limit], alert_row)?
        .collect::<Result<_, _>>()?;
    let mut notes = conn.prepare_cached(
        "SELECT n.notifier, n.event, n.state, n.attempts, n.sent_ms, n.error
         FROM notification_alerts l JOIN notifications n ON n.id = l.notification_id
         WHERE l.alert_id = ?1 ORDER BY n.id",
    )?;
    alerts
        .into_iter()
        .map(|a| {
            let list = notes
                .query_map([a.id], |r| {
                    Ok(NotificationState {
                        notifier: r.get(0)?,
                        event: r.get(1)?,
                        state: r.get(2)?,
                        attempts: r.get(3)?,
                        sent_ms: r.get(4)?,
                        error: r.get(5)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok((a, list))
        })
        .collect()
}

/// Alerts that started in `[from, to)`, oldest first: what a report counts as fired.
///
/// # Errors
/// SQL errors.
pub fn alerts_started(
    conn: &Connection,
    from: Millis,
    to: Millis,
) -> Result<Vec<AlertRow>, StoreError> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE started_ms >= ?1 AND started_ms < ?2 ORDER BY started_ms, id"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![from, to], alert_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One alert by id.
///
/// # Errors
/// SQL errors.
pub fn alert(conn: &Connection, id: i64) -> Result<Option<AlertRow>, StoreError> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], alert_row).optional()?)
}
