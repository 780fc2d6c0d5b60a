//! Maintenance windows (`[[maintenance]]` in `monitor.toml`): times in which some checks are
//! expected to fail, so their alerts stay quiet. Pure: every question takes the time.
//!
//! A window is either one-off (`start` and `end`) or recurring (`cron` and `duration`), in
//! the time zone `tz` (default UTC):
//!
//! - `start`/`end` are local times in `tz` (`2026-12-05T02:00:00`, a space instead of the
//!   `T`, seconds optional), or absolute with a trailing `Z` or an offset (`+01:00`). A local
//!   time the clocks skip (the spring-forward hour) is an error; a local time the clocks
//!   repeat (the autumn hour) is its earlier instant, the one still in summer time.
//! - `cron` has 6 fields (seconds first) or 5 (minute first); its occurrences are computed
//!   in the local time of `tz`, so `0 0 2 * * SUN` in Europe/Berlin is 01:00 UTC in winter
//!   and 00:00 UTC in summer. Each window lasts `duration` of real elapsed time.
//!
//! # Daylight saving time (croner's rules, pinned by the tests below)
//! - An occurrence in the skipped spring hour, when the pattern names one time of day
//!   (single second, minute and hour, such as `0 30 2 * * *`), runs at the first instant
//!   after the gap: 03:00 local (01:00 UTC) on 2027-03-28 in Europe/Berlin. Patterns with
//!   several times of day (`0 0,30 2 * * *`, steps, wildcards) skip the ones in the gap.
//! - An occurrence in the repeated autumn hour runs once, at its first (summer-time) instant,
//!   when the pattern names one time of day: `0 30 2 * * *` on 2026-10-25 in Europe/Berlin is
//!   00:30 UTC only. Patterns with several times of day run at both passes.

use crate::availability::Span;
use crate::duration;
use crate::keys::FieldError;
use crate::time::Millis;
use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::time::Duration;

/// One `[[maintenance]]` table as written.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Shown in messages and `validate`.
    pub name: String,
    /// The checks it silences; absent or empty: every check.
    #[serde(default)]
    pub checks: Vec<String>,
    /// One-off window: its first instant (local to `tz` unless it ends in `Z` or an offset).
    pub start: Option<String>,
    /// One-off window: the instant it ends (exclusive).
    pub end: Option<String>,
    /// Recurring window: when each one starts, 6 fields (seconds first) or 5.
    pub cron: Option<String>,
    /// Recurring window: how long each one lasts.
    #[serde(default, deserialize_with = "crate::duration::deserialize_opt")]
    pub duration: Option<Duration>,
    /// IANA time zone of `start`, `end` and `cron`; default UTC.
    pub tz: Option<String>,
}

/// A validated maintenance: which checks, and when.
#[derive(Debug, Clone)]
pub struct Maintenance {
    pub name: String,
    pub checks: Vec<String>,
    window: Window,
    tz: Tz,
}

#[derive(Debug, Clone)]
enum Window {
    Once(Span),
    Cron {
        /// Boxed: a parsed pattern is a few hundred bytes, a one-off span sixteen.
        cron: Box<croner::Cron>,
        /// As written, for `describe`.
        expr: String,
        duration: Duration,
        duration_ms: Millis,
    },
}

/// How far before the asked time the cron search begins, so an occurrence moved past a
/// spring-forward gap (at most two hours anywhere today) is still found.
const SEARCH_MARGIN_MS: Millis = 3 * 3_600_000;

const TIME_EXPECTED: &str =
    "a date and time such as 2026-12-05T02:00:00 (local to tz, or ending in Z or an offset such as +01:00)";

