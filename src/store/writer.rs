//! The one writer: takes results from a bounded channel and commits them in batches, updating
//! the hourly rollups, incidents and run bookkeeping in the same transaction.
//!
//! It runs on its own thread with its own connection; the channel's bound is the back-pressure
//! that keeps a slow disk from growing memory. It ends when every sender is gone, after
//! committing what it holds, which is how shutdown flushes.

use super::rollup::Rollups;
use super::StoreError;
use crate::checks::Status;
use crate::config::CheckDef;
use crate::incident::{Change, Tracker};
use crate::metrics::Metrics;
use crate::result::CheckResult;
use chrono::Utc;
use rusqlite::{params, Connection};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

type Millis = i64;

fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

/// How the writer batches, accounts time and prunes.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Raw results older than this are deleted.
    pub retention: Duration,
    /// Rollups older than this are deleted; kept for ever when `None`.
    pub rollup_retention: Option<Duration>,
    /// Most results in one transaction.
    pub batch_max: usize,
    /// How long a batch waits for more results after its first.
    pub batch_window: Duration,
    /// How often time is accounted up to now (and the run's last-seen advanced) when idle.
    pub tick_every: Duration,
    /// How often old rows are pruned.
    pub prune_every: Duration,
}

impl WriterSettings {
    pub fn new(retention: Duration, rollup_retention: Option<Duration>) -> Self {
        WriterSettings {
            retention,
            rollup_retention,
            batch_max: 5000,
            // A second keeps each check's rows for one rollup upsert per batch at 1 s intervals,
            // and results still reach the API within about a second.
            batch_window: Duration::from_secs(1),
            tick_every: Duration::from_secs(5),
            prune_every: Duration::from_secs(3600),
        }
    }
}

/// What the writer did, reported when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterReport {
    pub stored: u64,
    /// Results given up on after repeated database errors.
    pub dropped: u64,
}

/// Awaits the writer's end.
pub struct WriterHandle {
    done: oneshot::Receiver<WriterReport>,
}

impl WriterHandle {
    /// Waits until every result sent has been committed (or given up on).
    ///
    /// # Errors
    /// When the writer thread died (panicked) instead of finishing.
    pub async fn finished(self) -> Result<WriterReport, oneshot::error::RecvError> {
        self.done.await
    }
}

/// Where one check's time has been accounted up to, and in which status.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    at: Millis,
    status: Status,
}

enum IncidentOp {
    Open {
        check_id: i64,
        started_ms: Millis,
        confirmed_ms: Millis,
        message: Option<String>,
    },
    Close {
        check_id: i64,
        ended_ms: Millis,
    },
}

/// Everything one transaction writes; kept whole so a failed commit can be retried as is.
#[derive(Default)]
struct Batch {
    rows: Vec<(i64, Arc<CheckResult>)>,
    first_in_run: Vec<(i64, Millis)>,
    incidents: Vec<IncidentOp>,
    rollups: Rollups,
    last_seen_ms: Millis,
}

pub struct Writer {
    conn: Connection,
    run_id: i64,
    /// Database id of each configured check, by config index.
    ids: Vec<i64>,
    trackers: Vec<Tracker>,
    cursors: Vec<Option<Cursor>>,
    seen_in_run: Vec<bool>,
    settings: WriterSettings,
    metrics: Arc<Metrics>,
    report: WriterReport,
}

