//! A check's result: one probe of one check, as its runner saw it.

use crate::breaker::CircuitState;
use crate::checks::{Observed, Status};
use chrono::{DateTime, Utc};
use std::time::Duration;

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
