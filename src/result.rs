//! A check's result, and the one place it is handed on: latest state, metrics, store writer.

use crate::breaker::CircuitState;
use crate::checks::{Observed, Status};
use crate::metrics::Metrics;
use crate::state::State;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// One probe of one check, as the runner saw it.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The check's index in the config.
    pub check: usize,
    pub started_at: DateTime<Utc>,
    pub response_time: Duration,
    pub status: Status,
    /// Short and free of secrets.
    pub message: Option<String>,
    pub observed: Observed,
    /// The breaker after this result.
    pub circuit: CircuitState,
    pub consecutive_failures: u32,
    /// While open: when the next trial probe is due.
    pub retry_at: Option<DateTime<Utc>>,
}

impl CheckResult {
    pub fn response_time_ms(&self) -> f64 {
        self.response_time.as_micros() as f64 / 1000.0
    }
}

/// Hands every result to the latest state, the metrics and the store writer, in that order.
///
/// The store channel is bounded: when the writer falls behind, runners wait here instead of
/// results being dropped.
#[derive(Clone)]
pub struct ResultSink {
    state: State,
    metrics: Arc<Metrics>,
    store: mpsc::Sender<Arc<CheckResult>>,
    produced: Arc<AtomicU64>,
}

impl ResultSink {
    pub fn new(state: State, metrics: Arc<Metrics>, store: mpsc::Sender<Arc<CheckResult>>) -> Self {
        ResultSink {
            state,
            metrics,
            store,
            produced: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Publishes a result. Returns `false` when the store writer is gone (shutting down).
    pub async fn publish(&self, result: CheckResult) -> bool {
        let result = Arc::new(result);
        self.metrics.record(&result);
        self.state.record(result.clone());
        self.produced.fetch_add(1, Ordering::Relaxed);
        self.store.send(result).await.is_ok()
    }

    /// Results produced so far (each was also handed to the store writer).
    pub fn produced(&self) -> Arc<AtomicU64> {
        self.produced.clone()
    }
}
