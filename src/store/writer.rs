//! The one writer: commits what the rest of the daemon hands it, in batches, on its own thread
//! with its own connection. It decides nothing; it keeps the SQL.
//!
//! It is fed through two lanes ([`WriterInput`]):
//! - **results**, a bounded queue. Raw results and their rollups are the bulk of the writes.
//!   When the store is slow or unavailable the queue fills and further results are refused at
//!   once (counted as dropped): the checks never wait for the store.
//! - **ops**, an unbounded queue of [`Op`]s that must never be lost: incident transitions, alert
//!   state, outbox rows. They are few (one per change of state), so no bound is needed, and
//!   each stays pending, retried for as long as the store refuses it, until it is committed.
//!   The committed position is published ([`WriterInput::committed`]) for whoever must not act
//!   before a change is durable (the outbox).
//!
//! The writer ends when every sender is gone, after committing what it holds (within
//! [`WriterSettings::shutdown_grace`] if the store is failing), which is how shutdown flushes.

use super::alerts::{self as alert_sql, AlertOp};
use super::rollup::Rollups;
use super::StoreError;
use crate::checks::Status;
use crate::result::CheckResult;
use crate::time::{now_ms, Millis};
use rusqlite::{params, Connection};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// How the writer batches, accounts time and prunes.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Raw results older than this are deleted.
    pub retention: Duration,
    /// Rollups older than this are deleted; kept for ever when `None`.
    pub rollup_retention: Option<Duration>,
    /// Results that may wait for the writer; beyond that they are dropped, not waited for.
    pub queue: usize,
    /// Most results in one transaction.
    pub batch_max: usize,
    /// How long a batch waits for more results after its first.
    pub batch_window: Duration,
    /// How long a batch started by an op waits for more (ops are rare and someone may be
    /// waiting for them: an acknowledgement, a notification).
    pub op_window: Duration,
    /// How often time is accounted up to now (and the run's last-seen advanced) when idle.
    pub tick_every: Duration,
    /// How often old rows are pruned.
    pub prune_every: Duration,
    /// After the last sender is gone, how long a failing store is still retried.
    pub shutdown_grace: Duration,
    /// How long one write waits for a lock another connection holds before it counts as
    /// failed (and is retried).
    pub busy_timeout: Duration,
}

impl WriterSettings {
    pub fn new(retention: Duration, rollup_retention: Option<Duration>) -> Self {
        WriterSettings {
            retention,
            rollup_retention,
            queue: 10_000,
            batch_max: 5000,
            // A second keeps each check's rows for one rollup upsert per batch at 1 s intervals,
            // and results still reach the API within about a second.
            batch_window: Duration::from_secs(1),
            op_window: Duration::from_millis(20),
            tick_every: Duration::from_secs(5),
            prune_every: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(20),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A change that must reach the store: retried until it is committed.
#[derive(Debug, Clone)]
pub enum Op {
    /// A confirmed incident of the check with this config index.
    IncidentOpened {
        check: usize,
        started_ms: Millis,
        confirmed_ms: Millis,
        first_error: Option<String>,
    },
    /// The open incident of the check ended.
    IncidentResolved { check: usize, ended_ms: Millis },
    /// Alert state, outbox rows, maintenance windows (see [`super::alerts`]); boxed, as an
    /// alert row is far larger than an incident change.
    Alert(Box<AlertOp>),
}

struct Pending {
    seq: u64,
    op: Op,
}

/// How the writer is doing, for `/metrics` and `/health/detailed`.
#[derive(Debug, Default)]
pub struct WriterStats {
    stored: AtomicU64,
    dropped: AtomicU64,
    batches: AtomicU64,
    errors: AtomicU64,
    /// When the current run of failed commits began (ms), 0 while commits succeed.
    failing_since_ms: AtomicI64,
    last_commit_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
}

/// A reading of [`WriterStats`] and of the ops still pending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreHealth {
    /// Results committed.
    pub results_stored: u64,
    /// Results given up on: refused because the queue was full, or still unwritten when a
    /// stop's grace ran out.
    pub results_dropped: u64,
    pub batches: u64,
    /// Failed transactions (each was retried).
    pub errors: u64,
    /// Ops not yet committed, and how long the oldest has waited.
    pub pending_ops: usize,
    pub oldest_pending_seconds: f64,
    /// Since when commits have been failing, if they are.
    pub failing_since_ms: Option<Millis>,
    pub last_commit_ms: Option<Millis>,
    pub last_error: Option<String>,
}

/// Ops handed over but not committed: (seq, when handed over). Kept in seq order.
#[derive(Default)]
struct OpQueue {
    next_seq: u64,
    pending: VecDeque<(u64, Millis)>,
}

struct Shared {
    ops: Mutex<OpQueue>,
    committed: watch::Sender<u64>,
    stats: WriterStats,
}

impl Shared {
    /// Marks every op up to `seq` as committed.
    fn committed(&self, seq: u64) {
        if let Ok(mut q) = self.ops.lock() {
            while q.pending.front().is_some_and(|(s, _)| *s <= seq) {
                q.pending.pop_front();
            }
        }
        self.committed.send_replace(seq);
    }
}

/// What happened to a result handed to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The queue was full (the store is slow or failing); the result is not stored.
    Dropped,
    /// The writer is gone (shutting down).
    Closed,
}

/// The senders' side of the writer; cheap to clone. The writer ends when the last clone is
/// dropped.
#[derive(Clone)]
pub struct WriterInput {
    results: mpsc::Sender<Arc<CheckResult>>,
    ops: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
}

impl WriterInput {
    /// Queues a result without waiting.
    pub fn send_result(&self, result: Arc<CheckResult>) -> Sent {
        match self.results.try_send(result) {
            Ok(()) => Sent::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
                Sent::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Sent::Closed,
        }
    }

