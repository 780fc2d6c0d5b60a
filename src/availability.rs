//! Availability from incidents and coverage: pure interval arithmetic.
//!
//! Availability is time-weighted: `1 - downtime / observed`, where *observed* is the part of
//! the window in which the check was actually being watched (time the daemon was not running
//! is `no_data` and left out) and *downtime* is the part of that covered by incidents.
//! Counting probes would let a breaker that probes less often shrink an outage; this cannot.

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
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Availability {
    /// Percent of observed time not in an incident; `None` when nothing was observed.
    pub percent: Option<f64>,
    pub window_seconds: f64,
    pub observed_seconds: f64,
    pub downtime_seconds: f64,
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

/// Computes availability over `window` from when the check was watched (`coverage`) and its
/// incidents (open incidents end at "now", which the caller supplies as their end).
pub fn compute(window: Span, coverage: &[Span], incidents: &[Span]) -> Availability {
    let covered = union(coverage.iter().map(|s| s.clip(window)).collect());
    let down = union(incidents.iter().map(|s| s.clip(window)).collect());
    let observed: i64 = covered.iter().map(Span::len).sum();
    let downtime = overlap(&covered, &down);
    let count = incidents
        .iter()
        .filter(|s| s.start < window.end && s.end > window.start)
        .count();
    let percent = (observed > 0).then(|| {
        let p = 100.0 * (observed - downtime) as f64 / observed as f64;
        (p * 1000.0).round() / 1000.0
    });
    Availability {
        percent,
        window_seconds: window.len() as f64 / 1000.0,
        observed_seconds: observed as f64 / 1000.0,
        downtime_seconds: downtime as f64 / 1000.0,
        no_data_seconds: (window.len() - observed) as f64 / 1000.0,
        incidents: u32::try_from(count).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn a_fully_observed_window_without_incidents_is_100_percent() {
        let a = compute(Span::new(0, 24 * H), &[Span::new(-H, 25 * H)], &[]);
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
        let a = compute(Span::new(0, 24 * H), &coverage, &incidents);
        assert_eq!(a.observed_seconds, 12.0 * 3600.0);
        assert_eq!(a.downtime_seconds, 3.0 * 3600.0);
        assert_eq!(a.no_data_seconds, 12.0 * 3600.0);
        assert_eq!(a.percent, Some(75.0));
    }

    #[test]
    fn nothing_observed_means_no_percentage() {
        assert_eq!(compute(Span::new(0, H), &[], &[]).percent, None);
    }

    #[test]
    fn overlapping_coverage_is_not_counted_twice() {
        assert_eq!(
            union(vec![Span::new(5, 10), Span::new(0, 6), Span::new(20, 30)]),
            vec![Span::new(0, 10), Span::new(20, 30)]
        );
    }
}
