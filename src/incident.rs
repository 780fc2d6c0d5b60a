//! Incidents from a check's stream of results: a pure state machine.
//!
//! A check is down from the first failed probe of a confirmed streak (`failure_threshold`
//! failures in a row) until the first success of the recovering streak (`success_threshold`
//! successes in a row). A shorter blip opens nothing and costs no availability.

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// What a result changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An incident began at `started_ms` (its first failure) and was confirmed at
    /// `confirmed_ms` (the failure that completed the streak).
    Opened {
        started_ms: Millis,
        confirmed_ms: Millis,
        /// The message of the streak's first failure.
        first_error: Option<String>,
    },
    /// The open incident ended at `ended_ms` (the first success of the recovering streak).
    Resolved { ended_ms: Millis },
}

/// A [`Change`] of the check with config index `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub check: usize,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Up,
    /// Failing, not yet confirmed.
    Suspect {
        since: Millis,
        failures: u32,
    },
    Down,
    /// Succeeding, not yet confirmed.
    Recovering {
        since: Millis,
        successes: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Tracker {
    failure_threshold: u32,
    success_threshold: u32,
    phase: Phase,
    /// The message of the first failure of the current streak.
    first_error: Option<String>,
}

impl Tracker {
    /// `down` resumes an incident left open by an earlier run.
    pub fn new(failure_threshold: u32, success_threshold: u32, down: bool) -> Self {
        Tracker {
            failure_threshold: failure_threshold.max(1),
            success_threshold: success_threshold.max(1),
            phase: if down { Phase::Down } else { Phase::Up },
            first_error: None,
        }
    }

    /// True while an incident is open (including a recovery not yet confirmed).
    pub fn is_down(&self) -> bool {
        matches!(self.phase, Phase::Down | Phase::Recovering { .. })
    }

    /// Feeds one result, in time order.
    pub fn observe(&mut self, at: Millis, failed: bool, message: Option<&str>) -> Option<Change> {
        if failed && self.phase == Phase::Up {
            self.first_error = message.map(str::to_string);
        }
        let opened = |since, first_error: &mut Option<String>| Change::Opened {
            started_ms: since,
            confirmed_ms: at,
            first_error: first_error.take(),
        };
        match (&self.phase, failed) {
            (Phase::Up, true) if self.failure_threshold == 1 => {
                self.phase = Phase::Down;
                Some(opened(at, &mut self.first_error))
            }
            (Phase::Up, true) => {
                self.phase = Phase::Suspect {
                    since: at,
                    failures: 1,
                };
                None
            }
            (Phase::Suspect { since, failures }, true) => {
                let (since, failures) = (*since, failures + 1);
                if failures >= self.failure_threshold {
                    self.phase = Phase::Down;
                    Some(opened(since, &mut self.first_error))
                } else {
                    self.phase = Phase::Suspect { since, failures };
                    None
                }
            }
            (Phase::Suspect { .. }, false) => {
                self.phase = Phase::Up;
                None
            }
            (Phase::Down, false) if self.success_threshold == 1 => {
                self.phase = Phase::Up;
                Some(Change::Resolved { ended_ms: at })
            }
            (Phase::Down, false) => {
                self.phase = Phase::Recovering {
                    since: at,
                    successes: 1,
                };
                None
            }
            (Phase::Recovering { since, successes }, false) => {
                let (since, successes) = (*since, successes + 1);
                if successes >= self.success_threshold {
                    self.phase = Phase::Up;
                    Some(Change::Resolved { ended_ms: since })
                } else {
                    self.phase = Phase::Recovering { since, successes };
                    None
                }
            }
            (Phase::Recovering { .. }, true) => {
                self.phase = Phase::Down;
                None
            }
            (Phase::Up, false) | (Phase::Down, true) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(t: &mut Tracker, seq: &[(Millis, bool)]) -> Vec<Change> {
        seq.iter()
            .filter_map(|&(at, failed)| t.observe(at, failed, failed.then_some("boom")))
            .collect()
    }

    #[test]
    fn a_confirmed_streak_opens_an_incident_at_its_first_failure() {
        let mut t = Tracker::new(3, 1, false);
        let changes = feed(
            &mut t,
            &[(0, false), (10, true), (20, true), (30, true), (40, true)],
        );
        assert_eq!(
            changes,
            vec![Change::Opened {
                started_ms: 10,
                confirmed_ms: 30,
                first_error: Some("boom".into())
            }]
        );
        assert!(t.is_down());
    }

    #[test]
    fn a_blip_shorter_than_the_threshold_opens_nothing() {
        let mut t = Tracker::new(3, 1, false);
        assert!(feed(&mut t, &[(10, true), (20, true), (30, false), (40, true)]).is_empty());
        assert!(!t.is_down());
    }

    #[test]
    fn recovery_ends_at_the_first_success_of_a_confirmed_streak() {
        let mut t = Tracker::new(1, 3, false);
        let changes = feed(
            &mut t,
            &[
                (0, true),
                (10, false),
                (20, true),
                (30, false),
                (40, false),
                (50, false),
            ],
        );
        assert_eq!(
            changes,
            vec![
                Change::Opened {
                    started_ms: 0,
                    confirmed_ms: 0,
                    first_error: Some("boom".into())
                },
                Change::Resolved { ended_ms: 30 }
            ]
        );
    }

    #[test]
    fn an_incident_left_open_by_an_earlier_run_closes_on_recovery() {
        let mut t = Tracker::new(3, 1, true);
        assert_eq!(
            feed(&mut t, &[(5, false)]),
            vec![Change::Resolved { ended_ms: 5 }]
        );
    }
}
