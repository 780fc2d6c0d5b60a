//! Flap detection as Nagios does it: a check changing state too often is reported as flapping
//! once, instead of alerting on every change.
//!
//! The last [`HISTORY`] results are kept (oldest first: `s[0] .. s[20]`). Each of the 20
//! transitions `s[i-1] -> s[i]` (`i = 1..=20`) that changes state counts with a weight rising
//! linearly from 0.75 (the oldest, `i = 1`) to 1.25 (the newest, `i = 20`), so recent changes
//! count more:
//!
//! ```text
//! weight(i) = 0.75 + (i - 1) * (1.25 - 0.75) / 19
//! percent   = 100 * sum(weight(i) for each i where s[i-1] != s[i]) / 20
//! ```
//!
//! With fewer than 21 results the results sit at the newest end and the missing older
//! transitions count as no change, so a new check starts at 0 %. It starts flapping when the
//! percentage rises strictly above `high`, and stops when it falls strictly below `low`; in
//! between it stays as it was (hysteresis), so one change either way cannot toggle it.
//!
//! The curve is Nagios's own (`base/flapping.c`); the comparisons follow its documentation
//! ("exceeds" the high threshold, "goes below" the low one).

use std::collections::VecDeque;

/// How many results the percentage looks at (20 transitions), as in Nagios.
pub const HISTORY: usize = 21;

/// The weight of the oldest transition.
const OLDEST_WEIGHT: f64 = 0.75;
/// The weight of the newest transition.
const NEWEST_WEIGHT: f64 = 1.25;

/// The thresholds, in percent of weighted state changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlapSettings {
    /// Flapping stops below this.
    pub low: f64,
    /// Flapping starts above this.
    pub high: f64,
}

impl Default for FlapSettings {
    /// Nagios's defaults: 5 % and 20 %.
    fn default() -> Self {
        FlapSettings {
            low: 5.0,
            high: 20.0,
        }
    }
}

/// Flapping started or stopped, with the percentage that made it so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlapChange {
    Started { percent: f64 },
    Stopped { percent: f64 },
}

/// The flap detector of one check: the last 21 results and whether it is flapping.
#[derive(Debug, Clone)]
pub struct Flapping {
    settings: FlapSettings,
    /// `true` = failed; oldest at the front, at most [`HISTORY`] long.
    history: VecDeque<bool>,
    flapping: bool,
    /// Resumed as flapping after a restart, without the history that made it so: it cannot
    /// be said to have settled until a whole new history says so.
    resumed: bool,
}

/// The weight of transition `i` (1 = oldest, 20 = newest).
fn weight(i: usize) -> f64 {
    let steps = (HISTORY - 2) as f64;
    OLDEST_WEIGHT + (i - 1) as f64 * (NEWEST_WEIGHT - OLDEST_WEIGHT) / steps
}

impl Flapping {
    pub fn new(settings: FlapSettings) -> Self {
        Flapping {
            settings,
            history: VecDeque::with_capacity(HISTORY),
            flapping: false,
            resumed: false,
        }
    }

    /// Continues a check that was flapping when the daemon stopped.
    pub fn resume(&mut self) {
        self.flapping = true;
        self.resumed = true;
        self.history.clear();
    }

    /// Feeds one result (failed = the check was unhealthy), in order.
    pub fn observe(&mut self, failed: bool) -> Option<FlapChange> {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(failed);
        let percent = self.percent();
        if !self.flapping && percent > self.settings.high {
            self.flapping = true;
            Some(FlapChange::Started { percent })
        } else if self.flapping
            && percent < self.settings.low
            && !(self.resumed && self.history.len() < HISTORY)
        {
            self.flapping = false;
            self.resumed = false;
            Some(FlapChange::Stopped { percent })
        } else {
            None
        }
    }

