//! Availability from incidents and coverage: pure interval arithmetic.
//!
//! Availability is time-weighted: `1 - downtime / observed`, where *observed* is the part of
//! the window in which the check was actually being watched (time the daemon was not running
//! is `no_data` and left out) and not in maintenance (left out too), and *downtime* is the
//! part of that covered by incidents. Counting probes would let a breaker that probes less
//! often shrink an outage; this cannot.

use serde::Serialize;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A half-open time range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: Millis,
    pub end: Millis,
}

impl Span {
    pub fn new(start: Millis, end: Millis) -> Self {
        Span {
            start,
            end: end.max(start),
        }
    }

    pub fn len(&self) -> i64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    fn clip(&self, to: Span) -> Span {
        Span::new(self.start.max(to.start), self.end.min(to.end))
    }
}

/// Availability of one check over one window.
///
/// `window = observed + maintenance + no_data`, and `downtime` is part of `observed`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Availability {
    /// Percent of observed time not in an incident; `None` when nothing was observed.
    pub percent: Option<f64>,
    pub window_seconds: f64,
    /// Watched and not in maintenance: the time the ratio is taken over.
    pub observed_seconds: f64,
    pub downtime_seconds: f64,
    /// Watched, but in a maintenance window: left out of the ratio.
    pub maintenance_seconds: f64,
    /// Time in the window when the check was not being watched.
    pub no_data_seconds: f64,
    /// Incidents overlapping the window.
    pub incidents: u32,
}

/// Sorts and merges overlapping spans.
pub fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|s| !s.is_empty());
    spans.sort_by_key(|s| s.start);
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// Total length of `a ∩ b`, both already merged and sorted.
fn overlap(a: &[Span], b: &[Span]) -> i64 {
    let (mut i, mut j, mut total) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if end > start {
            total += end - start;
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    total
}

/// `a` without `b`, both merged and sorted.
pub fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for s in a {
        let mut start = s.start;
        while j < b.len() && b[j].end <= start {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].start < s.end {
            if b[k].start > start {
                out.push(Span::new(start, b[k].start));
            }
            start = start.max(b[k].end);
            k += 1;
        }
        if start < s.end {
            out.push(Span::new(start, s.end));
        }
    }
    out
}

/// Computes availability over `window` from when the check was watched (`coverage`), its
/// incidents (open incidents end at "now", which the caller supplies as their end) and the
/// maintenance windows that applied to it.
pub fn compute(
    window: Span,
    coverage: &[Span],
    incidents: &[Span],
    maintenance: &[Span],
) -> Availability {
    tally(window, coverage, incidents, maintenance).finish()
}

/// What [`compute`] counts, in whole milliseconds, before it becomes a ratio. Tallies of
/// adjacent windows add up to the tally of their union, so a long window can be summed from
/// pieces, most of them read once and kept (see `store::summary`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    window_ms: i64,
    watched_ms: i64,
    observed_ms: i64,
    downtime_ms: i64,
    /// Incidents that started in the window.
    started: u32,
    /// Incidents that started before the window and still ran at its start.
    carried_in: u32,
}

/// [`compute`] before the ratio.
pub fn tally(window: Span, coverage: &[Span], incidents: &[Span], maintenance: &[Span]) -> Tally {
    let watched = union(coverage.iter().map(|s| s.clip(window)).collect());
    let paused = union(maintenance.iter().map(|s| s.clip(window)).collect());
    let covered = subtract(&watched, &paused);
    let down = union(incidents.iter().map(|s| s.clip(window)).collect());
    let count = |keep: &dyn Fn(&Span) -> bool| {
        u32::try_from(incidents.iter().filter(|s| keep(s)).count()).unwrap_or(u32::MAX)
    };
    Tally {
        window_ms: window.len(),
        watched_ms: watched.iter().map(Span::len).sum(),
        observed_ms: covered.iter().map(Span::len).sum(),
        downtime_ms: overlap(&covered, &down),
        started: count(&|s| s.start >= window.start && s.start < window.end),
        carried_in: count(&|s| s.start < window.start && s.end > window.start),
    }
}

impl Tally {
    /// `self` followed by the adjacent window `later`.
    #[must_use]
    pub fn then(self, later: Tally) -> Tally {
        Tally {
            window_ms: self.window_ms + later.window_ms,
            watched_ms: self.watched_ms + later.watched_ms,
            observed_ms: self.observed_ms + later.observed_ms,
            downtime_ms: self.downtime_ms + later.downtime_ms,
            started: self.started.saturating_add(later.started),
            // Those carried into `later` started in `self` or were carried into it.
            carried_in: self.carried_in,
        }
    }