impl Writer {
    /// Registers this run and the configured checks, and resumes incidents left open.
    ///
    /// # Errors
    /// Any SQL error.
    pub fn new(
        conn: Connection,
        checks: &[Arc<CheckDef>],
        settings: WriterSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let now = now_ms();
        conn.execute(
            "INSERT INTO runs (started_ms, last_seen_ms, version) VALUES (?1, ?1, ?2)",
            params![now, env!("CARGO_PKG_VERSION")],
        )?;
        let run_id = conn.last_insert_rowid();
        let mut ids = Vec::with_capacity(checks.len());
        let mut trackers = Vec::with_capacity(checks.len());
        {
            let mut upsert = conn.prepare(
                "INSERT INTO checks (name, kind, first_seen_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind RETURNING id",
            )?;
            let mut open = conn.prepare(
                "SELECT count(*) FROM incidents WHERE check_id = ?1 AND ended_ms IS NULL",
            )?;
            for def in checks {
                let id: i64 = upsert.query_row(params![def.name, def.kind, now], |r| r.get(0))?;
                let open_incidents: i64 = open.query_row([id], |r| r.get(0))?;
                ids.push(id);
                trackers.push(Tracker::new(
                    def.failure_threshold,
                    def.success_threshold,
                    open_incidents > 0,
                ));
            }
        }
        Ok(Writer {
            conn,
            run_id,
            cursors: vec![None; ids.len()],
            seen_in_run: vec![false; ids.len()],
            ids,
            trackers,
            settings,
            metrics,
            report: WriterReport::default(),
        })
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Starts the writer thread; it consumes `rx` until every sender is dropped.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn(self, rx: mpsc::Receiver<Arc<CheckResult>>) -> std::io::Result<WriterHandle> {
        let runtime = tokio::runtime::Handle::current();
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("healthmon-store".into())
            .spawn(move || {
                let report = self.run(rx, &runtime);
                let _ = done_tx.send(report);
            })?;
        Ok(WriterHandle { done })
    }

    fn run(
        mut self,
        mut rx: mpsc::Receiver<Arc<CheckResult>>,
        runtime: &tokio::runtime::Handle,
    ) -> WriterReport {
        enum Event {
            Result(Arc<CheckResult>),
            Tick,
            Closed,
        }
        let mut next_tick = Instant::now() + self.settings.tick_every;
        // The first prune waits a minute so that starting up stays quick.
        let mut next_prune =
            Instant::now() + Duration::from_secs(60).min(self.settings.prune_every);
        loop {
            let event = runtime.block_on(async {
                tokio::select! {
                    r = rx.recv() => r.map_or(Event::Closed, Event::Result),
                    _ = tokio::time::sleep_until(next_tick) => Event::Tick,
                }
            });
            match event {
                Event::Result(first) => {
                    let (results, closed) = self.collect(first, &mut rx);
                    self.commit_results(results);
                    if closed {
                        break;
                    }
                }
                Event::Tick => {
                    next_tick = Instant::now() + self.settings.tick_every;
                    self.account_until(now_ms());
                    if Instant::now() >= next_prune {
                        next_prune = Instant::now() + self.settings.prune_every;
                        self.prune(now_ms());
                    }
                }
                Event::Closed => break,
            }
        }
        self.finish();
        self.report
    }

    /// Gathers a batch: the first result and whatever arrives within the batch window.
    fn collect(
        &self,
        first: Arc<CheckResult>,
        rx: &mut mpsc::Receiver<Arc<CheckResult>>,
    ) -> (Vec<Arc<CheckResult>>, bool) {
        // Sleeping out the window and then draining costs one wake-up per batch; waiting on
        // the channel would wake this thread for every result.
        std::thread::sleep(self.settings.batch_window);
        let mut batch = vec![first];
        while batch.len() < self.settings.batch_max {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return (batch, true),
            }
        }
        (batch, false)
    }

    fn commit_results(&mut self, results: Vec<Arc<CheckResult>>) {
        let mut batch = Batch {
            last_seen_ms: now_ms(),
            ..Batch::default()
        };
        for r in results {
            let Some(&check_id) = self.ids.get(r.check) else {
                continue;
            };
            let i = r.check;
            let ts = r.started_at.timestamp_millis();
            if !self.seen_in_run[i] {
                self.seen_in_run[i] = true;
                batch.first_in_run.push((check_id, ts));
            }
            let at = match self.cursors[i] {
                Some(c) if ts > c.at => {
                    batch.rollups.add_time(check_id, c.at, ts, c.status);
                    ts
                }
                Some(c) => c.at,
                None => ts,
            };
            self.cursors[i] = Some(Cursor {
                at,
                status: r.status,
            });
            batch
                .rollups
                .add_probe(check_id, ts, r.status, r.response_time.as_micros() as i64);
            let failed = r.status == Status::Unhealthy;
            match self.trackers[i].observe(ts, failed, r.message.as_deref()) {
                Some(Change::Opened {
                    started_ms,
                    confirmed_ms,
                    message,
                }) => batch.incidents.push(IncidentOp::Open {
                    check_id,
                    started_ms,
                    confirmed_ms,
                    message,
                }),
                Some(Change::Closed { ended_ms }) => batch
                    .incidents
                    .push(IncidentOp::Close { check_id, ended_ms }),
                None => {}
            }
            batch.rows.push((check_id, r));
        }
        self.apply(&batch);
    }

