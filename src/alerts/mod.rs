//! Alerts: deciding who must be told what, keeping that in SQLite, and telling them.
//!
//! - [`config`]: the alerting tables as written, and the validated [`config::Setup`].
//! - [`engine`]: alerts from transitions, results and readings; notifications from alerts.
//! - [`outbox`]: one sending task per notifier, with retries; [`journal`]: where decisions
//!   are recorded (the store writer's ops lane); [`reader`]: the store readings SLOs need.
//! - [`slo`]: error budgets and burn rates; [`clock`]: the engine's now.
//! - [`input`]: the lanes from the fan-out to the engine.
//! - [`message`]: the one versioned shape of a notification, which every notifier receives.
//! - [`notify`]: the [`notify::Notifier`] trait and one file per notifier kind.
//! - [`rule`]: a threshold rule's levels and its hold state machine (`for`, `clear_for`).
//! - [`flapping`]: Nagios-style flap detection over the last 21 results.
//! - [`maintenance`]: maintenance windows, one-off or cron, in a time zone.
//!
//! `rule`, `flapping` and `maintenance` are pure: no I/O, no clock; every call takes the time.

pub mod clock;
pub mod config;
pub mod engine;
pub mod flapping;
pub mod input;
pub mod journal;
pub mod maintenance;
pub mod message;
pub mod notify;
pub mod outbox;
pub mod reader;
pub mod rule;
pub mod slo;

use crate::store::alerts::StoredNotification;
use crate::store::Store;
use clock::Clock;
use config::Setup;
use engine::task::Command;
use engine::{AckOutcome, Engine, Resume, Snapshot};
use input::EngineInput;
use journal::Journal;
use outbox::{NotifierStats, Outbox, OutboxSender, Pending};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The running engine, its reader and its outbox.
pub struct Alerting {
    engine: JoinHandle<Engine>,
    reader: JoinHandle<()>,
    stop_reader: CancellationToken,
    outbox: Outbox,
}

/// What the API uses: the engine's snapshot, acknowledgements, the outbox's figures.
#[derive(Clone)]
pub struct AlertingHandle {
    commands: mpsc::Sender<Command>,
    snapshot: Arc<RwLock<Snapshot>>,
    outbox: Arc<Vec<NotifierStats>>,
    /// Results the engine dropped (not the input itself: that would keep the engine running).
    dropped: Arc<std::sync::atomic::AtomicU64>,
    /// Name, kind and redacted target of each notifier.
    pub notifiers: Arc<Vec<(String, &'static str, String)>>,
    /// The configured maintenance windows, for the pages to show current and coming ones.
    pub maintenance: Arc<Vec<maintenance::Maintenance>>,
    /// What the engine runs on; the report reads the SLOs' objectives from it.
    pub setup: Arc<Setup>,
}

impl AlertingHandle {
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.read().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn notifier_stats(&self) -> &[NotifierStats] {
        &self.outbox
    }

    /// Results the engine never saw because it fell behind.
    pub fn dropped_results(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Acknowledges alert `id`; `None` when the engine is gone.
    pub async fn acknowledge(&self, id: i64) -> Option<AckOutcome> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Ack { id, reply }).await.ok()?;
        answer.await.ok()
    }
}