    pub fn finish(self) -> Availability {
        let percent = (self.observed_ms > 0).then(|| {
            let p = 100.0 * (self.observed_ms - self.downtime_ms) as f64 / self.observed_ms as f64;
            (p * 1000.0).round() / 1000.0
        });
        Availability {
            percent,
            window_seconds: self.window_ms as f64 / 1000.0,
            observed_seconds: self.observed_ms as f64 / 1000.0,
            downtime_seconds: self.downtime_ms as f64 / 1000.0,
            maintenance_seconds: (self.watched_ms - self.observed_ms) as f64 / 1000.0,
            no_data_seconds: (self.window_ms - self.watched_ms) as f64 / 1000.0,
            incidents: self.started.saturating_add(self.carried_in),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn a_fully_observed_window_without_incidents_is_100_percent() {
        let a = compute(Span::new(0, 24 * H), &[Span::new(-H, 25 * H)], &[], &[]);
        assert_eq!(a.percent, Some(100.0));
        assert_eq!(a.no_data_seconds, 0.0);
    }

    #[test]
    fn downtime_is_time_weighted_and_clipped_to_the_window() {
        // One hour down inside the window, another incident mostly before it.
        let a = compute(
            Span::new(0, 24 * H),
            &[Span::new(0, 24 * H)],
            &[Span::new(2 * H, 3 * H), Span::new(-5 * H, H / 2)],
            &[],
        );
        assert_eq!(a.downtime_seconds, 1.5 * 3600.0);
        assert_eq!(a.incidents, 2);
        assert_eq!(a.percent, Some(93.75));
    }

    #[test]
    fn time_without_data_is_left_out_of_the_ratio() {
        // Watched only 12 of 24 hours, down 3 of those 12; the 3-hour outage while the daemon
        // was stopped counts for nothing.
        let coverage = [Span::new(0, 6 * H), Span::new(18 * H, 24 * H)];
        let incidents = [Span::new(3 * H, 9 * H)];
        let a = compute(Span::new(0, 24 * H), &coverage, &incidents, &[]);
        assert_eq!(a.observed_seconds, 12.0 * 3600.0);
        assert_eq!(a.downtime_seconds, 3.0 * 3600.0);
        assert_eq!(a.no_data_seconds, 12.0 * 3600.0);
        assert_eq!(a.percent, Some(75.0));
    }

    #[test]
    fn nothing_observed_means_no_percentage() {
        assert_eq!(compute(Span::new(0, H), &[], &[], &[]).percent, None);
    }

    #[test]
    fn maintenance_is_left_out_of_the_ratio_and_costs_no_downtime() {
        // Down from 2 h to 5 h; maintenance from 1 h to 4 h: only 4 h to 5 h counts, over the
        // 21 watched hours outside maintenance.
        let a = compute(
            Span::new(0, 24 * H),
            &[Span::new(0, 24 * H)],
            &[Span::new(2 * H, 5 * H)],
            &[Span::new(H, 4 * H)],
        );
        assert_eq!(a.maintenance_seconds, 3.0 * 3600.0);
        assert_eq!(a.observed_seconds, 21.0 * 3600.0);
        assert_eq!(a.downtime_seconds, 3600.0);
        assert_eq!(a.no_data_seconds, 0.0);
        assert_eq!(a.percent, Some(95.238));
    }

    #[test]
    fn subtracting_spans_keeps_what_lies_outside() {
        let a = [Span::new(0, 10), Span::new(20, 30)];
        let b = [Span::new(5, 7), Span::new(8, 22), Span::new(29, 40)];
        assert_eq!(
            subtract(&a, &b),
            vec![Span::new(0, 5), Span::new(7, 8), Span::new(22, 29)]
        );
        assert_eq!(subtract(&a, &[]), a.to_vec());
        assert!(subtract(&a, &[Span::new(-1, 50)]).is_empty());
    }

    #[test]
    fn overlapping_coverage_is_not_counted_twice() {
        assert_eq!(
            union(vec![Span::new(5, 10), Span::new(0, 6), Span::new(20, 30)]),
            vec![Span::new(0, 10), Span::new(20, 30)]
        );
    }

    #[test]
    fn tallies_of_adjacent_windows_add_up_to_the_whole() {
        let coverage = [Span::new(-H, 7 * H), Span::new(9 * H, 30 * H)];
        let incidents = [
            Span::new(-2 * H, H / 3),
            Span::new(2 * H, 11 * H),
            Span::new(11 * H + 1, 11 * H + 7),
            Span::new(23 * H, 40 * H),
        ];
        let maintenance = [Span::new(10 * H, 12 * H)];
        let whole = tally(Span::new(0, 24 * H), &coverage, &incidents, &maintenance);
        for cuts in [
            vec![0, 24 * H],
            vec![0, H, 24 * H],
            vec![0, 5 * H, 11 * H + 3, 23 * H + 1, 24 * H],
        ] {
            let sum = cuts
                .windows(2)
                .map(|w| tally(Span::new(w[0], w[1]), &coverage, &incidents, &maintenance))
                .reduce(Tally::then)
                .unwrap_or_default();
            assert_eq!(sum, whole, "cut at {cuts:?}");
        }
        assert_eq!(whole.finish().incidents, 4);
    }
}