    /// Accounts every check's time up to `now` in its current status.
    fn account_until(&mut self, now: Millis) {
        let mut batch = Batch {
            last_seen_ms: now,
            ..Batch::default()
        };
        for (i, cursor) in self.cursors.iter_mut().enumerate() {
            if let Some(c) = cursor {
                if now > c.at {
                    batch.rollups.add_time(self.ids[i], c.at, now, c.status);
                    c.at = now;
                }
            }
        }
        self.apply(&batch);
    }

    /// Commits a batch, retrying with back-off; gives up after about 15 s so that a broken
    /// disk cannot stall the checks behind a full channel.
    fn apply(&mut self, batch: &Batch) {
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=5 {
            match write_batch(&mut self.conn, self.run_id, batch) {
                Ok(()) => {
                    let n = batch.rows.len() as u64;
                    self.report.stored += n;
                    if n > 0 {
                        self.metrics.stored(n);
                    }
                    return;
                }
                Err(e) => {
                    self.metrics.store_error();
                    tracing::error!(error = %e, attempt, results = batch.rows.len(), "Could not write results to the database; retrying.");
                    std::thread::sleep(wait);
                    wait *= 2;
                }
            }
        }
        self.report.dropped += batch.rows.len() as u64;
        tracing::error!(
            results = batch.rows.len(),
            "Gave up writing results after repeated database errors; they are lost."
        );
    }

    fn prune(&mut self, now: Millis) {
        let cutoff = now - self.settings.retention.as_millis() as i64;
        let rollup_cutoff = self
            .settings
            .rollup_retention
            .map(|d| now - d.as_millis() as i64);
        match prune(&self.conn, cutoff, rollup_cutoff) {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "Pruned results older than the retention."),
            Err(e) => tracing::error!(error = %e, "Pruning old results failed."),
        }
    }

    fn finish(&mut self) {
        self.account_until(now_ms());
        let stopped = self
            .conn
            .execute(
                "UPDATE runs SET stopped_ms = ?1, last_seen_ms = ?1 WHERE id = ?2",
                params![now_ms(), self.run_id],
            )
            .and_then(|_| self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);"));
        if let Err(e) = stopped {
            tracing::error!(error = %e, "Could not record the end of this run.");
        }
    }
}

/// Rows per multi-row statement. A statement per row pays for opening and closing its cursors
/// every time; in chunks the writer spends about a fifth less CPU at 200 results a second
/// (bench/probe-cost.sh). 32 rows of 27 values stay far below SQLite's 32,766 parameters.
const CHUNK: usize = 32;

/// `VALUES (?, …), (?, …)`: `rows` groups of `columns` placeholders.
fn values_clause(rows: usize, columns: usize) -> String {
    let group = format!("({})", vec!["?"; columns].join(", "));
    format!("VALUES {}", vec![group; rows].join(", "))
}

const LOG_COLUMNS: &str = "check_id, ts_ms, status, response_us, message, observed, circuit";

fn log_insert(rows: usize) -> String {
    format!(
        "INSERT INTO health_log ({LOG_COLUMNS}) {}",
        values_clause(rows, 7)
    )
}

fn rollup_upsert(rows: usize) -> String {
    let buckets: Vec<String> = (0..super::rollup::BUCKETS)
        .map(|i| format!("b{i:02}"))
        .collect();
    let updates: Vec<String> = buckets
        .iter()
        .map(|b| format!("{b} = {b} + excluded.{b}"))
        .collect();
    format!(
        "INSERT INTO rollups_hourly (check_id, hour_ms, probes, healthy, degraded, unhealthy, healthy_ms, degraded_ms, unhealthy_ms,
             latency_sum_us, latency_min_us, latency_max_us, {cols})
         {vals}
         ON CONFLICT (check_id, hour_ms) DO UPDATE SET
             probes = probes + excluded.probes, healthy = healthy + excluded.healthy,
             degraded = degraded + excluded.degraded, unhealthy = unhealthy + excluded.unhealthy,
             healthy_ms = healthy_ms + excluded.healthy_ms, degraded_ms = degraded_ms + excluded.degraded_ms,
             unhealthy_ms = unhealthy_ms + excluded.unhealthy_ms, latency_sum_us = latency_sum_us + excluded.latency_sum_us,
             latency_min_us = min(coalesce(latency_min_us, excluded.latency_min_us), coalesce(excluded.latency_min_us, latency_min_us)),
             latency_max_us = max(coalesce(latency_max_us, excluded.latency_max_us), coalesce(excluded.latency_max_us, latency_max_us)),
             {updates}",
        cols = buckets.join(", "),
        vals = values_clause(rows, 12 + buckets.len()),
        updates = updates.join(", ")
    )
}