    /// The weighted percentage of state changes over the last 21 results (see the module doc).
    pub fn percent(&self) -> f64 {
        // Short histories sit at the newest end: their first transition has index
        // `HISTORY - len + 1`, not 1.
        let offset = HISTORY - self.history.len();
        let changes: f64 = self
            .history
            .iter()
            .zip(self.history.iter().skip(1))
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(k, _)| weight(offset + k + 1))
            .sum();
        100.0 * changes / (HISTORY - 1) as f64
    }

    pub fn is_flapping(&self) -> bool {
        self.flapping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> Flapping {
        Flapping::new(FlapSettings::default())
    }

    /// Feeds `results` (`'x'` failed, `'.'` healthy) and returns every change.
    fn feed(f: &mut Flapping, results: &str) -> Vec<FlapChange> {
        results
            .chars()
            .filter_map(|c| f.observe(c == 'x'))
            .collect()
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "expected {expected}, got {actual}"
        );
    }

    #[test]
    fn the_weights_run_from_0_75_to_1_25() {
        assert_close(weight(1), 0.75);
        assert_close(weight(20), 1.25);
        let mean: f64 = (1..=20).map(weight).sum::<f64>() / 20.0;
        assert_close(mean, 1.0);
    }

    #[test]
    fn a_steady_check_never_flaps() {
        let mut f = detector();
        assert_eq!(feed(&mut f, &".".repeat(100)), vec![]);
        assert_close(f.percent(), 0.0);
        let mut f = detector();
        assert_eq!(feed(&mut f, &"x".repeat(100)), vec![]);
        assert!(!f.is_flapping());
    }

    #[test]
    fn a_single_three_result_outage_does_not_flap() {
        let mut f = detector();
        let results = format!("{}xxx{}", ".".repeat(30), ".".repeat(30));
        let mut highest: f64 = 0.0;
        for c in results.chars() {
            assert_eq!(f.observe(c == 'x'), None);
            highest = highest.max(f.percent());
        }
        // Both changes at their heaviest: the down one at i = 17, the up one at i = 20,
        // (1.145 + 1.25) / 20 = 12.0 %.
        assert_close(highest, 100.0 * (weight(17) + weight(20)) / 20.0);
        assert!(highest < 20.0);
    }

    #[test]
    fn alternating_results_start_flapping_once_and_stay_quiet() {
        let mut f = detector();
        let mut started_at = None;
        for n in 1..=60 {
            match f.observe(n % 2 == 0) {
                Some(FlapChange::Started { percent }) => {
                    assert_eq!(started_at, None, "started twice");
                    assert!(percent > 20.0);
                    started_at = Some(n);
                }
                Some(other) => panic!("unexpected {other:?} at result {n}"),
                None => {}
            }
        }
        // Four changes at the newest end: 1.25 + 1.224 + 1.197 + 1.171 = 4.84 -> 24.2 %;
        // three were 18.4 %.
        assert_eq!(started_at, Some(5));
        assert!(f.is_flapping());
        assert_close(f.percent(), 100.0);
    }

    #[test]
    fn a_flapping_check_that_settles_stops_exactly_once() {
        let mut f = detector();
        let alternating: String = (0..30)
            .map(|n| if n % 2 == 0 { 'x' } else { '.' })
            .collect();
        feed(&mut f, &alternating);
        assert!(f.is_flapping());
        let mut stopped = Vec::new();
        for n in 1..=40 {
            if let Some(change) = f.observe(false) {
                stopped.push((n, change));
            }
        }
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        // The last of 30 alternating results is healthy; it stops once only the oldest
        // transition is left: 0.75 / 20 = 3.75 %, after 19 more healthy results. With two
        // left it was 0.75 + 0.776 = 1.53 -> 7.6 %, still above 5 %.
        let (n, change) = stopped[0];
        assert_eq!(n, 19);
        match change {
            FlapChange::Stopped { percent } => assert_close(percent, 3.75),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!f.is_flapping());
    }

    #[test]
    fn between_the_thresholds_it_stays_as_it_was() {
        let mut f = Flapping::new(FlapSettings {
            low: 5.0,
            high: 20.0,
        });
        // Two changes at the newest end: (1.224 + 1.25) / 20 = 12.4 %, between 5 and 20.
        feed(&mut f, ".x.");
        assert_close(f.percent(), 100.0 * (weight(19) + weight(20)) / 20.0);
        assert!(f.percent() > 5.0 && f.percent() < 20.0);
        assert!(!f.is_flapping());
    }

    #[test]
    fn the_percentage_of_known_sequences() {
        // Twenty-one alternating results: every transition changes, the weights average 1.
        let mut f = detector();
        feed(&mut f, "x.x.x.x.x.x.x.x.x.x.x");
        assert_close(f.percent(), 100.0);

        // One change, the newest: 1.25 / 20 = 6.25 %.
        let mut f = detector();
        feed(&mut f, &format!("{}x", ".".repeat(20)));
        assert_close(f.percent(), 6.25);

        // One change, the oldest: 0.75 / 20 = 3.75 %.
        let mut f = detector();
        feed(&mut f, &format!(".{}", "x".repeat(20)));
        assert_close(f.percent(), 3.75);

        // 10 up, 3 down, 8 up: changes at i = 10 (0.75 + 9 * 0.5 / 19 = 0.98684) and
        // i = 13 (0.75 + 12 * 0.5 / 19 = 1.06579): 2.05263 / 20 = 10.2632 %.
        let mut f = detector();
        feed(&mut f, &format!("{}xxx{}", ".".repeat(10), ".".repeat(8)));
        assert_close(
            f.percent(),
            100.0 * (0.75 + 9.0 * 0.5 / 19.0 + 0.75 + 12.0 * 0.5 / 19.0) / 20.0,
        );
        assert!((f.percent() - 10.2632).abs() < 1e-4);

        // Fewer than 21 results: ".x" is one change at the newest place, 6.25 %.
        let mut f = detector();
        feed(&mut f, ".x");
        assert_close(f.percent(), 6.25);
    }

    #[test]
    fn a_check_resumed_as_flapping_settles_only_after_a_whole_new_history() {
        let mut f = detector();
        f.resume();
        assert!(f.is_flapping());
        let changes = feed(&mut f, &".".repeat(HISTORY - 1));
        assert_eq!(
            changes,
            vec![],
            "20 steady results are not yet a whole history"
        );
        assert_eq!(f.observe(false), Some(FlapChange::Stopped { percent: 0.0 }));
    }

    #[test]
    fn only_the_last_21_results_count() {
        let mut f = detector();
        feed(&mut f, &format!("x.x.x.x.{}", ".".repeat(21)));
        assert_close(f.percent(), 0.0);
    }
}
