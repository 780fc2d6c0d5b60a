//! The outbox's sending side: one task per notifier, each working through its notifications in
//! order (so a resolution never overtakes its alert), each marked sent only once the receiving
//! server accepted it, failed attempts retried with back-off for `retry_for`.
//!
//! A notification is sent once the store has committed it (so a restart cannot send it twice)
//! or, if the store has been refusing writes for [`DURABLE_WAIT`], anyway: waking somebody
//! matters more than the small chance of a repeat after a crash of a daemon whose database is
//! also failing.

use super::clock::Clock;
use super::config::NotifierDef;
use super::journal::Journal;
use super::message::{Event, Message, Outgoing, Thread};
use crate::store::alerts::{AlertOp, Attempt};
use crate::time::Millis;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a notification waits for the store to commit it before it is sent regardless.
pub const DURABLE_WAIT: Duration = Duration::from_secs(30);

/// The first retry's wait; each next one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// One notification to deliver.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    /// The notifier's index.
    pub notifier: usize,
    pub message: Message,
    pub thread: Thread,
    /// The journal sequence number of its outbox row (0: already committed).
    pub seq: u64,
    pub attempts: u32,
    pub created_ms: Millis,
    /// Not before this (a retry's back-off, kept across a restart).
    pub not_before_ms: Millis,
}

/// How one notifier is doing.
#[derive(Debug, Default)]
pub struct NotifierStats {
    pub sent: AtomicU64,
    /// Failed attempts (each retried unless given up).
    pub failed: AtomicU64,
    /// Notifications given up on.
    pub given_up: AtomicU64,
    /// Waiting to be sent, including the one being tried.
    pub queued: AtomicUsize,
    pub last_error: Mutex<Option<String>>,
    /// When the last delivery succeeded, ms.
    pub last_sent_ms: Mutex<Option<Millis>>,
}

/// Sends into the per-notifier queues; cheap to clone.
#[derive(Clone)]
pub struct OutboxSender {
    queues: Arc<Vec<mpsc::UnboundedSender<Pending>>>,
    stats: Arc<Vec<NotifierStats>>,
    acknowledged: Acknowledged,
}

/// The open alerts somebody acknowledged: a reminder of one that is still queued when the
/// acknowledgement comes is dropped rather than sent.
type Acknowledged = Arc<Mutex<HashSet<i64>>>;

impl OutboxSender {
    pub fn push(&self, p: Pending) {
        if let (Some(q), Some(s)) = (self.queues.get(p.notifier), self.stats.get(p.notifier)) {
            s.queued.fetch_add(1, Ordering::Relaxed);
            let _ = q.send(p);
        }
    }

    pub fn stats(&self) -> Arc<Vec<NotifierStats>> {
        self.stats.clone()
    }

    /// Alert `id` was acknowledged: its queued reminders are not sent.
    pub fn acknowledged(&self, id: i64) {
        if let Ok(mut a) = self.acknowledged.lock() {
            a.insert(id);
        }
    }

    /// Alert `id` is over; it needs no entry any more.
    pub fn resolved(&self, id: i64) {
        if let Ok(mut a) = self.acknowledged.lock() {
            a.remove(&id);
        }
    }
}

/// The running notifier tasks.
pub struct Outbox {
    tasks: JoinSet<()>,
    stop: CancellationToken,
}