impl MaintenanceConfig {
    /// Validates and builds.
    ///
    /// # Errors
    /// A [`FieldError`] naming the key relative to the table (`name`, `tz`, `start`, `end`,
    /// `cron`, `duration`) and what was expected: either `start` and `end` or `cron` and
    /// `duration` (not both, not neither); `end` after `start`; a valid IANA `tz`; a local
    /// time that exists in `tz`; a cron expression that parses and occurs.
    pub fn build(self) -> Result<Maintenance, FieldError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        let tz = match &self.tz {
            None => Tz::UTC,
            Some(name) => name.trim().parse::<Tz>().map_err(|_| {
                FieldError::new(
                    "tz",
                    format!("expected an IANA time zone such as Europe/Berlin, got `{name}`"),
                )
            })?,
        };
        let once = self.start.is_some() || self.end.is_some();
        let recurring = self.cron.is_some() || self.duration.is_some();
        let cron_set = self.cron.is_some();
        let window = match (self.start, self.end, self.cron, self.duration) {
            _ if once && recurring => {
                let key = if cron_set { "cron" } else { "duration" };
                return Err(FieldError::new(
                    key,
                    "set either start and end (a one-off window) or cron and duration (a recurring one), not both",
                ));
            }
            (Some(start), Some(end), None, None) => {
                let from = parse_time("start", &start, tz)?;
                let to = parse_time("end", &end, tz)?;
                if to <= from {
                    return Err(FieldError::new(
                        "end",
                        format!("must be after start (`{start}`), got `{end}`"),
                    ));
                }
                Window::Once(Span::new(from, to))
            }
            (Some(_), None, None, None) => {
                return Err(FieldError::new("end", "is required with start"))
            }
            (None, Some(_), None, None) => {
                return Err(FieldError::new("start", "is required with end"))
            }
            (None, None, Some(expr), Some(duration)) => {
                let cron = parse_cron(&expr).map_err(|m| FieldError::new("cron", m))?;
                // Windows are counted in whole milliseconds.
                if duration.as_millis() == 0 {
                    return Err(FieldError::new(
                        "duration",
                        format!(
                            "expected a duration longer than 0s, got `{}`",
                            duration::format(duration)
                        ),
                    ));
                }
                Window::Cron {
                    cron: Box::new(cron),
                    expr: expr.split_whitespace().collect::<Vec<_>>().join(" "),
                    duration,
                    duration_ms: Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX),
                }
            }
            (None, None, Some(_), None) => {
                return Err(FieldError::new(
                    "duration",
                    "is required with cron: how long each window lasts",
                ))
            }
            (None, None, None, Some(_)) => {
                return Err(FieldError::new("cron", "is required with duration"))
            }
            _ => {
                return Err(FieldError::new(
                    "start",
                    "is required: set start and end (a one-off window) or cron and duration (a recurring one)",
                ))
            }
        };
        Ok(Maintenance {
            name: self.name,
            checks: self.checks,
            window,
            tz,
        })
    }
}

/// Reads a `start`/`end` value: local to `tz`, or absolute with `Z` or an offset.
fn parse_time(key: &'static str, text: &str, tz: Tz) -> Result<Millis, FieldError> {
    let bad = || FieldError::new(key, format!("expected {TIME_EXPECTED}, got `{text}`"));
    let s = text.trim();
    // A space between date and time reads as the `T` (byte 10 is a boundary if it is ASCII).
    let s = match s.as_bytes().get(10) {
        Some(b' ') => format!("{}T{}", &s[..10], s[11..].trim_start()),
        _ => s.to_string(),
    };
    let (local, offset) = split_offset(&s).ok_or_else(bad)?;
    let naive = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(local, f).ok())
        .ok_or_else(bad)?;
    if let Some(offset) = offset {
        let at = offset
            .from_local_datetime(&naive)
            .single()
            .ok_or_else(bad)?;
        return Ok(at.timestamp_millis());
    }
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(at) => Ok(at.timestamp_millis()),
        // The repeated autumn hour: the earlier pass, still in summer time.
        LocalResult::Ambiguous(earlier, _) => Ok(earlier.timestamp_millis()),
        LocalResult::None => Err(FieldError::new(
            key,
            format!(
                "`{text}` does not exist in {tz}: the clocks skip that time (daylight saving time \
                 starts); use a time after the change or an explicit offset such as +01:00"
            ),
        )),
    }
}

