//! The runner of one check: breaker, concurrency permit, timeout, result.

use super::plan::Millis;
use crate::breaker::{Admission, Breaker, CircuitState};
use crate::checks::{Outcome, Status};
use crate::config::CheckDef;
use crate::duration;
use crate::fanout::Fanout;
use crate::metrics::Metrics;
use crate::result::CheckResult;
use chrono::Utc;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument;

pub struct Runner {
    def: Arc<CheckDef>,
    /// None for passive checks, which have no dependency to protect.
    breaker: Option<Breaker>,
    sink: Fanout,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    last_status: Option<Status>,
}

impl Runner {
    pub fn new(
        def: Arc<CheckDef>,
        sink: Fanout,
        metrics: Arc<Metrics>,
        permits: Arc<Semaphore>,
    ) -> Self {
        let breaker = def.check.uses_breaker().then(|| {
            Breaker::new(
                def.failure_threshold,
                def.schedule.nominal_interval(),
                def.max_backoff,
            )
        });
        Runner {
            def,
            breaker,
            sink,
            metrics,
            permits,
            last_status: None,
        }
    }

    pub fn def(&self) -> &CheckDef {
        &self.def
    }

    /// Runs the check for a slot planned at `planned_ms`, unless the breaker is open.
    ///
    /// Returns `false` when results can no longer be delivered (shutting down).
    pub async fn run_once(&mut self, planned_ms: Millis) -> bool {
        if let Some(Admission::Skip { .. }) = self.breaker.as_mut().map(|b| b.admit(Instant::now()))
        {
            self.metrics.skipped(self.def.index);
            return true;
        }
        let permits = self.permits.clone();
        let Ok(_permit) = permits.acquire().await else {
            return false;
        };
        let started_at = Utc::now();
        self.metrics
            .schedule_lag((started_at.timestamp_millis() - planned_ms) as f64 / 1000.0);

        let span = tracing::debug_span!("check", check = %self.def.name, kind = self.def.kind, status = tracing::field::Empty, elapsed_ms = tracing::field::Empty);
        let clock = Instant::now();
        let probe = AssertUnwindSafe(self.def.check.probe()).catch_unwind();
        let outcome = match tokio::time::timeout(self.def.timeout, probe)
            .instrument(span.clone())
            .await
        {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => {
                Outcome::unhealthy("the probe panicked (a bug in healthmon; please report it)")
            }
            Err(_) => Outcome::unhealthy(format!(
                "timed out after {}",
                duration::format(self.def.timeout)
            )),
        };
        let elapsed = clock.elapsed();
        span.record("status", outcome.status.as_str());
        span.record("elapsed_ms", elapsed.as_millis() as u64);

        let failed = outcome.status == Status::Unhealthy;
        let circuit = match &mut self.breaker {
            // From the probe's start: the back-off names the run it waits for.
            Some(b) => b.record(failed, clock, rand::random::<f64>()),
            None => CircuitState::Closed,
        };
        let retry_at = self
            .breaker
            .as_ref()
            .and_then(Breaker::retry_at)
            .filter(|_| circuit == CircuitState::Open)
            .map(|at| {
                started_at
                    + chrono::Duration::from_std(at.saturating_duration_since(clock))
                        .unwrap_or_default()
            });
        let message = outcome.message.map(|m| self.def.secrets.scrub(&m));
        self.log_transition(outcome.status, message.as_deref(), circuit);

        self.sink.publish(CheckResult {
            check: self.def.index,
            started_at,
            response_time: elapsed,
            status: outcome.status,
            message,
            observed: outcome.observed,
            circuit,
            consecutive_failures: self
                .breaker
                .as_ref()
                .map_or(0, Breaker::consecutive_failures),
            retry_at,
        })
    }

    fn log_transition(&mut self, status: Status, message: Option<&str>, circuit: CircuitState) {
        let previous = self.last_status.replace(status);
        if previous == Some(status) {
            return;
        }
        let (name, kind, msg) = (&self.def.name, self.def.kind, message.unwrap_or(""));
        let from = previous.map_or("unknown", Status::as_str);
        match status {
            Status::Unhealthy => {
                tracing::warn!(check = %name, kind, from, to = %status, circuit = circuit.as_str(), detail = msg, "Check became unhealthy.")
            }
            _ => {
                tracing::info!(check = %name, kind, from, to = %status, detail = msg, "Check changed status.")
            }
        }
    }
}
