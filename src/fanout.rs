//! The one place a result is handed on: metrics, latest state, incident tracking, and from
//! there the store writer and the alert engine.
//!
//! Nothing here waits. The writer's and the engine's result queues are bounded and refuse
//! (and count) what they cannot take; the transitions an incident tracker decides go to both
//! through lanes that never drop, because an outage whose end is lost stays open for ever.
//! So a stalled database or a slow notifier can never hold up a probe.

use crate::alerts::input::EngineInput;
use crate::checks::Status;
use crate::config::CheckDef;
use crate::incident::{Change, Tracker, Transition};
use crate::metrics::Metrics;
use crate::result::CheckResult;
use crate::state::State;
use crate::store::writer::{Op, Sent, WriterInput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Cheap to clone: every runner holds one.
#[derive(Clone)]
pub struct Fanout(Arc<Inner>);

struct Inner {
    state: State,
    metrics: Arc<Metrics>,
    /// One per check, by config index; only that check's runner touches it, so the lock is
    /// never contended.
    trackers: Vec<Mutex<Tracker>>,
    writer: WriterInput,
    engine: Option<EngineInput>,
    produced: AtomicU64,
}

impl Fanout {
    /// `down` holds the names of the checks whose incident the store still has open, so their
    /// tracking resumes as down instead of opening a second incident.
    pub fn new(
        checks: &[Arc<CheckDef>],
        down: &[String],
        state: State,
        metrics: Arc<Metrics>,
        writer: WriterInput,
        engine: Option<EngineInput>,
    ) -> Self {
        let trackers = checks
            .iter()
            .map(|def| {
                Mutex::new(Tracker::new(
                    def.failure_threshold,
                    def.success_threshold,
                    down.contains(&def.name),
                ))
            })
            .collect();
        Fanout(Arc::new(Inner {
            state,
            metrics,
            trackers,
            writer,
            engine,
            produced: AtomicU64::new(0),
        }))
    }

    /// Publishes a result. Returns `false` when the store writer is gone (shutting down).
    pub fn publish(&self, result: CheckResult) -> bool {
        let me = &self.0;
        let result = Arc::new(result);
        me.metrics.record(&result);
        me.state.record(result.clone());
        me.produced.fetch_add(1, Ordering::Relaxed);

        let change = me.trackers.get(result.check).and_then(|t| {
            let mut t = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            t.observe(
                result.started_at.timestamp_millis(),
                result.status == Status::Unhealthy,
                result.message.as_deref(),
            )
        });
        if let Some(change) = change {
            me.writer.send_op(match &change {
                Change::Opened {
                    started_ms,
                    confirmed_ms,
                    first_error,
                } => Op::IncidentOpened {
                    check: result.check,
                    started_ms: *started_ms,
                    confirmed_ms: *confirmed_ms,
                    first_error: first_error.clone(),
                },
                Change::Resolved { ended_ms } => Op::IncidentResolved {
                    check: result.check,
                    ended_ms: *ended_ms,
                },
            });
            if let Some(engine) = &me.engine {
                engine.send_transition(Transition {
                    check: result.check,
                    change,
                });
            }
        }
        if let Some(engine) = &me.engine {
            engine.send_result(result.clone());
        }
        me.writer.send_result(result) != Sent::Closed
    }

    /// Results produced so far.
    pub fn produced(&self) -> u64 {
        self.0.produced.load(Ordering::Relaxed)
    }
}