/// Splits `2026-12-05T02:00+01:00` into the local part and its offset (`Z` is +00:00).
/// `None` when what follows the time is neither.
fn split_offset(s: &str) -> Option<(&str, Option<FixedOffset>)> {
    if let Some(local) = s.strip_suffix(['Z', 'z']) {
        return Some((local, FixedOffset::east_opt(0)));
    }
    // The date has dashes of its own; an offset sign can only follow the time.
    let time_at = s.find('T')?;
    let Some(sign_at) = s[time_at..].find(['+', '-']).map(|i| i + time_at) else {
        return Some((s, None));
    };
    let (local, offset) = s.split_at(sign_at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (h, m) = offset[1..].split_once(':')?;
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    Some((
        local,
        Some(FixedOffset::east_opt(sign * (h * 3600 + m * 60))?),
    ))
}

/// Parses 6 fields (seconds first) or 5 (minute first, seconds 0), the way the scheduler
/// reads a check's `cron`; set up here so alerts need nothing from the config module.
fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let six = match expr.split_whitespace().count() {
        5 => format!("0 {}", expr.trim()),
        6 => expr.trim().to_string(),
        _ => {
            return Err(format!(
                "expected a cron expression of 6 fields (sec min hour dom month dow) or 5 (min hour dom month dow), got `{expr}`"
            ))
        }
    };
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(&six)
        .map_err(|e| format!("expected a valid cron expression, got `{expr}`: {e}"))?;
    // A pattern such as `0 0 0 31 2 *` parses but never runs: say so now, not never.
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    if cron.find_next_occurrence(&epoch, true).is_err() {
        return Err(format!("`{expr}` never occurs"));
    }
    Ok(cron)
}

impl Maintenance {
    /// Whether it covers `check` (an empty `checks` covers all).
    pub fn applies_to(&self, check: &str) -> bool {
        self.checks.is_empty() || self.checks.iter().any(|c| c == check)
    }

    /// The window containing `at` (`start <= at < end`), if any. When recurring windows
    /// overlap (a duration longer than the gap between occurrences), the one that started
    /// last, which ends last.
    pub fn active_at(&self, at: Millis) -> Option<Span> {
        match &self.window {
            Window::Once(span) => (span.start <= at && at < span.end).then_some(*span),
            Window::Cron { duration_ms, .. } => self
                .starts(at.saturating_sub(*duration_ms - 1), at.saturating_add(1))
                .into_iter()
                .rev()
                .find(|s| *s <= at)
                .map(|s| Span::new(s, s.saturating_add(*duration_ms))),
        }
    }

    /// Every window overlapping `[from, to)`, in order of start, unclipped. For cron, the
    /// occurrences are computed in the local time of `tz`; the cost is proportional to the
    /// number of occurrences in the range (a 90-day range of a weekly window is 13).
    pub fn windows(&self, from: Millis, to: Millis) -> Vec<Span> {
        if to <= from {
            return Vec::new();
        }
        match &self.window {
            Window::Once(span) => {
                if span.start < to && span.end > from {
                    vec![*span]
                } else {
                    Vec::new()
                }
            }
            Window::Cron { duration_ms, .. } => self
                .starts(from.saturating_sub(*duration_ms - 1), to)
                .into_iter()
                .filter(|s| *s < to)
                .map(|s| Span::new(s, s.saturating_add(*duration_ms)))
                .collect(),
        }
    }

    /// The first window start or end strictly after `at` (so the engine can set a timer), if
    /// any. With overlapping recurring windows this can be a boundary at which the check
    /// stays in maintenance; asking [`Maintenance::active_at`] then tells.
    pub fn next_change_after(&self, at: Millis) -> Option<Millis> {
        match &self.window {
            Window::Once(span) => [span.start, span.end].into_iter().find(|t| *t > at),
            Window::Cron { duration_ms, .. } => {
                let starts = self.starts(at.saturating_sub(*duration_ms - 1), at.saturating_add(1));
                // Windows containing `at` end after it; the others start after it.
                let first_end = starts
                    .iter()
                    .find(|s| **s <= at)
                    .map(|s| s.saturating_add(*duration_ms));
                let next_start = starts.iter().copied().find(|s| *s > at);
                first_end.into_iter().chain(next_start).min()
            }
        }
    }

