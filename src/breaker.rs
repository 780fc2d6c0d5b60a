//! The circuit breaker of one check: a pure state machine, no I/O, no clock of its own.
//!
//! After `failure_threshold` consecutive failures it opens. While open the check is not
//! probed; after a back-off (the check's interval, doubling on every failed trial, with
//! jitter, up to `max_backoff`) one trial probe runs. A trial success closes it; a trial
//! failure opens it again for twice as long.

use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Probes run on schedule.
    Closed,
    /// Probes are skipped until the back-off ends.
    Open,
    /// The back-off ended; the next probe is a trial.
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// Whether a scheduled run may probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Probe,
    /// Open: skip, the next trial is due at this instant.
    Skip {
        retry_at: Instant,
    },
}

#[derive(Debug, Clone)]
pub struct Breaker {
    failure_threshold: u32,
    base_backoff: Duration,
    max_backoff: Duration,
    state: CircuitState,
    consecutive_failures: u32,
    /// Failed trials since the breaker last closed; the back-off doubles with each.
    failed_trials: u32,
    retry_at: Option<Instant>,
}

impl Breaker {
    pub fn new(failure_threshold: u32, base_backoff: Duration, max_backoff: Duration) -> Self {
        Breaker {
            failure_threshold: failure_threshold.max(1),
            base_backoff,
            max_backoff: max_backoff.max(base_backoff),
            state: CircuitState::Closed,
            consecutive_failures: 0,
            failed_trials: 0,
            retry_at: None,
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// When the next trial may run, while open.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Decides whether a run scheduled at `now` probes; an expired back-off turns into a trial.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match (self.state, self.retry_at) {
            (CircuitState::Open, Some(at)) if now < at => Admission::Skip { retry_at: at },
            (CircuitState::Open, _) => {
                self.state = CircuitState::HalfOpen;
                Admission::Probe
            }
            _ => Admission::Probe,
        }
    }

    /// Records the result of a probe that started at `now`. `jitter` in `[0, 1)` shortens the
    /// back-off by up to 10 % so that checks of one failed dependency do not retry in
    /// lockstep. It never lengthens it: the back-off is counted from the probe's start, so a
    /// back-off of one interval lands on the next scheduled run; a longer one would skip that
    /// run and double the wait (and the time a recovered check still counts as down).
    pub fn record(&mut self, failed: bool, now: Instant, jitter: f64) -> CircuitState {
        if !failed {
            self.state = CircuitState::Closed;
            self.consecutive_failures = 0;
            self.failed_trials = 0;
            self.retry_at = None;
            return self.state;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let opens = match self.state {
            CircuitState::HalfOpen => {
                self.failed_trials = self.failed_trials.saturating_add(1);
                true
            }
            CircuitState::Closed => self.consecutive_failures >= self.failure_threshold,
            CircuitState::Open => true,
        };
        if opens {
            self.state = CircuitState::Open;
            self.retry_at = Some(now + self.backoff(jitter));
        }
        self.state
    }

    /// The current back-off: base × 2^failed_trials, capped, shortened by the jitter.
    pub fn backoff(&self, jitter: f64) -> Duration {
        let doubled = self
            .base_backoff
            .checked_mul(
                1u32.checked_shl(self.failed_trials.min(30))
                    .unwrap_or(u32::MAX),
            )
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff);
        let factor = 1.0 - 0.1 * jitter.clamp(0.0, 1.0);
        doubled.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn fail(b: &mut Breaker, now: Instant) -> CircuitState {
        assert_eq!(b.admit(now), Admission::Probe);
        b.record(true, now, 0.0)
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, S, 60 * S);
        assert_eq!(fail(&mut b, t0), CircuitState::Closed);
        assert_eq!(fail(&mut b, t0 + S), CircuitState::Closed);
        assert_eq!(fail(&mut b, t0 + 2 * S), CircuitState::Open);
        assert!(matches!(b.admit(t0 + 2 * S), Admission::Skip { .. }));
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, S, 60 * S);
        fail(&mut b, t0);
        b.record(false, t0 + S, 0.5);
        assert_eq!(fail(&mut b, t0 + 2 * S), CircuitState::Closed);
    }

    #[test]
    fn the_back_off_doubles_on_failed_trials_up_to_the_cap() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, 10 * S, 35 * S);
        fail(&mut b, t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..4 {
            let Admission::Skip { retry_at } = b.admit(now) else {
                panic!("should be open")
            };
            waits.push(retry_at - now);
            now = retry_at;
            assert_eq!(b.admit(now), Admission::Probe);
            assert_eq!(b.state(), CircuitState::HalfOpen);
            b.record(true, now, 0.0);
        }
        assert_eq!(waits, vec![10 * S, 20 * S, 35 * S, 35 * S]);
    }

    #[test]
    fn one_trial_success_closes_the_circuit() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, S, 10 * S);
        fail(&mut b, t0);
        assert_eq!(b.admit(t0 + 2 * S), Admission::Probe);
        assert_eq!(b.record(false, t0 + 2 * S, 0.5), CircuitState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
        // And the back-off starts from the base again.
        fail(&mut b, t0 + 3 * S);
        assert_eq!(b.retry_at(), Some(t0 + 4 * S));
    }

    #[test]
    fn jitter_shortens_by_at_most_ten_percent_and_never_lengthens() {
        let b = Breaker::new(1, 10 * S, 10 * S);
        assert_eq!(b.backoff(0.0), 10 * S);
        assert!(b.backoff(0.999_999) >= Duration::from_millis(9_000));
        let b = Breaker::new(1, 10 * S, 100 * S);
        for j in [0.0, 0.3, 0.999] {
            assert!(b.backoff(j) <= 10 * S);
        }
    }

    #[test]
    fn a_back_off_of_one_interval_lands_on_the_next_run() {
        // Probes start on a one-second grid and take 300 ms to fail.
        let t0 = Instant::now();
        let mut b = Breaker::new(1, S, S);
        for jitter in [0.0, 0.5, 0.999] {
            assert_eq!(b.admit(t0), Admission::Probe);
            b.record(true, t0, jitter);
            assert_eq!(
                b.admit(t0 + S),
                Admission::Probe,
                "the run a second later is the trial (jitter {jitter})"
            );
            b.record(false, t0 + S + Duration::from_millis(300), jitter);
        }
    }
}