/// The statements for a full chunk and for one row, built once.
static LOG_INSERT: LazyLock<[String; 2]> = LazyLock::new(|| [log_insert(CHUNK), log_insert(1)]);
static ROLLUP_UPSERT: LazyLock<[String; 2]> =
    LazyLock::new(|| [rollup_upsert(CHUNK), rollup_upsert(1)]);

/// Runs `sql[0]` (CHUNK rows) over full chunks of `rows` and `sql[1]` (one row) over the rest.
fn execute_chunked<'a, T, V>(
    tx: &rusqlite::Transaction<'_>,
    sql: &[String; 2],
    rows: &'a [T],
    values: impl Fn(&'a T) -> V,
) -> rusqlite::Result<()>
where
    V: IntoIterator<Item = &'a dyn rusqlite::ToSql>,
{
    let mut chunks = rows.chunks_exact(CHUNK);
    let mut full = tx.prepare_cached(&sql[0])?;
    for chunk in &mut chunks {
        full.execute(rusqlite::params_from_iter(chunk.iter().flat_map(&values)))?;
    }
    let mut one = tx.prepare_cached(&sql[1])?;
    for row in chunks.remainder() {
        one.execute(rusqlite::params_from_iter(values(row)))?;
    }
    Ok(())
}

/// One health_log row, with the values that are computed rather than borrowed.
struct LogRow<'a> {
    check_id: i64,
    ts_ms: i64,
    status: &'static str,
    response_us: i64,
    observed: Option<String>,
    circuit: &'static str,
    result: &'a CheckResult,
}

fn write_batch(conn: &mut Connection, run_id: i64, batch: &Batch) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let rows: Vec<LogRow> = batch
            .rows
            .iter()
            .map(|(check_id, r)| LogRow {
                check_id: *check_id,
                ts_ms: r.started_at.timestamp_millis(),
                status: r.status.as_str(),
                circuit: r.circuit.as_str(),
                response_us: r.response_time.as_micros() as i64,
                // Serialised in place: the map is not cloned into a Value first. A map with
                // string keys always serialises.
                observed: (!r.observed.is_empty())
                    .then(|| serde_json::to_string(&r.observed).ok())
                    .flatten(),
                result: r,
            })
            .collect();
        execute_chunked(&tx, &LOG_INSERT, &rows, |row| {
            [
                &row.check_id as &dyn rusqlite::ToSql,
                &row.ts_ms,
                &row.status,
                &row.response_us,
                &row.result.message,
                &row.observed,
                &row.circuit,
            ]
        })?;
        let mut first = tx.prepare_cached(
            "INSERT OR IGNORE INTO run_checks (run_id, check_id, first_ms) VALUES (?1, ?2, ?3)",
        )?;
        for (check_id, ts) in &batch.first_in_run {
            first.execute(params![run_id, check_id, ts])?;
        }
        for op in &batch.incidents {
            match op {
                IncidentOp::Open {
                    check_id,
                    started_ms,
                    confirmed_ms,
                    message,
                } => {
                    tx.prepare_cached("INSERT INTO incidents (check_id, started_ms, confirmed_ms, message) VALUES (?1, ?2, ?3, ?4)")?
                        .execute(params![check_id, started_ms, confirmed_ms, message])?;
                }
                IncidentOp::Close { check_id, ended_ms } => {
                    tx.prepare_cached("UPDATE incidents SET ended_ms = ?2 WHERE check_id = ?1 AND ended_ms IS NULL")?
                        .execute(params![check_id, ended_ms])?;
                }
            }
        }
        let rollups: Vec<_> = batch.rollups.rows.iter().collect();
        execute_chunked(&tx, &ROLLUP_UPSERT, &rollups, |(key, d)| {
            let head: [&dyn rusqlite::ToSql; 12] = [
                &key.0,
                &key.1,
                &d.probes,
                &d.healthy,
                &d.degraded,
                &d.unhealthy,
                &d.healthy_ms,
                &d.degraded_ms,
                &d.unhealthy_ms,
                &d.latency_sum_us,
                &d.latency_min_us,
                &d.latency_max_us,
            ];
            head.into_iter()
                .chain(d.buckets.iter().map(|b| b as &dyn rusqlite::ToSql))
        })?;
        tx.prepare_cached("UPDATE runs SET last_seen_ms = max(last_seen_ms, ?2) WHERE id = ?1")?
            .execute(params![run_id, batch.last_seen_ms])?;
    }
    tx.commit()
}

