//! What the fan-out hands the engine: every transition (never dropped) and the results
//! (dropped, and counted, when the engine falls behind: it must never slow the checks).

use crate::incident::Transition;
use crate::result::CheckResult;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The senders' side; cheap to clone.
#[derive(Clone)]
pub struct EngineInput {
    pub(super) results: mpsc::Sender<Arc<CheckResult>>,
    pub(super) transitions: mpsc::UnboundedSender<Transition>,
    pub(super) dropped: Arc<AtomicU64>,
}

/// The engine's side.
pub struct EngineLanes {
    pub(super) results: mpsc::Receiver<Arc<CheckResult>>,
    pub(super) transitions: mpsc::UnboundedReceiver<Transition>,
}

/// Results that may wait for the engine before further ones are dropped.
pub const RESULT_QUEUE: usize = 10_000;

/// A connected pair.
pub fn channel(queue: usize) -> (EngineInput, EngineLanes) {
    let (results_tx, results) = mpsc::channel(queue.max(1));
    let (transitions_tx, transitions) = mpsc::unbounded_channel();
    (
        EngineInput {
            results: results_tx,
            transitions: transitions_tx,
            dropped: Arc::default(),
        },
        EngineLanes {
            results,
            transitions,
        },
    )
}

impl EngineInput {
    /// Hands a result over without waiting; a full queue drops it (and counts it).
    pub fn send_result(&self, result: Arc<CheckResult>) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.results.try_send(result) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands a transition over; transitions are few and never dropped, since whoever was told
    /// about an outage must be told when it ends.
    pub fn send_transition(&self, transition: Transition) {
        let _ = self.transitions.send(transition);
    }

    /// The count of results the engine never saw because its queue was full; holding it
    /// does not keep the lanes open.
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }
}