/// How long a stopping outbox may go on sending what it holds.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl Alerting {
    /// Starts the engine where the store left it, its reader and the outbox (with the
    /// notifications the store still had pending).
    pub fn start(
        setup: Arc<Setup>,
        store: Store,
        journal: Arc<dyn Journal>,
        clock: Clock,
        resume: Resume,
        pending: Vec<StoredNotification>,
    ) -> (Alerting, EngineInput, AlertingHandle) {
        let (outbox, sender) = Outbox::start(
            &setup.notifiers,
            journal.clone(),
            clock,
            setup.settings.retry_for,
        );
        requeue(&setup, &sender, pending);
        let stats = sender.stats();
        let engine = Engine::new(setup.clone(), clock, journal, sender, resume);
        let snapshot = engine.snapshot();
        let (input, lanes) = input::channel(input::RESULT_QUEUE);
        let (readings_tx, readings_rx) = mpsc::channel(4);
        let (commands_tx, commands_rx) = mpsc::channel(64);
        let engine = tokio::spawn(engine::task::run(engine, lanes, readings_rx, commands_rx));
        let stop_reader = CancellationToken::new();
        let needs_readings = !setup.slos.is_empty()
            || !setup.notifiers.is_empty()
            || setup
                .rules
                .iter()
                .any(|r| matches!(r.metric, config::Metric::Availability(_)));
        let reader = tokio::spawn({
            let (setup, stop) = (setup.clone(), stop_reader.clone());
            async move {
                if needs_readings {
                    reader::run(store, setup, readings_tx, stop).await;
                }
            }
        });
        let notifiers = Arc::new(
            setup
                .notifiers
                .iter()
                .map(|n| (n.name.clone(), n.kind, n.notifier.target()))
                .collect(),
        );
        let handle = AlertingHandle {
            commands: commands_tx,
            snapshot,
            outbox: stats,
            dropped: input.dropped_counter(),
            notifiers,
            maintenance: Arc::new(
                setup
                    .maintenance
                    .iter()
                    .map(|m| m.maintenance.clone())
                    .collect(),
            ),
            setup: setup.clone(),
        };
        (
            Alerting {
                engine,
                reader,
                stop_reader,
                outbox,
            },
            input,
            handle,
        )
    }

    /// Stops once the engine's lanes have closed (the scheduler stopped): the engine puts what
    /// waits in its group into the outbox, the outbox sends what it can within a short grace.
    pub async fn stop(self) {
        self.stop_reader.cancel();
        let _ = self.reader.await;
        if let Err(e) = self.engine.await {
            tracing::error!(error = %e, "The alert engine died.");
        }
        self.outbox.stop(STOP_GRACE).await;
    }
}

/// Puts the notifications a previous run left unsent back in their queues.
fn requeue(setup: &Setup, sender: &OutboxSender, pending: Vec<StoredNotification>) {
    for n in pending {
        let Some(notifier) = setup.notifiers.iter().position(|d| d.name == n.notifier) else {
            tracing::warn!(notifier = %n.notifier, notification = n.id, "A pending notification's notifier is no longer configured; it is not sent.");
            continue;
        };
        let (Ok(message), Ok(thread)) = (
            serde_json::from_str::<message::Message>(&n.body),
            serde_json::from_str::<message::Thread>(&n.thread),
        ) else {
            tracing::warn!(
                notification = n.id,
                "A pending notification could not be read back; it is not sent."
            );
            continue;
        };
        sender.push(Pending {
            id: n.id,
            notifier,
            message,
            thread,
            seq: 0,
            attempts: n.attempts,
            created_ms: n.created_ms,
            not_before_ms: n.next_attempt_ms.unwrap_or(n.created_ms),
        });
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A check is down (a confirmed incident).
    State,
    /// A `[[alert]]` rule on a value held past its thresholds.
    Threshold,
    /// An SLO's error budget burning too fast.
    Slo,
    /// A check changing state too often to alert on each change.
    Flapping,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::State => "state",
            AlertKind::Threshold => "threshold",
            AlertKind::Slo => "slo",
            AlertKind::Flapping => "flapping",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "state" => AlertKind::State,
            "threshold" => AlertKind::Threshold,
            "slo" => AlertKind::Slo,
            "flapping" => AlertKind::Flapping,
            _ => return None,
        })
    }
}

/// How bad it is. Ordered: `Critical > Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "warning" => Level::Warning,
            "critical" => Level::Critical,
            _ => return None,
        })
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    /// Firing, and somebody said they are on it: no more reminders.
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "firing" => AlertState::Firing,
            "acknowledged" => AlertState::Acknowledged,
            "resolved" => AlertState::Resolved,
            _ => return None,
        })
    }
}