impl Outbox {
    /// Starts a task per notifier.
    pub fn start(
        notifiers: &[NotifierDef],
        journal: Arc<dyn Journal>,
        clock: Clock,
        retry_for: Duration,
    ) -> (Outbox, OutboxSender) {
        let stop = CancellationToken::new();
        let stats: Arc<Vec<NotifierStats>> =
            Arc::new(notifiers.iter().map(|_| NotifierStats::default()).collect());
        let acknowledged = Acknowledged::default();
        let mut queues = Vec::new();
        let mut tasks = JoinSet::new();
        for (i, def) in notifiers.iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            queues.push(tx);
            tasks.spawn(
                Worker {
                    index: i,
                    def: def.clone(),
                    journal: journal.clone(),
                    clock,
                    retry_for,
                    stats: stats.clone(),
                    acknowledged: acknowledged.clone(),
                    stop: stop.clone(),
                }
                .run(rx),
            );
        }
        (
            Outbox { tasks, stop },
            OutboxSender {
                queues: Arc::new(queues),
                stats,
                acknowledged,
            },
        )
    }

    /// Lets every queue empty for up to `grace` (once every sender is gone), then stops the
    /// workers; what is left stays in the store for the next start.
    pub async fn stop(mut self, grace: Duration) {
        let drained = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drained).await.is_err() {
            self.stop.cancel();
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

struct Worker {
    index: usize,
    def: NotifierDef,
    journal: Arc<dyn Journal>,
    clock: Clock,
    retry_for: Duration,
    stats: Arc<Vec<NotifierStats>>,
    acknowledged: Acknowledged,
    stop: CancellationToken,
}

/// The wait before attempt `attempts + 1`.
pub fn backoff(attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
    (FIRST_BACKOFF * factor).min(MAX_BACKOFF)
}

impl Worker {
    fn stats(&self) -> &NotifierStats {
        &self.stats[self.index]
    }

    /// A reminder whose every alert has been acknowledged since it was queued.
    fn acknowledged_since(&self, p: &Pending) -> bool {
        p.message.event == Event::Reminder
            && self.acknowledged.lock().is_ok_and(|a| {
                !p.message.alerts.is_empty() && p.message.alerts.iter().all(|i| a.contains(&i.id))
            })
    }

    async fn run(self, mut rx: mpsc::UnboundedReceiver<Pending>) {
        let mut queue: VecDeque<Pending> = VecDeque::new();
        loop {
            let next = match queue.pop_front() {
                Some(p) => p,
                None => tokio::select! {
                    p = rx.recv() => match p { Some(p) => p, None => return },
                    () = self.stop.cancelled() => return,
                },
            };
            if !self.deliver(next).await {
                return;
            }
            while let Ok(p) = rx.try_recv() {
                queue.push_back(p);
            }
        }
    }

    /// Works on one notification until it is sent or given up. False when stopped.
    async fn deliver(&self, mut p: Pending) -> bool {
        if p.seq > 0 {
            let mut committed = self.journal.committed();
            let wait = committed.wait_for(|c| *c >= p.seq);
            tokio::select! {
                _ = tokio::time::timeout(DURABLE_WAIT, wait) => {}
                () = self.stop.cancelled() => return false,
            }
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(self.clock.instant_at(p.not_before_ms)) => {}
                () = self.stop.cancelled() => return false,
            }
            if self.acknowledged_since(&p) {
                self.stats().queued.fetch_sub(1, Ordering::Relaxed);
                self.journal.record(AlertOp::Attempt(Attempt {
                    id: p.id,
                    state: "cancelled",
                    attempts: p.attempts,
                    next_attempt_ms: None,
                    sent_ms: None,
                    error: None,
                }));
                tracing::info!(notifier = %self.def.name, notification = p.id, "Reminder not sent: its alert was acknowledged.");
                return true;
            }
            let attempt = tokio::select! {
                r = self.def.notifier.send(Outgoing { message: &p.message, thread: &p.thread }) => r,
                () = self.stop.cancelled() => return false,
            };
            p.attempts += 1;
            let now = self.clock.now_ms();
            let s = self.stats();
            match attempt {
                Ok(()) => {
                    s.sent.fetch_add(1, Ordering::Relaxed);
                    s.queued.fetch_sub(1, Ordering::Relaxed);
                    if let Ok(mut t) = s.last_sent_ms.lock() {
                        *t = Some(now);
                    }
                    self.journal.record(AlertOp::Attempt(Attempt {
                        id: p.id,
                        state: "sent",
                        attempts: p.attempts,
                        next_attempt_ms: None,
                        sent_ms: Some(now),
                        error: None,
                    }));
                    tracing::info!(notifier = %self.def.name, notification = p.id, event = p.message.event.as_str(), attempts = p.attempts, "Notification sent.");
                    return true;
                }
                Err(e) => {
                    let error = self.def.secrets.scrub(&e.message);
                    s.failed.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut last) = s.last_error.lock() {
                        *last = Some(error.clone());
                    }
                    let expired = now - p.created_ms
                        >= Millis::try_from(self.retry_for.as_millis()).unwrap_or(Millis::MAX);
                    if e.permanent || expired {
                        s.given_up.fetch_add(1, Ordering::Relaxed);
                        s.queued.fetch_sub(1, Ordering::Relaxed);
                        self.journal.record(AlertOp::Attempt(Attempt {
                            id: p.id,
                            state: "failed",
                            attempts: p.attempts,
                            next_attempt_ms: None,
                            sent_ms: None,
                            error: Some(error.clone()),
                        }));
                        tracing::error!(notifier = %self.def.name, notification = p.id, attempts = p.attempts, error = %error, permanent = e.permanent, "Gave up on a notification.");
                        return true;
                    }
                    let wait = backoff(p.attempts);
                    p.not_before_ms = now + Millis::try_from(wait.as_millis()).unwrap_or(0);
                    self.journal.record(AlertOp::Attempt(Attempt {
                        id: p.id,
                        state: "pending",
                        attempts: p.attempts,
                        next_attempt_ms: Some(p.not_before_ms),
                        sent_ms: None,
                        error: Some(error.clone()),
                    }));
                    tracing::warn!(notifier = %self.def.name, notification = p.id, attempts = p.attempts, retry_in_s = wait.as_secs(), error = %error, "Notification not delivered; will retry.");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_ten_minutes() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
    }
}