    /// Queues an op; it will be committed, however long the store refuses it. Returns its
    /// sequence number (see [`WriterInput::committed`]), or `None` when the writer is gone.
    pub fn send_op(&self, op: Op) -> Option<u64> {
        // One lock around numbering and sending keeps the queue in sequence order.
        let mut q = self.shared.ops.lock().ok()?;
        let seq = q.next_seq + 1;
        self.ops.send(Pending { seq, op }).ok()?;
        q.next_seq = seq;
        q.pending.push_back((seq, now_ms()));
        Some(seq)
    }

    /// The sequence number of the last op committed; every op before it is committed too.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.shared.committed.subscribe()
    }

    /// Waits until op `seq` is committed, or `timeout` passes; true when it is.
    pub async fn wait_committed(&self, seq: u64, timeout: Duration) -> bool {
        self.monitor().wait_committed(seq, timeout).await
    }

    /// A view of the writer's health that does not keep the writer running.
    pub fn monitor(&self) -> StoreMonitor {
        StoreMonitor(self.shared.clone())
    }
}

/// Reads how the writer is doing, for `/metrics` and `/health/detailed`. Unlike
/// [`WriterInput`], holding one does not keep the writer from ending.
#[derive(Clone)]
pub struct StoreMonitor(Arc<Shared>);

