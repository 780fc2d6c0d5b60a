//! A threshold rule's two pure parts: which level a value is at ([`Thresholds`]), and when a
//! level has lasted long enough to fire, change or resolve an alert ([`Hold`]).
//!
//! No clock of its own: every call takes the time, so the engine (and the tests) decide what
//! "now" is. A rule with `for = "3s"` does not fire on a 1-second spike and fires on a
//! 5-second one; warning, then critical, then warning again is one alert whose level changed.

use super::Level;
use crate::time::Millis;
use std::collections::VecDeque;
use std::time::Duration;

/// Which way a value gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Bigger is worse (latency, disk used).
    Above,
    /// Smaller is worse (availability, days left on a certificate).
    Below,
}

/// The warning and critical thresholds of a rule; either may be absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub warn: Option<f64>,
    pub crit: Option<f64>,
    pub direction: Direction,
}

impl Thresholds {
    /// The level a value is at: Critical past crit, Warning past warn, None when fine.
    /// "Past" is `>=` for [`Direction::Above`], `<=` for [`Direction::Below`].
    ///
    /// NaN is past nothing, so it reads as fine: a broken reading is the check's failure to
    /// report, not a threshold crossing.
    pub fn level(&self, value: f64) -> Option<Level> {
        let past = |threshold: Option<f64>| match (threshold, self.direction) {
            (Some(t), Direction::Above) => value >= t,
            (Some(t), Direction::Below) => value <= t,
            (None, _) => false,
        };
        if past(self.crit) {
            Some(Level::Critical)
        } else if past(self.warn) {
            Some(Level::Warning)
        } else {
            None
        }
    }

    /// The threshold of `level` (for messages).
    pub fn threshold(&self, level: Level) -> Option<f64> {
        match level {
            Level::Warning => self.warn,
            Level::Critical => self.crit,
        }
    }
}

/// What happened to the alert of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldChange {
    /// It started firing at this level.
    Fired(Level),
    /// Still the same alert, now at another level.
    Changed { from: Level, to: Level },
    /// It stopped firing.
    Resolved,
}

impl HoldChange {
    /// The level firing once this change happened.
    pub fn level_after(self) -> Option<Level> {
        match self {
            HoldChange::Fired(level) => Some(level),
            HoldChange::Changed { to, .. } => Some(to),
            HoldChange::Resolved => None,
        }
    }
}

/// The hold state machine of one threshold rule: fires once a level has held for `hold_for`,
/// resolves once the condition has been clear for `clear_for`.
///
/// - Not firing: fires once the condition has been at least Warning continuously for
///   `hold_for`, at the highest level that has itself held that long (a short spike to
///   critical inside a long warning fires Warning). A clear value resets the pending hold.
/// - Firing at Warning: changes to Critical once Critical has held for `hold_for`.
/// - Firing at Critical: changes to Warning once the value has been below crit for
///   `clear_for` and is at Warning (while it is clear, the resolve hold runs instead; if a
///   warning value then comes back after that long below crit, the change happens then).
/// - Firing at any level: resolves once the condition has been clear for `clear_for`; a
///   value back at or past warn resets that hold.
///
/// A level that held for exactly the hold counts (a deadline at `t` is due at `t`), so a zero
/// hold acts on the value itself.
///
/// # Several changes at once
/// Both [`Hold::update`] and [`Hold::tick`] first apply every deadline that has passed, in time
/// order, then (for `update`) the new value. Each call returns at most one change; any others
/// wait in order, [`Hold::next_deadline`] reports them as already due, and
/// `while let Some(c) = hold.tick(now) { .. }` returns them all. [`Hold::firing`] follows
/// what has been returned, not what is still waiting. For example, a warning at 0, a
/// critical from 1, `for = 3s` and the next value at 10: `update` returns `Fired(Warning)`
/// (due at 3), the next `tick` returns `Changed { Warning -> Critical }` (due at 4).
#[derive(Debug, Clone)]
pub struct Hold {
    hold_ms: Millis,
    clear_ms: Millis,
    /// The level firing as the state machine has it, waiting changes included.
    applied: Option<Level>,
    /// The level as the caller has been told; differs from `applied` while changes wait.
    reported: Option<Level>,
    /// Changes applied but not yet returned, each with the time it became due.
    waiting: VecDeque<(Millis, HoldChange)>,
    /// The level of the last value, which holds until the next one.
    level: Option<Level>,
    last_at: Option<Millis>,
    /// Start of the current run of values at least Warning.
    warn_since: Option<Millis>,
    /// Start of the current run of Critical values.
    crit_since: Option<Millis>,
    /// Start of the current run of values below Critical (Warning or clear).
    below_crit_since: Option<Millis>,
    /// Start of the current run of clear values.
    clear_since: Option<Millis>,
}