    /// For `validate`: `2026-12-05 02:00–03:00 Europe/Berlin` or
    /// `cron 0 0 2 * * SUN for 1h (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        match &self.window {
            Window::Once(span) => {
                let (Some(start), Some(end)) = (self.local(span.start), self.local(span.end))
                else {
                    return format!("{}–{} ms since the epoch", span.start, span.end);
                };
                let end = if start.date_naive() == end.date_naive() {
                    self.clock(&end)
                } else {
                    format!("{} {}", end.format("%Y-%m-%d"), self.clock(&end))
                };
                format!(
                    "{} {}–{end} {}",
                    start.format("%Y-%m-%d"),
                    self.clock(&start),
                    self.tz.name()
                )
            }
            Window::Cron { expr, duration, .. } => format!(
                "cron {expr} for {} ({})",
                duration::format(*duration),
                self.tz.name()
            ),
        }
    }

    fn local(&self, at: Millis) -> Option<DateTime<Tz>> {
        DateTime::from_timestamp_millis(at).map(|t| t.with_timezone(&self.tz))
    }

    /// `02:00`, with seconds when they are not zero, and the offset when the local time is
    /// one the clocks repeat (else it would not say which of the two).
    fn clock(&self, t: &DateTime<Tz>) -> String {
        let mut out = if t.format("%S").to_string() == "00" {
            t.format("%H:%M").to_string()
        } else {
            t.format("%H:%M:%S").to_string()
        };
        if is_repeated(&self.tz, t) {
            out.push_str(&t.format("%:z").to_string());
        }
        out
    }

    /// Occurrence starts from `from` on, in order: every one in `[from, stop)`, then the
    /// first after `stop` at a local time the clocks do not repeat (and any others before it).
    ///
    /// croner walks local time, which is not monotonic in a repeated autumn hour: there it
    /// can yield the second pass of 02:15 before the first pass of 02:30. So the search
    /// begins at a local time that is not repeated and ends past one, and the result is
    /// sorted; past an unrepeated local time nothing earlier can follow.
    fn starts(&self, from: Millis, stop: Millis) -> Vec<Millis> {
        let Window::Cron { cron, .. } = &self.window else {
            return Vec::new();
        };
        // croner works in whole seconds; beginning at a fraction would keep it.
        let begin_s = from.saturating_sub(SEARCH_MARGIN_MS).div_euclid(1000);
        let Some(mut begin) =
            DateTime::from_timestamp(begin_s, 0).map(|t| t.with_timezone(&self.tz))
        else {
            return Vec::new();
        };
        // Begin before a repeated hour, not inside it, or its second pass is skipped.
        for _ in 0..96 {
            if !is_repeated(&self.tz, &begin) {
                break;
            }
            begin -= chrono::Duration::minutes(15);
        }
        let mut out = Vec::new();
        for occurrence in cron.iter_from(begin, croner::Direction::Forward) {
            let at = occurrence.timestamp_millis();
            if at >= from {
                out.push(at);
            }
            if at >= stop && !is_repeated(&self.tz, &occurrence) {
                break;
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Whether the local time of `t` occurs twice in `tz` (the autumn hour).
fn is_repeated(tz: &Tz, t: &DateTime<Tz>) -> bool {
    matches!(
        tz.from_local_datetime(&t.naive_local()),
        LocalResult::Ambiguous(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Millis {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp_millis()
    }

    fn span(start: Millis, end: Millis) -> Span {
        Span::new(start, end)
    }

    const HOUR: Millis = 3_600_000;
    const DAY: Millis = 24 * HOUR;

    fn config(toml_text: &str) -> MaintenanceConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn build(toml_text: &str) -> Maintenance {
        config(toml_text).build().unwrap()
    }

    fn error(toml_text: &str) -> (&'static str, String) {
        let e = config(toml_text).build().unwrap_err();
        (e.key, e.message)
    }

    fn cron(expr: &str, duration: &str, tz: &str) -> Maintenance {
        build(&format!(
            "name = \"m\"\ncron = \"{expr}\"\nduration = \"{duration}\"\ntz = \"{tz}\""
        ))
    }

    #[test]
    fn a_one_off_window_in_berlin_winter_time_is_one_hour_behind_in_utc() {
        let m = build(
            r#"
            name = "db-upgrade"
            checks = ["db"]
            start = "2026-12-05T02:00:00"
            end = "2026-12-05T03:00:00"
            tz = "Europe/Berlin"
            "#,
        );
        let expected = span(utc(2026, 12, 5, 1, 0), utc(2026, 12, 5, 2, 0));
        assert_eq!(m.windows(0, Millis::MAX), vec![expected]);
        assert_eq!(m.describe(), "2026-12-05 02:00–03:00 Europe/Berlin");
        assert!(m.applies_to("db"));
        assert!(!m.applies_to("web"));
    }

    #[test]
    fn without_checks_a_maintenance_covers_every_check() {
        let m = build("name = \"all\"\nstart = \"2026-01-01T00:00\"\nend = \"2026-01-01T01:00\"");
        assert!(m.applies_to("db"));
        assert!(m.applies_to("anything"));
        assert_eq!(m.describe(), "2026-01-01 00:00–01:00 UTC");
    }

    #[test]
    fn the_window_includes_its_start_and_excludes_its_end() {
        let m = build(
            "name = \"m\"\nstart = \"2026-12-05 02:00\"\nend = \"2026-12-05 03:00\"\ntz = \"Europe/Berlin\"",
        );
        let (start, end) = (utc(2026, 12, 5, 1, 0), utc(2026, 12, 5, 2, 0));
        assert_eq!(m.active_at(start - 1), None);
        assert_eq!(m.active_at(start), Some(span(start, end)));
        assert_eq!(m.active_at(end - 1), Some(span(start, end)));
        assert_eq!(m.active_at(end), None);
    }

    #[test]
    fn the_next_change_of_a_one_off_window_is_its_start_then_its_end() {
        let m = build("name = \"m\"\nstart = \"2026-12-05T02:00\"\nend = \"2026-12-05T03:00\"");
        let (start, end) = (utc(2026, 12, 5, 2, 0), utc(2026, 12, 5, 3, 0));
        assert_eq!(m.next_change_after(start - 1), Some(start));
        assert_eq!(m.next_change_after(start), Some(end), "strictly after");
        assert_eq!(m.next_change_after(end - 1), Some(end));
        assert_eq!(m.next_change_after(end), None);
    }

    #[test]
    fn windows_overlapping_the_range_come_back_unclipped() {
        let m = build("name = \"m\"\nstart = \"2026-12-05T02:00\"\nend = \"2026-12-05T03:00\"");
        let w = span(utc(2026, 12, 5, 2, 0), utc(2026, 12, 5, 3, 0));
        assert_eq!(m.windows(w.start + 10, w.start + 20), vec![w]);
        assert_eq!(m.windows(w.end - 1, w.end + DAY), vec![w]);
        assert_eq!(m.windows(w.end, w.end + DAY), vec![]);
        assert_eq!(m.windows(w.start - DAY, w.start), vec![]);
    }

    #[test]
    fn a_start_with_z_or_an_offset_is_absolute_whatever_the_tz() {
        let m = build(
            r#"
            name = "m"
            start = "2026-07-01T10:00:00Z"
            end = "2026-07-01T12:30+01:00"
            tz = "America/New_York"
            "#,
        );
        assert_eq!(
            m.windows(0, Millis::MAX),
            vec![span(utc(2026, 7, 1, 10, 0), utc(2026, 7, 1, 11, 30))]
        );
        // Shown in the tz: New York is UTC-4 in July.
        assert_eq!(m.describe(), "2026-07-01 06:00–07:30 America/New_York");
    }

    #[test]
    fn a_negative_offset_and_seconds_are_read() {
        let m = build(
            "name = \"m\"\nstart = \"2026-07-01 10:00:30-05:00\"\nend = \"2026-07-02T00:00:00Z\"",
        );
        let w = m.windows(0, Millis::MAX);
        assert_eq!(w[0].start, utc(2026, 7, 1, 15, 0) + 30_000);
        assert_eq!(m.describe(), "2026-07-01 15:00:30–2026-07-02 00:00 UTC");
    }

    #[test]
    fn a_repeated_autumn_local_time_takes_the_earlier_instant() {
        // 02:30 happens twice in Berlin on 2026-10-25: 00:30 UTC (CEST), then 01:30 UTC (CET).
        let m = build(
            "name = \"m\"\nstart = \"2026-10-25T02:30\"\nend = \"2026-10-25T04:00\"\ntz = \"Europe/Berlin\"",
        );
        assert_eq!(
            m.windows(0, Millis::MAX),
            vec![span(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3, 0))]
        );
        assert_eq!(m.describe(), "2026-10-25 02:30+02:00–04:00 Europe/Berlin");
    }

    #[test]
    fn a_weekly_window_follows_berlin_local_time_across_autumn_2026() {
        let m = cron("0 0 2 * * SUN", "1h", "Europe/Berlin");
        let windows = m.windows(utc(2026, 10, 17, 0, 0), utc(2026, 11, 2, 0, 0));
        assert_eq!(
            windows,
            vec![
                // Summer time (UTC+2).
                span(utc(2026, 10, 18, 0, 0), utc(2026, 10, 18, 1, 0)),
                // 2026-10-25: 02:00 is repeated; it runs once, at the summer-time instant.
                span(utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 1, 0)),
                // Winter time (UTC+1).
                span(utc(2026, 11, 1, 1, 0), utc(2026, 11, 1, 2, 0)),
            ]
        );
        assert_eq!(m.describe(), "cron 0 0 2 * * SUN for 1h (Europe/Berlin)");
    }

    #[test]
    fn a_weekly_window_follows_berlin_local_time_across_spring_2027() {
        let m = cron("0 0 2 * * SUN", "1h", "Europe/Berlin");
        let windows = m.windows(utc(2027, 3, 20, 0, 0), utc(2027, 4, 5, 0, 0));
        assert_eq!(
            windows,
            vec![
                // Winter time (UTC+1).
                span(utc(2027, 3, 21, 1, 0), utc(2027, 3, 21, 2, 0)),
                // 2027-03-28: 02:00 is skipped; it runs at the first instant after the gap,
                // 03:00 CEST, and lasts a real hour.
                span(utc(2027, 3, 28, 1, 0), utc(2027, 3, 28, 2, 0)),
                // Summer time (UTC+2).
                span(utc(2027, 4, 4, 0, 0), utc(2027, 4, 4, 1, 0)),
            ]
        );
    }

    #[test]
    fn an_occurrence_in_the_skipped_spring_hour_runs_right_after_the_gap() {
        let m = cron("0 30 2 * * *", "30m", "Europe/Berlin");
        let starts: Vec<_> = m
            .windows(utc(2027, 3, 27, 0, 0), utc(2027, 3, 30, 0, 0))
            .iter()
            .map(|w| w.start)
            .collect();
        assert_eq!(
            starts,
            vec![
                utc(2027, 3, 27, 1, 30),
                // 03:00 CEST.
                utc(2027, 3, 28, 1, 0),
                utc(2027, 3, 29, 0, 30),
            ]
        );
    }

    #[test]
    fn an_occurrence_in_the_repeated_autumn_hour_runs_once() {
        let m = cron("0 30 2 * * *", "30m", "Europe/Berlin");
        let starts: Vec<_> = m
            .windows(utc(2026, 10, 24, 0, 0), utc(2026, 10, 27, 0, 0))
            .iter()
            .map(|w| w.start)
            .collect();
        assert_eq!(
            starts,
            vec![
                utc(2026, 10, 24, 0, 30),
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 26, 1, 30),
            ]
        );
        // Asked from inside the second pass, the first-pass window is still found, once.
        let second_pass = utc(2026, 10, 25, 1, 10);
        assert_eq!(
            m.windows(second_pass - HOUR, second_pass + HOUR),
            vec![span(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 0))]
        );
    }

    #[test]
    fn a_pattern_with_several_times_of_day_skips_the_gap_and_repeats_in_the_fold() {
        let m = cron("0 0,30 2 * * *", "10m", "Europe/Berlin");
        let spring: Vec<_> = m
            .windows(utc(2027, 3, 28, 0, 0), utc(2027, 3, 28, 12, 0))
            .iter()
            .map(|w| w.start)
            .collect();
        assert_eq!(
            spring,
            Vec::<Millis>::new(),
            "02:00 and 02:30 do not exist that day"
        );
        let autumn: Vec<_> = m
            .windows(utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 12, 0))
            .iter()
            .map(|w| w.start)
            .collect();
        assert_eq!(
            autumn,
            vec![
                utc(2026, 10, 25, 0, 0),
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 25, 1, 0),
                utc(2026, 10, 25, 1, 30),
            ]
        );
    }

    #[test]
    fn asked_from_inside_the_first_pass_of_the_fold_the_second_pass_is_found() {
        // 02:50 CEST: croner walks local time, so a search starting here would jump to 03:00
        // and miss 02:00..02:45 CET; the search starts before the repeated hour instead.
        let m = cron("0 */15 * * * *", "1m", "Europe/Berlin");
        let starts: Vec<_> = m
            .windows(utc(2026, 10, 25, 0, 50), utc(2026, 10, 25, 2, 0))
            .iter()
            .map(|w| w.start)
            .collect();
        assert_eq!(
            starts,
            vec![
                utc(2026, 10, 25, 1, 0),
                utc(2026, 10, 25, 1, 15),
                utc(2026, 10, 25, 1, 30),
                utc(2026, 10, 25, 1, 45),
            ]
        );
        assert_eq!(
            m.next_change_after(utc(2026, 10, 25, 0, 50)),
            Some(utc(2026, 10, 25, 1, 0))
        );
    }

    #[test]
    fn a_window_starting_before_the_range_and_reaching_into_it_is_included() {
        let m = cron("0 0 2 * * *", "2h", "UTC");
        let windows = m.windows(utc(2026, 6, 1, 3, 0), utc(2026, 6, 1, 4, 0));
        assert_eq!(
            windows,
            vec![span(utc(2026, 6, 1, 2, 0), utc(2026, 6, 1, 4, 0))]
        );
        assert_eq!(
            m.windows(utc(2026, 6, 1, 4, 0), utc(2026, 6, 2, 2, 0)),
            vec![]
        );
    }

    #[test]
    fn ninety_days_of_a_weekly_window_are_thirteen_windows() {
        let m = cron("0 0 2 * * SUN", "1h", "Europe/Berlin");
        let from = utc(2026, 9, 1, 0, 0);
        let windows = m.windows(from, from + 90 * DAY);
        assert_eq!(windows.len(), 13);
        assert!(windows.windows(2).all(|p| p[0].start < p[1].start));
        assert!(windows.iter().all(|w| w.len() == HOUR));
    }

    #[test]
    fn a_recurring_window_is_active_from_its_start_until_its_end() {
        let m = cron("0 0 2 * * SUN", "1h", "Europe/Berlin");
        let (start, end) = (utc(2026, 12, 6, 1, 0), utc(2026, 12, 6, 2, 0));
        assert_eq!(m.active_at(start - 1), None);
        assert_eq!(m.active_at(start), Some(span(start, end)));
        assert_eq!(m.active_at(end - 1), Some(span(start, end)));
        assert_eq!(m.active_at(end), None);
    }

    #[test]
    fn overlapping_recurring_windows_report_the_latest_one() {
        let m = cron("0 0 * * * *", "90m", "UTC");
        let at = utc(2026, 6, 1, 10, 15);
        assert_eq!(
            m.active_at(at),
            Some(span(utc(2026, 6, 1, 10, 0), utc(2026, 6, 1, 11, 30)))
        );
        // 09:00-10:30 ends first.
        assert_eq!(m.next_change_after(at), Some(utc(2026, 6, 1, 10, 30)));
    }

    #[test]
    fn the_next_change_of_a_recurring_window_is_the_next_start_or_end() {
        let m = cron("0 0 2 * * SUN", "1h", "Europe/Berlin");
        let (start, end) = (utc(2026, 12, 6, 1, 0), utc(2026, 12, 6, 2, 0));
        let next_start = utc(2026, 12, 13, 1, 0);
        assert_eq!(m.next_change_after(start - DAY), Some(start));
        assert_eq!(m.next_change_after(start - 1), Some(start));
        assert_eq!(m.next_change_after(start), Some(end));
        assert_eq!(m.next_change_after(end - 1), Some(end));
        assert_eq!(m.next_change_after(end), Some(next_start));
    }

    #[test]
    fn five_field_cron_starts_at_second_zero() {
        let m = cron("30 4 * * *", "15m", "UTC");
        assert_eq!(
            m.active_at(utc(2026, 6, 1, 4, 40)),
            Some(span(utc(2026, 6, 1, 4, 30), utc(2026, 6, 1, 4, 45)))
        );
        assert_eq!(m.describe(), "cron 30 4 * * * for 15m (UTC)");
    }

    #[test]
    fn a_cron_window_fraction_of_a_second_into_the_range_is_found() {
        let m = cron("0 0 2 * * *", "1h", "UTC");
        let start = utc(2026, 6, 1, 2, 0);
        assert_eq!(
            m.windows(start + 500, start + 600),
            vec![span(start, start + HOUR)]
        );
        assert_eq!(m.next_change_after(start + 500), Some(start + HOUR));
    }

    #[test]
    fn start_and_cron_together_are_rejected_at_cron() {
        let (key, message) = error(
            "name = \"m\"\nstart = \"2026-01-01T00:00\"\nend = \"2026-01-01T01:00\"\ncron = \"0 0 2 * * *\"\nduration = \"1h\"",
        );
        assert_eq!(key, "cron");
        assert!(message.contains("not both"), "{message}");
        let (key, _) = error("name = \"m\"\nstart = \"2026-01-01T00:00\"\nduration = \"1h\"");
        assert_eq!(key, "duration");
    }

    #[test]
    fn a_maintenance_with_no_time_at_all_is_rejected_at_start() {
        let (key, message) = error("name = \"m\"");
        assert_eq!(key, "start");
        assert!(message.contains("cron and duration"), "{message}");
    }

    #[test]
    fn half_a_window_names_the_missing_key() {
        assert_eq!(error("name = \"m\"\nstart = \"2026-01-01T00:00\"").0, "end");
        assert_eq!(error("name = \"m\"\nend = \"2026-01-01T00:00\"").0, "start");
        assert_eq!(error("name = \"m\"\ncron = \"0 0 2 * * *\"").0, "duration");
        assert_eq!(error("name = \"m\"\nduration = \"1h\"").0, "cron");
    }

    #[test]
    fn an_end_not_after_the_start_is_rejected_at_end() {
        let (key, message) =
            error("name = \"m\"\nstart = \"2026-01-01T01:00\"\nend = \"2026-01-01T01:00\"");
        assert_eq!(key, "end");
        assert!(message.contains("must be after start"), "{message}");
        // Absolute instants compare as instants: 01:30+01:00 is before 01:00 UTC.
        assert_eq!(
            error("name = \"m\"\nstart = \"2026-01-01T01:00Z\"\nend = \"2026-01-01T01:30+01:00\"")
                .0,
            "end"
        );
    }

    #[test]
    fn an_unknown_time_zone_is_rejected_at_tz() {
        let (key, message) = error(
            "name = \"m\"\nstart = \"2026-01-01T00:00\"\nend = \"2026-01-01T01:00\"\ntz = \"Europe/Berln\"",
        );
        assert_eq!(key, "tz");
        assert_eq!(
            message,
            "expected an IANA time zone such as Europe/Berlin, got `Europe/Berln`"
        );
    }

    #[test]
    fn a_local_time_skipped_in_spring_is_rejected_saying_so() {
        let (key, message) = error(
            "name = \"m\"\nstart = \"2027-03-28T02:30\"\nend = \"2027-03-28T04:00\"\ntz = \"Europe/Berlin\"",
        );
        assert_eq!(key, "start");
        assert!(
            message.contains("does not exist in Europe/Berlin"),
            "{message}"
        );
        let (key, _) = error(
            "name = \"m\"\nstart = \"2027-03-28T01:00\"\nend = \"2027-03-28T02:00\"\ntz = \"Europe/Berlin\"",
        );
        assert_eq!(key, "end");
    }

    #[test]
    fn a_malformed_time_says_what_was_expected() {
        for bad in [
            "tomorrow",
            "2026-01-01",
            "2026-13-01T00:00",
            "2026-01-01T25:00",
            "2026-01-01T00:00+1",
            "2026-01-01T00:00+01:00:00",
            "2026-01-01T00:00:00.5",
            "2026-01-01Té00:00",
        ] {
            let (key, message) = error(&format!(
                "name = \"m\"\nstart = \"{bad}\"\nend = \"2030-01-01T00:00\""
            ));
            assert_eq!(key, "start", "{bad}");
            assert!(
                message.contains("expected a date and time"),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn a_bad_cron_is_rejected_at_cron() {
        for bad in ["0 0 2 * *  * 2026 x", "* *", "0 0 25 * * *", "0 0 0 31 2 *"] {
            let (key, message) = error(&format!(
                "name = \"m\"\ncron = \"{bad}\"\nduration = \"1h\""
            ));
            assert_eq!(key, "cron", "{bad}: {message}");
        }
        let (_, message) = error("name = \"m\"\ncron = \"0 0 0 31 2 *\"\nduration = \"1h\"");
        assert!(message.contains("never occurs"), "{message}");
    }

    #[test]
    fn a_zero_duration_is_rejected_at_duration() {
        let (key, message) = error("name = \"m\"\ncron = \"0 0 2 * * *\"\nduration = \"0s\"");
        assert_eq!(key, "duration");
        assert!(message.contains("longer than 0s"), "{message}");
    }

    #[test]
    fn an_empty_name_is_rejected_at_name() {
        let (key, _) = error("name = \" \"\ncron = \"0 0 2 * * *\"\nduration = \"1h\"");
        assert_eq!(key, "name");
    }

    #[test]
    fn an_unknown_key_is_a_deserialization_error() {
        let err = toml::from_str::<MaintenanceConfig>("name = \"m\"\nstrat = \"x\"").unwrap_err();
        assert!(err.to_string().contains("unknown field `strat`"), "{err}");
    }
}