impl StoreMonitor {
    /// Waits until op `seq` is committed, or `timeout` passes; true when it is.
    pub async fn wait_committed(&self, seq: u64, timeout: Duration) -> bool {
        let mut rx = self.0.committed.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub fn health(&self) -> StoreHealth {
        let s = &self.0.stats;
        let (pending_ops, oldest) = match self.0.ops.lock() {
            Ok(q) => (q.pending.len(), q.pending.front().map(|(_, at)| *at)),
            Err(_) => (0, None),
        };
        let opt = |v: i64| (v != 0).then_some(v);
        StoreHealth {
            results_stored: s.stored.load(Ordering::Relaxed),
            results_dropped: s.dropped.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            pending_ops,
            oldest_pending_seconds: oldest.map_or(0.0, |at| (now_ms() - at).max(0) as f64 / 1000.0),
            failing_since_ms: opt(s.failing_since_ms.load(Ordering::Relaxed)),
            last_commit_ms: opt(s.last_commit_ms.load(Ordering::Relaxed)),
            last_error: s.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// What the writer did, reported when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterReport {
    pub stored: u64,
    /// Results not stored: refused at a full queue, or unwritten when a stop's grace ran out.
    pub dropped: u64,
    /// Ops still unwritten when a stop's grace ran out (0 unless the store was failing).
    pub ops_lost: u64,
}

/// Awaits the writer's end.
pub struct WriterHandle {
    done: oneshot::Receiver<WriterReport>,
}

impl WriterHandle {
    /// Waits until everything sent has been committed (or given up on at a stop).
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

/// Results, and what they add, for one transaction; kept whole so a failed commit can be
/// retried as it is.
#[derive(Default)]
struct ResultBatch {
    rows: Vec<(i64, Arc<CheckResult>)>,
    first_in_run: Vec<(i64, Millis)>,
    rollups: Rollups,
    last_seen_ms: Millis,
}

impl ResultBatch {
    fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.first_in_run.is_empty() && self.rollups.is_empty()
    }
}

/// A check as the writer registers it.
#[derive(Debug, Clone)]
pub struct CheckName {
    pub name: String,
    pub kind: String,
}

pub struct Writer {
    conn: Connection,
    run_id: i64,
    /// Database id of each configured check, by config index.
    ids: Vec<i64>,
    cursors: Vec<Option<Cursor>>,
    seen_in_run: Vec<bool>,
    settings: WriterSettings,
    shared: Arc<Shared>,
    report: WriterReport,
}

impl Writer {
    /// Registers this run and the configured checks.
    ///
    /// # Errors
    /// Any SQL error.
    pub fn new(
        conn: Connection,
        checks: &[CheckName],
        settings: WriterSettings,
    ) -> Result<Self, StoreError> {
        Self::starting_at(conn, checks, settings, now_ms())
    }

    /// [`Writer::new`] for a run that began at `started_ms` (writing history after the fact,
    /// as the benchmarks and some tests do).
    ///
    /// # Errors
    /// Any SQL error.
    pub fn starting_at(
        conn: Connection,
        checks: &[CheckName],
        settings: WriterSettings,
        started_ms: Millis,
    ) -> Result<Self, StoreError> {
        conn.busy_timeout(settings.busy_timeout)?;
        conn.execute(
            "INSERT INTO runs (started_ms, last_seen_ms, version) VALUES (?1, ?1, ?2)",
            params![started_ms, env!("CARGO_PKG_VERSION")],
        )?;
        let run_id = conn.last_insert_rowid();
        let ids = super::register_checks(&conn, checks, started_ms)?;
        let (committed, _) = watch::channel(0);
        Ok(Writer {
            conn,
            run_id,
            cursors: vec![None; ids.len()],
            seen_in_run: vec![false; ids.len()],
            ids,
            settings,
            shared: Arc::new(Shared {
                ops: Mutex::new(OpQueue::default()),
                committed,
                stats: WriterStats::default(),
            }),
            report: WriterReport::default(),
        })
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Starts the writer thread.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn(self) -> std::io::Result<(WriterInput, WriterHandle)> {
        let (results_tx, results_rx) = mpsc::channel(self.settings.queue.max(1));
        let (ops_tx, ops_rx) = mpsc::unbounded_channel();
        let input = WriterInput {
            results: results_tx,
            ops: ops_tx,
            shared: self.shared.clone(),
        };
        let runtime = tokio::runtime::Handle::current();
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("healthmon-store".into())
            .spawn(move || {
                let report = self.run(
                    Lanes {
                        results: results_rx,
                        ops: ops_rx,
                    },
                    &runtime,
                );
                let _ = done_tx.send(report);
            })?;
        Ok((input, WriterHandle { done }))
    }

    fn run(mut self, mut lanes: Lanes, runtime: &tokio::runtime::Handle) -> WriterReport {
        enum Event {
            Result(Arc<CheckResult>),
            Op(Pending),
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
                    r = lanes.results.recv() => r.map_or(Event::Closed, Event::Result),
                    o = lanes.ops.recv() => o.map_or(Event::Closed, Event::Op),
                    _ = tokio::time::sleep_until(next_tick) => Event::Tick,
                }
            });
            match event {
                Event::Result(first) => {
                    // Sleeping out the window and then draining costs one wake-up per batch;
                    // waiting on the channel would wake this thread for every result.
                    std::thread::sleep(self.settings.batch_window);
                    let closed = self.take_batch(Some(first), None, &mut lanes);
                    if closed {
                        break;
                    }
                }
                Event::Op(first) => {
                    std::thread::sleep(self.settings.op_window);
                    if self.take_batch(None, Some(first), &mut lanes) {
                        break;
                    }
                }
                Event::Tick => {
                    next_tick = Instant::now() + self.settings.tick_every;
                    let batch = self.account_until(now_ms());
                    self.commit(Vec::new(), batch, &mut lanes);
                    if Instant::now() >= next_prune {
                        next_prune = Instant::now() + self.settings.prune_every;
                        self.prune(now_ms());
                    }
                }
                Event::Closed => break,
            }
        }
        // Both lanes close together (one sender holds both); take what is left.
        while !self.take_batch(None, None, &mut lanes) {}
        self.finish();
        self.report
    }

    /// Takes what is waiting (up to a batch of results, every op) and commits it. Returns true
    /// once the lanes are closed and empty.
    fn take_batch(
        &mut self,
        first: Option<Arc<CheckResult>>,
        first_op: Option<Pending>,
        lanes: &mut Lanes,
    ) -> bool {
        let mut results: Vec<_> = first.into_iter().collect();
        let mut closed = false;
        while results.len() < self.settings.batch_max {
            match lanes.results.try_recv() {
                Ok(r) => results.push(r),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let mut ops: Vec<_> = first_op.into_iter().collect();
        closed |= lanes.drain_ops(&mut ops);
        let empty = results.is_empty() && ops.is_empty();
        let batch = self.results_batch(results);
        self.commit(ops, batch, lanes);
        closed && empty
    }

    fn results_batch(&mut self, results: Vec<Arc<CheckResult>>) -> ResultBatch {
        let mut batch = ResultBatch {
            last_seen_ms: now_ms(),
            ..ResultBatch::default()
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
            batch.rows.push((check_id, r));
        }
        batch
    }

    /// Accounts every check's time up to `now` in its current status.
    fn account_until(&mut self, now: Millis) -> ResultBatch {
        let mut batch = ResultBatch {
            last_seen_ms: now,
            ..ResultBatch::default()
        };
        for (i, cursor) in self.cursors.iter_mut().enumerate() {
            if let Some(c) = cursor {
                if now > c.at {
                    batch.rollups.add_time(self.ids[i], c.at, now, c.status);
                    c.at = now;
                }
            }
        }
        batch
    }

    /// Commits `ops` (first, in their own transaction, so a store that can still take small
    /// writes records the changes that matter) and then `batch`, retrying with back-off for
    /// as long as the store refuses them. Ops that arrive meanwhile join the retry. Once the
    /// lanes are closed (stopping), gives up after the shutdown grace.
    fn commit(&mut self, mut ops: Vec<Pending>, batch: ResultBatch, lanes: &mut Lanes) {
        let mut wait = Duration::from_millis(250);
        let mut deadline: Option<Instant> = None;
        loop {
            let ops_done = ops.is_empty() || {
                let written = write_ops(&mut self.conn, &self.ids, &ops);
                match written {
                    Ok(()) => {
                        let last = ops.last().map_or(0, |p| p.seq);
                        ops.clear();
                        // Healthy again before anyone waiting on the commit is woken.
                        self.succeeded();
                        self.shared.committed(last);
                        true
                    }
                    Err(e) => {
                        self.failed(&e, ops.len(), "changes");
                        false
                    }
                }
            };
            if ops_done {
                if batch.is_empty() {
                    return;
                }
                match write_results(&mut self.conn, self.run_id, &batch) {
                    Ok(()) => {
                        let n = batch.rows.len() as u64;
                        self.report.stored += n;
                        self.shared.stats.stored.fetch_add(n, Ordering::Relaxed);
                        self.succeeded();
                        return;
                    }
                    Err(e) => self.failed(&e, batch.rows.len(), "results"),
                }
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(5));
            let closed = lanes.drain_ops(&mut ops) || lanes.results.is_closed();
            if closed {
                let at =
                    *deadline.get_or_insert_with(|| Instant::now() + self.settings.shutdown_grace);
                if Instant::now() >= at {
                    self.give_up(ops.len(), batch.rows.len());
                    return;
                }
            }
        }
    }

    fn succeeded(&self) {
        let s = &self.shared.stats;
        s.batches.fetch_add(1, Ordering::Relaxed);
        s.last_commit_ms.store(now_ms(), Ordering::Relaxed);
        if s.failing_since_ms.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!("The database accepts writes again.");
        }
    }

    fn failed(&self, e: &rusqlite::Error, items: usize, what: &'static str) {
        let s = &self.shared.stats;
        s.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = s.last_error.lock() {
            *last = Some(e.to_string());
        }
        let first = s
            .failing_since_ms
            .compare_exchange(0, now_ms(), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        // One error line when the trouble starts, then quiet: a locked database for an hour
        // would otherwise log thousands of identical lines.
        if first {
            tracing::error!(error = %e, items, what, "Could not write to the database; keeping what it refused and retrying until it accepts.");
        } else {
            tracing::debug!(error = %e, items, what, "Database write failed again.");
        }
    }

    fn give_up(&mut self, ops: usize, results: usize) {
        self.report.ops_lost += ops as u64;
        self.report.dropped += results as u64;
        self.shared
            .stats
            .dropped
            .fetch_add(results as u64, Ordering::Relaxed);
        tracing::error!(
            changes = ops,
            results,
            "Stopping while the database still refuses writes; these are lost."
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
        let batch = self.account_until(now_ms());
        if let Err(e) = write_results(&mut self.conn, self.run_id, &batch) {
            tracing::error!(error = %e, "Could not account the last seconds of this run.");
        }
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
        self.report.dropped = self.shared.stats.dropped.load(Ordering::Relaxed);
    }

    /// Writes results (and the incident ops among `ops`) now, on this thread: for writing
    /// history after the fact through the same statements the daemon uses.
    ///
    /// # Errors
    /// Any SQL error.
    pub fn write_now(
        &mut self,
        results: Vec<Arc<CheckResult>>,
        ops: Vec<Op>,
    ) -> Result<(), StoreError> {
        let ops: Vec<Pending> = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| Pending {
                seq: i as u64 + 1,
                op,
            })
            .collect();
        write_ops(&mut self.conn, &self.ids, &ops)?;
        let batch = self.results_batch(results);
        write_results(&mut self.conn, self.run_id, &batch)?;
        self.report.stored += batch.rows.len() as u64;
        Ok(())
    }

    /// Ends a run written with [`Writer::write_now`] at `stopped_ms`.
    ///
    /// # Errors
    /// Any SQL error.
    pub fn stop_at(mut self, stopped_ms: Millis) -> Result<WriterReport, StoreError> {
        let batch = self.account_until(stopped_ms);
        write_results(&mut self.conn, self.run_id, &batch)?;
        self.conn.execute(
            "UPDATE runs SET stopped_ms = ?1, last_seen_ms = ?1 WHERE id = ?2",
            params![stopped_ms, self.run_id],
        )?;
        Ok(self.report)
    }
}

struct Lanes {
    results: mpsc::Receiver<Arc<CheckResult>>,
    ops: mpsc::UnboundedReceiver<Pending>,
}

impl Lanes {
    /// Moves every waiting op into `ops`; true when the lane is closed.
    fn drain_ops(&mut self, ops: &mut Vec<Pending>) -> bool {
        loop {
            match self.ops.try_recv() {
                Ok(p) => ops.push(p),
                Err(mpsc::error::TryRecvError::Empty) => return false,
                Err(mpsc::error::TryRecvError::Disconnected) => return true,
            }
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

/// The upsert of `rows` rollup rows into `table`, whose period column is `period`.
fn rollup_upsert(table: &str, period: &str, rows: usize) -> String {
    let buckets: Vec<String> = (0..super::rollup::BUCKETS)
        .map(|i| format!("b{i:02}"))
        .collect();
    let updates: Vec<String> = buckets
        .iter()
        .map(|b| format!("{b} = {b} + excluded.{b}"))
        .collect();
    format!(
        "INSERT INTO {table} (check_id, {period}, probes, healthy, degraded, unhealthy, healthy_ms, degraded_ms, unhealthy_ms,
             latency_sum_us, latency_min_us, latency_max_us, {cols})
         {vals}
         ON CONFLICT (check_id, {period}) DO UPDATE SET
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
static HOURLY_UPSERT: LazyLock<[String; 2]> = LazyLock::new(|| {
    [
        rollup_upsert("rollups_hourly", "hour_ms", CHUNK),
        rollup_upsert("rollups_hourly", "hour_ms", 1),
    ]
});
static DAILY_UPSERT: LazyLock<[String; 2]> = LazyLock::new(|| {
    [
        rollup_upsert("rollups_daily", "day_ms", CHUNK),
        rollup_upsert("rollups_daily", "day_ms", 1),
    ]
});

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

fn write_ops(conn: &mut Connection, ids: &[i64], ops: &[Pending]) -> rusqlite::Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for p in ops {
        match &p.op {
            Op::IncidentOpened {
                check,
                started_ms,
                confirmed_ms,
                first_error,
            } => {
                let Some(id) = ids.get(*check) else { continue };
                tx.prepare_cached("INSERT INTO incidents (check_id, started_ms, confirmed_ms, message) VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![id, started_ms, confirmed_ms, first_error])?;
            }
            Op::IncidentResolved { check, ended_ms } => {
                let Some(id) = ids.get(*check) else { continue };
                tx.prepare_cached(
                    "UPDATE incidents SET ended_ms = ?2 WHERE check_id = ?1 AND ended_ms IS NULL",
                )?
                .execute(params![id, ended_ms])?;
            }
            Op::Alert(op) => alert_sql::apply(&tx, ids, op)?,
        }
    }
    tx.commit()
}

fn write_results(conn: &mut Connection, run_id: i64, batch: &ResultBatch) -> rusqlite::Result<()> {
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
        for (sql, rows) in [
            (&*HOURLY_UPSERT, &batch.rollups.rows),
            (&*DAILY_UPSERT, &batch.rollups.days),
        ] {
            let rows: Vec<_> = rows.iter().collect();
            execute_chunked(&tx, sql, &rows, |(key, d)| {
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
        }
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
        total += conn.execute(
            "DELETE FROM rollups_daily WHERE day_ms < ?1",
            [super::rollup::day_of(cut)],
        )?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