/// A transition of the state machine, before it becomes a [`HoldChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Fire(Level),
    Escalate,
    DeEscalate,
    Resolve,
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

impl Hold {
    pub fn new(hold_for: Duration, clear_for: Duration) -> Self {
        Hold::with_holds(millis(hold_for), millis(clear_for))
    }

    fn with_holds(hold_ms: Millis, clear_ms: Millis) -> Self {
        Hold {
            hold_ms,
            clear_ms,
            applied: None,
            reported: None,
            waiting: VecDeque::new(),
            level: None,
            last_at: None,
            warn_since: None,
            crit_since: None,
            below_crit_since: None,
            clear_since: None,
        }
    }

    /// The condition is at `level` from `at` on (None = clear). Called on every new value, in
    /// time order; a value older than the last one counts as arriving at the last one's time.
    pub fn update(&mut self, level: Option<Level>, at: Millis) -> Option<HoldChange> {
        let at = self.last_at.map_or(at, |last| at.max(last));
        // Deadlines that passed before this value were met by the previous one.
        self.advance(at);
        self.record(level, at);
        // A zero hold, or an overdue change to Warning, acts on the value itself.
        self.advance(at);
        self.pop()
    }

    /// Time has passed up to `now` with no new value: a hold may have run out.
    pub fn tick(&mut self, now: Millis) -> Option<HoldChange> {
        self.advance(now);
        self.pop()
    }

    /// The next time at which [`Hold::tick`] could return a change (None: nothing pending).
    /// A change still waiting to be returned is already due: its time is in the past.
    pub fn next_deadline(&self) -> Option<Millis> {
        match self.waiting.front() {
            Some((at, _)) => Some(*at),
            None => self.due().map(|(at, _)| at),
        }
    }

    /// The level it fires at, if firing.
    pub fn firing(&self) -> Option<Level> {
        self.reported
    }

    /// Puts back an alert that was firing at `level` when the daemon stopped (restart):
    /// firing, nothing pending. The holds start again from the next value.
    pub fn resume(&mut self, level: Level) {
        *self = Hold {
            applied: Some(level),
            reported: Some(level),
            ..Hold::with_holds(self.hold_ms, self.clear_ms)
        };
    }

    /// Starts and ends the runs the new value starts and ends.
    fn record(&mut self, level: Option<Level>, at: Millis) {
        let keep = |since: Option<Millis>, on: bool| if on { since.or(Some(at)) } else { None };
        self.warn_since = keep(self.warn_since, level.is_some());
        self.crit_since = keep(self.crit_since, level == Some(Level::Critical));
        self.below_crit_since = keep(self.below_crit_since, level != Some(Level::Critical));
        self.clear_since = keep(self.clear_since, level.is_none());
        self.level = level;
        self.last_at = Some(at);
    }

    /// The earliest transition the current runs lead to, and when it is due.
    fn due(&self) -> Option<(Millis, Step)> {
        let after = |since: Option<Millis>, hold: Millis| since.map(|s| s.saturating_add(hold));
        let resolve = after(self.clear_since, self.clear_ms).map(|at| (at, Step::Resolve));
        match self.applied {
            None => {
                // A critical run lies inside a warning run, so its deadline is never earlier;
                // on a tie (both started together) it fires at Critical straight away.
                let crit = after(self.crit_since, self.hold_ms);
                let warn = after(self.warn_since, self.hold_ms);
                match (crit, warn) {
                    (Some(c), Some(w)) if c <= w => Some((c, Step::Fire(Level::Critical))),
                    (_, Some(w)) => Some((w, Step::Fire(Level::Warning))),
                    (Some(c), None) => Some((c, Step::Fire(Level::Critical))),
                    (None, None) => None,
                }
            }
            Some(Level::Warning) => after(self.crit_since, self.hold_ms)
                .map(|at| (at, Step::Escalate))
                .or(resolve),
            Some(Level::Critical) => match (self.level, self.warn_since) {
                (Some(Level::Warning), Some(warn_since)) => {
                    after(self.below_crit_since, self.clear_ms)
                        .map(|at| (at.max(warn_since), Step::DeEscalate))
                }
                _ => resolve,
            },
        }
    }