/// Deletes raw results before `cutoff` (and rollups before `rollup_cutoff`) in chunks, so the
/// writer never holds the lock for long.
fn prune(
    conn: &Connection,
    cutoff: Millis,
    rollup_cutoff: Option<Millis>,
) -> rusqlite::Result<usize> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM checks")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut delete = conn.prepare(
        "DELETE FROM health_log WHERE id IN
             (SELECT id FROM health_log WHERE check_id = ?1 AND ts_ms < ?2 LIMIT 5000)",
    )?;
    let mut total = 0;
    for id in ids {
        loop {
            let n = delete.execute(params![id, cutoff])?;
            total += n;
            if n == 0 {
                break;
            }
        }
    }
    if let Some(cut) = rollup_cutoff {
        total += conn.execute(
            "DELETE FROM rollups_hourly WHERE hour_ms < ?1",
            [super::rollup::hour_of(cut)],
        )?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::CircuitState;
    use crate::checks::Observed;
    use crate::store::Store;
    use chrono::TimeZone;

    fn setup(dir: &std::path::Path, failure_threshold: u32) -> (Store, Writer, Vec<Arc<CheckDef>>) {
        setup_with(
            dir,
            &format!("[[check]]\nname = \"api\"\nkind = \"memory\"\nfailure_threshold = {failure_threshold}\n"),
        )
    }

    fn setup_with(dir: &std::path::Path, config: &str) -> (Store, Writer, Vec<Arc<CheckDef>>) {
        let config =
            crate::config::parse(config, std::path::Path::new("t.toml"), &|_| None).unwrap();
        let (store, conn) = Store::open(&dir.join("h.db")).unwrap();
        let metrics = Arc::new(Metrics::new(&config.checks));
        let writer = Writer::new(
            conn,
            &config.checks,
            WriterSettings::new(Duration::from_secs(3600), None),
            metrics,
        )
        .unwrap();
        (store, writer, config.checks)
    }

    fn result(at_ms: i64, status: Status) -> Arc<CheckResult> {
        Arc::new(CheckResult {
            check: 0,
            started_at: Utc.timestamp_millis_opt(at_ms).unwrap(),
            response_time: Duration::from_millis(12),
            status,
            message: (status == Status::Unhealthy).then(|| "down".to_string()),
            observed: Observed::new(),
            circuit: CircuitState::Closed,
            consecutive_failures: 0,
            retry_at: None,
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_stores_rows_rollups_and_a_confirmed_incident_together() {
        let dir = tempfile::tempdir().unwrap();
        let (store, writer, _checks) = setup(dir.path(), 2);
        let (tx, rx) = mpsc::channel(16);
        let done = writer.spawn(rx).unwrap();
        let t0 = 1_700_000_000_000; // 22:13:20 UTC, inside one hour
        use Status::*;
        // A one-probe blip at 15 s, then an outage confirmed at 60 s that lasts from 45 s to 75 s.
        for (i, s) in [Healthy, Unhealthy, Healthy, Unhealthy, Unhealthy, Healthy]
            .into_iter()
            .enumerate()
        {
            tx.send(result(t0 + i as i64 * 15_000, s)).await.unwrap();
        }
        drop(tx);
        let report = done.finished().await.unwrap();
        assert_eq!(
            report,
            WriterReport {
                stored: 6,
                dropped: 0
            }
        );

        let conn = store.connection().unwrap();
        let incidents: Vec<(i64, Option<i64>)> = conn
            .prepare("SELECT started_ms, ended_ms FROM incidents")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            incidents,
            vec![(t0 + 45_000, Some(t0 + 75_000))],
            "only the confirmed streak is an incident"
        );
        let (probes, unhealthy, unhealthy_ms): (i64, i64, i64) = conn
            .query_row(
                "SELECT sum(probes), sum(unhealthy), sum(unhealthy_ms) FROM rollups_hourly",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((probes, unhealthy), (6, 3));
        assert_eq!(
            unhealthy_ms, 45_000,
            "time from each unhealthy result to the next"
        );
        let stopped: Option<i64> = conn
            .query_row("SELECT stopped_ms FROM runs", [], |r| r.get(0))
            .unwrap();
        assert!(
            stopped.is_some(),
            "a clean end records when the run stopped"
        );
    }

    #[test]
    fn a_batch_larger_than_a_statement_chunk_stores_every_row_and_rollup_exactly() {
        let dir = tempfile::tempdir().unwrap();
        // 40 checks with two results each: 80 rows (two full chunks and 16 single rows) and
        // 40 rollup rows (one full chunk and 8 single rows).
        let text: String = (0..40)
            .map(|i| format!("[[check]]\nname = \"c{i}\"\nkind = \"memory\"\n"))
            .collect();
        let (store, mut writer, _checks) = setup_with(dir.path(), &text);
        let t0 = 1_700_000_000_000;
        let mut results = Vec::new();
        for round in 0..2_i64 {
            for check in 0..40 {
                let mut observed = Observed::new();
                observed.insert("round".into(), round.into());
                let status = if check == 7 && round == 1 {
                    Status::Unhealthy
                } else {
                    Status::Healthy
                };
                results.push(Arc::new(CheckResult {
                    check,
                    started_at: Utc.timestamp_millis_opt(t0 + round * 1000).unwrap(),
                    response_time: Duration::from_micros(1000 + check as u64),
                    status,
                    message: Some(format!("c{check} r{round}")),
                    observed,
                    circuit: CircuitState::Closed,
                    consecutive_failures: 0,
                    retry_at: None,
                }));
            }
        }
        writer.commit_results(results);
        assert_eq!(writer.report.stored, 80);

        let conn = store.connection().unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM health_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 80);
        // A row from a full chunk and one from the single-row tail keep their own values.
        for (check, round) in [(3_i64, 0_i64), (39, 1)] {
            let (status, us, message, observed): (String, i64, String, String) = conn
                .query_row(
                    "SELECT l.status, l.response_us, l.message, l.observed FROM health_log l
                     JOIN checks c ON c.id = l.check_id WHERE c.name = ?1 AND l.ts_ms = ?2",
                    params![format!("c{check}"), t0 + round * 1000],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            assert_eq!(
                (status.as_str(), us, message, observed),
                (
                    "healthy",
                    1000 + check,
                    format!("c{check} r{round}"),
                    format!("{{\"round\":{round}}}")
                )
            );
        }
        let per_check: Vec<(String, i64, i64, i64)> = conn
            .prepare(
                "SELECT c.name, r.probes, r.unhealthy, r.latency_sum_us FROM rollups_hourly r
                 JOIN checks c ON c.id = r.check_id ORDER BY c.id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(per_check.len(), 40);
        for (i, (name, probes, unhealthy, latency)) in per_check.into_iter().enumerate() {
            let i = i as i64;
            assert_eq!(
                (name, probes, unhealthy, latency),
                (format!("c{i}"), 2, i64::from(i == 7), 2 * (1000 + i))
            );
        }
    }

    #[test]
    fn pruning_deletes_old_raw_results_and_keeps_rollups() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, writer, _) = setup(dir.path(), 3);
        let conn = &writer.conn;
        let id = writer.ids[0];
        for ts in [1_000, 2_000, 5_000_000] {
            conn.execute(
                "INSERT INTO health_log (check_id, ts_ms, status, response_us, circuit) VALUES (?1, ?2, 'healthy', 1, 'closed')",
                params![id, ts],
            )
            .unwrap();
        }
        conn.execute("INSERT INTO rollups_hourly (check_id, hour_ms, probes) VALUES (?1, 0, 2), (?1, 3600000, 1)", [id]).unwrap();
        assert_eq!(prune(conn, 3_000, None).unwrap(), 2);
        let left: i64 = conn
            .query_row("SELECT count(*) FROM health_log", [], |r| r.get(0))
            .unwrap();
        let rollups: i64 = conn
            .query_row("SELECT count(*) FROM rollups_hourly", [], |r| r.get(0))
            .unwrap();
        assert_eq!((left, rollups), (1, 2));
        assert_eq!(
            prune(conn, 3_000, Some(3_600_000)).unwrap(),
            1,
            "rollups go only with rollup_retention"
        );
    }
}