    /// Applies every transition due by `now`, in order, queueing the changes.
    fn advance(&mut self, now: Millis) {
        // Each step changes `applied`, and no two steps can undo each other at one level of
        // the value, so this ends after a few rounds; the bound only guards that reasoning.
        for _ in 0..8 {
            let Some((at, step)) = self.due().filter(|(at, _)| *at <= now) else {
                return;
            };
            let change = match step {
                Step::Fire(level) => HoldChange::Fired(level),
                Step::Escalate => HoldChange::Changed {
                    from: Level::Warning,
                    to: Level::Critical,
                },
                Step::DeEscalate => HoldChange::Changed {
                    from: Level::Critical,
                    to: Level::Warning,
                },
                Step::Resolve => HoldChange::Resolved,
            };
            self.applied = change.level_after();
            self.waiting.push_back((at, change));
        }
    }

    fn pop(&mut self) -> Option<HoldChange> {
        let (_, change) = self.waiting.pop_front()?;
        self.reported = change.level_after();
        Some(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::{Critical, Warning};

    const S: Millis = 1_000;

    fn hold(hold_s: u64, clear_s: u64) -> Hold {
        Hold::new(Duration::from_secs(hold_s), Duration::from_secs(clear_s))
    }

    /// Feeds one value a second from `t0` (seconds) and collects every change with its second.
    fn feed(h: &mut Hold, t0: i64, levels: &[Option<Level>]) -> Vec<(i64, HoldChange)> {
        let mut out = Vec::new();
        for (i, level) in levels.iter().enumerate() {
            let t = t0 + i as i64;
            if let Some(c) = h.update(*level, t * S) {
                out.push((t, c));
            }
            while let Some(c) = h.tick(t * S) {
                out.push((t, c));
            }
        }
        out
    }

    const W: Option<Level> = Some(Warning);
    const C: Option<Level> = Some(Critical);
    const OK: Option<Level> = None;

    fn latency() -> Thresholds {
        Thresholds {
            warn: Some(200.0),
            crit: Some(500.0),
            direction: Direction::Above,
        }
    }

    #[test]
    fn a_value_at_the_threshold_is_past_it() {
        let t = latency();
        assert_eq!(t.level(199.9), None);
        assert_eq!(t.level(200.0), Some(Warning));
        assert_eq!(t.level(499.0), Some(Warning));
        assert_eq!(t.level(500.0), Some(Critical));
        assert_eq!(t.level(f64::NAN), None);
        assert_eq!(t.threshold(Warning), Some(200.0));
        assert_eq!(t.threshold(Critical), Some(500.0));
    }

    #[test]
    fn availability_below_its_thresholds_is_worse() {
        let t = Thresholds {
            warn: Some(99.9),
            crit: Some(99.0),
            direction: Direction::Below,
        };
        assert_eq!(t.level(99.95), None);
        assert_eq!(t.level(99.9), Some(Warning));
        assert_eq!(t.level(99.5), Some(Warning));
        assert_eq!(t.level(99.0), Some(Critical));
        assert_eq!(t.level(42.0), Some(Critical));
    }

    #[test]
    fn a_rule_with_only_a_critical_threshold_skips_warning() {
        let t = Thresholds {
            warn: None,
            crit: Some(10.0),
            direction: Direction::Below,
        };
        assert_eq!(t.level(11.0), None);
        assert_eq!(t.level(3.0), Some(Critical));
        assert_eq!(t.threshold(Warning), None);
    }

    #[test]
    fn a_one_second_spike_does_not_fire_a_three_second_hold() {
        let mut h = hold(3, 0);
        let changes = feed(&mut h, 0, &[OK, W, OK, OK, OK, OK, OK, OK]);
        assert_eq!(changes, vec![]);
        assert_eq!(h.firing(), None);
        assert_eq!(h.next_deadline(), None);
    }

    #[test]
    fn a_five_second_spike_fires_after_three_seconds() {
        let mut h = hold(3, 0);
        // Bad from 1 to 5 (the value at 6 is clear): fires at 1 + 3.
        let changes = feed(&mut h, 0, &[OK, W, W, W, W, W, OK]);
        assert_eq!(
            changes,
            vec![(4, HoldChange::Fired(Warning)), (6, HoldChange::Resolved)]
        );
    }

    #[test]
    fn a_hold_runs_out_on_tick_without_a_new_value() {
        let mut h = hold(3, 0);
        assert_eq!(h.update(W, 10 * S), None);
        assert_eq!(h.next_deadline(), Some(13 * S));
        assert_eq!(h.tick(12 * S), None);
        assert_eq!(h.firing(), None);
        assert_eq!(h.tick(13 * S), Some(HoldChange::Fired(Warning)));
        assert_eq!(h.firing(), Some(Warning));
        assert_eq!(h.next_deadline(), None);
    }

    #[test]
    fn an_update_after_a_missed_deadline_fires_first() {
        let mut h = hold(3, 0);
        assert_eq!(h.update(W, 0), None);
        // No tick at 3: the clear value at 5 still finds the warning held for 3 s.
        assert_eq!(h.update(OK, 5 * S), Some(HoldChange::Fired(Warning)));
        assert_eq!(h.next_deadline(), Some(5 * S));
        assert_eq!(h.tick(5 * S), Some(HoldChange::Resolved));
        assert_eq!(h.tick(5 * S), None);
        assert_eq!(h.firing(), None);
    }

    #[test]
    fn fire_then_escalate_come_out_in_order_over_successive_calls() {
        let mut h = hold(3, 0);
        assert_eq!(h.update(W, 0), None);
        assert_eq!(h.update(C, S), None);
        assert_eq!(h.update(C, 10 * S), Some(HoldChange::Fired(Warning)));
        assert_eq!(h.firing(), Some(Warning), "follows what was returned");
        assert_eq!(
            h.next_deadline(),
            Some(4 * S),
            "the escalation is already due"
        );
        assert_eq!(
            h.tick(10 * S),
            Some(HoldChange::Changed {
                from: Warning,
                to: Critical
            })
        );
        assert_eq!(h.tick(10 * S), None);
        assert_eq!(h.firing(), Some(Critical));
    }

    #[test]
    fn a_short_critical_spike_inside_a_long_warning_fires_warning() {
        let mut h = hold(3, 0);
        let changes = feed(&mut h, 0, &[W, C, W, W, W]);
        assert_eq!(changes, vec![(3, HoldChange::Fired(Warning))]);
    }

    #[test]
    fn critical_from_the_start_fires_critical() {
        let mut h = hold(3, 0);
        let changes = feed(&mut h, 0, &[C, C, C, C]);
        assert_eq!(changes, vec![(3, HoldChange::Fired(Critical))]);
    }

    #[test]
    fn warning_then_critical_then_warning_then_clear_is_one_alert() {
        let mut h = hold(3, 2);
        let changes = feed(&mut h, 0, &[W, W, W, W, C, C, C, C, W, W, W, OK, OK, OK]);
        assert_eq!(
            changes,
            vec![
                (3, HoldChange::Fired(Warning)),
                (
                    7,
                    HoldChange::Changed {
                        from: Warning,
                        to: Critical
                    }
                ),
                (
                    10,
                    HoldChange::Changed {
                        from: Critical,
                        to: Warning
                    }
                ),
                (13, HoldChange::Resolved),
            ]
        );
        assert_eq!(h.firing(), None);
    }

    #[test]
    fn a_dip_below_warn_shorter_than_clear_for_does_not_resolve() {
        let mut h = hold(0, 3);
        let changes = feed(&mut h, 0, &[W, OK, OK, W, OK, OK, W]);
        assert_eq!(changes, vec![(0, HoldChange::Fired(Warning))]);
        assert_eq!(h.firing(), Some(Warning));
        // Clear for three seconds this time.
        let changes = feed(&mut h, 7, &[OK, OK, OK, OK]);
        assert_eq!(changes, vec![(10, HoldChange::Resolved)]);
    }

    #[test]
    fn a_dip_below_crit_shorter_than_clear_for_stays_critical() {
        let mut h = hold(0, 3);
        let changes = feed(&mut h, 0, &[C, W, W, C, W, C]);
        assert_eq!(changes, vec![(0, HoldChange::Fired(Critical))]);
        assert_eq!(h.firing(), Some(Critical));
    }

    #[test]
    fn critical_that_clears_resolves_without_passing_through_warning() {
        let mut h = hold(0, 3);
        let changes = feed(&mut h, 0, &[C, W, OK, OK, OK, OK]);
        assert_eq!(
            changes,
            vec![(0, HoldChange::Fired(Critical)), (5, HoldChange::Resolved)]
        );
    }

    #[test]
    fn a_warning_after_long_enough_below_crit_changes_the_level_at_once() {
        let mut h = hold(0, 3);
        // Below crit from 1; clear 2..4 (not long enough to resolve); warning again at 4,
        // by then 3 s below crit.
        let changes = feed(&mut h, 0, &[C, W, OK, OK, W]);
        assert_eq!(
            changes,
            vec![
                (0, HoldChange::Fired(Critical)),
                (
                    4,
                    HoldChange::Changed {
                        from: Critical,
                        to: Warning
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_clear_value_resets_the_pending_hold() {
        let mut h = hold(3, 0);
        let changes = feed(&mut h, 0, &[W, W, OK, W, W, OK, W, W]);
        assert_eq!(changes, vec![]);
        assert_eq!(h.next_deadline(), Some(9 * S));
    }

    #[test]
    fn availability_below_its_warning_fires_with_the_below_direction() {
        let t = Thresholds {
            warn: Some(99.9),
            crit: Some(99.0),
            direction: Direction::Below,
        };
        let mut h = hold(2, 0);
        let values = [99.95, 99.5, 99.5, 99.5, 99.95];
        let levels: Vec<_> = values.iter().map(|v| t.level(*v)).collect();
        let changes = feed(&mut h, 0, &levels);
        assert_eq!(
            changes,
            vec![(3, HoldChange::Fired(Warning)), (4, HoldChange::Resolved)]
        );
    }

    #[test]
    fn a_zero_hold_fires_on_the_first_value_past_a_threshold() {
        let mut h = hold(0, 5);
        assert_eq!(h.update(OK, 0), None);
        assert_eq!(h.update(W, S), Some(HoldChange::Fired(Warning)));
        assert_eq!(
            h.update(C, 2 * S),
            Some(HoldChange::Changed {
                from: Warning,
                to: Critical
            })
        );
    }

    #[test]
    fn a_zero_hold_fires_critical_directly_on_a_critical_value() {
        let mut h = hold(0, 0);
        assert_eq!(h.update(C, 0), Some(HoldChange::Fired(Critical)));
    }

    #[test]
    fn a_zero_clear_for_resolves_on_the_first_clear_value() {
        let mut h = hold(0, 0);
        let changes = feed(&mut h, 0, &[W, OK, C, W, OK]);
        assert_eq!(
            changes,
            vec![
                (0, HoldChange::Fired(Warning)),
                (1, HoldChange::Resolved),
                (2, HoldChange::Fired(Critical)),
                (
                    3,
                    HoldChange::Changed {
                        from: Critical,
                        to: Warning
                    }
                ),
                (4, HoldChange::Resolved),
            ]
        );
    }

    #[test]
    fn a_resumed_alert_is_firing_with_nothing_pending() {
        let mut h = hold(3, 2);
        h.resume(Critical);
        assert_eq!(h.firing(), Some(Critical));
        assert_eq!(h.next_deadline(), None);
        assert_eq!(h.tick(1_000 * S), None);
        // Still critical after the restart: no new alert, no change.
        assert_eq!(feed(&mut h, 100, &[C, C, C, C, C]), vec![]);
        // It resolves like any other once clear for `clear_for`.
        assert_eq!(
            feed(&mut h, 105, &[OK, OK, OK]),
            vec![(107, HoldChange::Resolved)]
        );
    }

    #[test]
    fn resume_drops_what_was_pending_and_keeps_the_holds() {
        let mut h = hold(3, 2);
        assert_eq!(h.update(W, 0), None);
        h.resume(Warning);
        assert_eq!(h.next_deadline(), None);
        assert_eq!(h.update(C, 10 * S), None);
        assert_eq!(h.next_deadline(), Some(13 * S));
    }

    #[test]
    fn a_value_out_of_order_counts_at_the_latest_time() {
        let mut h = hold(3, 0);
        assert_eq!(h.update(W, 10 * S), None);
        assert_eq!(h.update(W, 5 * S), None);
        assert_eq!(h.next_deadline(), Some(13 * S));
    }
}
