//! The period a report covers: the last N hours, an exact `since`/`until`, or a calendar
//! month, with days and months taken in a time zone across daylight-saving changes. Pure:
//! "now" is passed in.

use crate::time::Millis;
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

/// What was asked for, as the user typed it (flags or query parameters).
#[derive(Debug, Clone, Default)]
pub struct Ask {
    pub hours: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub month: Option<String>,
    pub tz: Option<String>,
}

/// A resolved period: `[start, end)` in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub start: Millis,
    pub end: Millis,
    pub tz: Tz,
    /// How it was asked for, for the report's heading: `last 24 hours`, `2026-03`, ...
    pub label: String,
}

impl Period {
    pub fn hours(&self) -> f64 {
        (self.end - self.start) as f64 / 3_600_000.0
    }

    /// `[start, end)` of each calendar day in the zone that overlaps the period, clipped to it.
    pub fn days(&self) -> Vec<(NaiveDate, Millis, Millis)> {
        let mut out = Vec::new();
        let Some(first) = DateTime::from_timestamp_millis(self.start) else {
            return out;
        };
        let mut date = first.with_timezone(&self.tz).date_naive();
        // A period of years still has a bounded number of days; the cap guards a typo.
        while out.len() < 4000 {
            let Some(next) = date.succ_opt() else { break };
            let (a, b) = (start_of_day(self.tz, date), start_of_day(self.tz, next));
            let (a, b) = (a.max(self.start), b.min(self.end));
            if a >= self.end {
                break;
            }
            if b > a {
                out.push((date, a, b));
            }
            date = next;
        }
        out
    }
}

/// Why a period could not be resolved; each names the flag (or parameter) at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PeriodError {
    #[error("choose one of {0}hours, {0}since/{0}until and {0}month")]
    Several(&'static str),
    #[error("{0}hours: expected a whole number of hours from 1 to 87600, got `{1}`")]
    Hours(&'static str, String),
    #[error("{0}month: expected YYYY-MM, e.g. 2026-03, got `{1}`")]
    Month(&'static str, String),
    #[error("{0}tz: unknown time zone `{1}`; expected an IANA name such as Europe/Berlin, America/New_York or UTC")]
    Zone(&'static str, String),
    #[error("{0}{1}: expected a time such as 2026-03-01, 2026-03-01T08:30, 2026-03-01T08:30:00.250 (in {0}tz) or 2026-03-01T08:30:00.250Z, got `{2}`")]
    Time(&'static str, &'static str, String),
    #[error(
        "{0}{1}: {2} does not exist in {3}: the clocks skip it when daylight saving time starts"
    )]
    Skipped(&'static str, &'static str, String, Tz),
    #[error("{0}until needs {0}since")]
    UntilAlone(&'static str),
    #[error("{0}since ({1}) must be before {0}until ({2})")]
    Backwards(&'static str, String, String),
}

impl Ask {
    /// Resolves the period at `now`. `flag` prefixes names in messages: `--` for the command
    /// line, empty for a query string. With nothing asked, the last 24 hours.
    ///
    /// # Errors
    /// A bad or contradictory value, named.
    pub fn resolve(&self, now: Millis, flag: &'static str) -> Result<Period, PeriodError> {
        let tz: Tz = match self.tz.as_deref().map(str::trim) {
            None | Some("") => Tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| PeriodError::Zone(flag, name.to_string()))?,
        };
        let range = self.since.is_some() || self.until.is_some();
        let asked = [self.hours.is_some(), range, self.month.is_some()];
        if asked.iter().filter(|a| **a).count() > 1 {
            return Err(PeriodError::Several(flag));
        }
        if let Some(text) = &self.hours {
            let hours: i64 = text
                .trim()
                .parse()
                .ok()
                .filter(|h| (1..=87_600).contains(h))
                .ok_or_else(|| PeriodError::Hours(flag, text.clone()))?;
            let label = if hours == 1 {
                "last hour".to_string()
            } else {
                format!("last {hours} hours")
            };
            return Ok(Period {
                start: now - hours * 3_600_000,
                end: now,
                tz,
                label,
            });
        }
        if let Some(text) = &self.month {
            let (year, month) =
                parse_month(text).ok_or_else(|| PeriodError::Month(flag, text.clone()))?;
            let first = NaiveDate::from_ymd_opt(year, month, 1)
                .ok_or_else(|| PeriodError::Month(flag, text.clone()))?;
            let next = if month == 12 {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1)
            }
            .ok_or_else(|| PeriodError::Month(flag, text.clone()))?;
            return Ok(Period {
                start: start_of_day(tz, first),
                end: start_of_day(tz, next),
                tz,
                label: format!("{year:04}-{month:02}"),
            });
        }
        if range {
            let Some(since_text) = &self.since else {
                return Err(PeriodError::UntilAlone(flag));
            };
            let since = parse_time(since_text, tz, flag, "since")?;
            let until = match &self.until {
                Some(t) => parse_time(t, tz, flag, "until")?,
                None => now,
            };
            if since >= until {
                let until_text = self.until.clone().unwrap_or_else(|| "now".into());
                return Err(PeriodError::Backwards(flag, since_text.clone(), until_text));
            }
            return Ok(Period {
                start: since,
                end: until,
                tz,
                label: format!(
                    "{} to {}",
                    since_text.trim(),
                    self.until.as_deref().map_or("now", str::trim)
                ),
            });
        }
        Ok(Period {
            start: now - 24 * 3_600_000,
            end: now,
            tz,
            label: "last 24 hours".into(),
        })
    }
}

fn parse_month(text: &str) -> Option<(i32, u32)> {
    let (y, m) = text.trim().split_once('-')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let (year, month): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    ((1970..=9999).contains(&year) && (1..=12).contains(&month)).then_some((year, month))
}

/// The first instant of `date` in `tz`: midnight, or the first time after it where a zone
/// skips midnight (some start daylight saving time at 00:00).
pub fn start_of_day(tz: Tz, date: NaiveDate) -> Millis {
    let midnight = date.and_time(NaiveTime::MIN);
    for quarter in 0..=8 {
        let t = midnight + chrono::Duration::minutes(15 * quarter);
        if let Some(at) = tz.from_local_datetime(&t).earliest() {
            return at.timestamp_millis();
        }
    }
    midnight.and_utc().timestamp_millis()
}

/// An instant: RFC 3339 with an offset, or a local date or date and time in `tz`. A local time
/// that occurs twice (clocks going back) is its first occurrence.
fn parse_time(
    text: &str,
    tz: Tz,
    flag: &'static str,
    name: &'static str,
) -> Result<Millis, PeriodError> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.timestamp_millis());
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(start_of_day(tz, date));
    }
    const LOCAL: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    let local = LOCAL
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .ok_or_else(|| PeriodError::Time(flag, name, text.to_string()))?;
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Ok(at.timestamp_millis()),
        LocalResult::None => Err(PeriodError::Skipped(flag, name, t.to_string(), tz)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_780_000_000_000;

    fn ask(f: impl FnOnce(&mut Ask)) -> Result<Period, PeriodError> {
        let mut a = Ask::default();
        f(&mut a);
        a.resolve(NOW, "--")
    }

    fn month(m: &str, tz: &str) -> Period {
        ask(|a| {
            a.month = Some(m.into());
            a.tz = Some(tz.into());
        })
        .unwrap()
    }

    #[test]
    fn months_have_their_hours_in_their_zone_across_daylight_saving() {
        assert_eq!(month("2026-03", "America/New_York").hours(), 743.0);
        assert_eq!(month("2026-11", "America/New_York").hours(), 721.0);
        assert_eq!(month("2026-10", "Europe/Berlin").hours(), 745.0);
        assert_eq!(month("2026-03", "Europe/Berlin").hours(), 743.0);
        assert_eq!(month("2026-02", "UTC").hours(), 672.0);
        assert_eq!(month("2028-02", "UTC").hours(), 696.0);
        let march = month("2026-03", "Europe/Berlin");
        // 2026-03-01T00:00 in Berlin is 23:00 UTC the day before.
        assert_eq!(march.start, 1_772_319_600_000);
        assert_eq!(march.days().len(), 31);
        let short_day = march.days()[28];
        assert_eq!(short_day.0.to_string(), "2026-03-29");
        assert_eq!(short_day.2 - short_day.1, 23 * 3_600_000);
    }

    #[test]
    fn a_zone_that_skips_midnight_starts_its_day_when_the_clock_resumes() {
        // Santiago springs forward at 00:00 on 2026-09-06: the day begins at 01:00 local.
        let tz: Tz = "America/Santiago".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        let start = start_of_day(tz, day);
        let local = DateTime::from_timestamp_millis(start)
            .unwrap()
            .with_timezone(&tz);
        assert_eq!(
            local.format("%Y-%m-%d %H:%M").to_string(),
            "2026-09-06 01:00"
        );
    }

    #[test]
    fn since_and_until_are_exact_to_the_millisecond() {
        let p = ask(|a| {
            a.since = Some("2026-03-01T00:00:00.250Z".into());
            a.until = Some("2026-03-01T01:00:00.750+01:00".into());
        })
        .unwrap();
        assert_eq!(p.start, 1_772_323_200_250);
        assert_eq!(p.end - p.start, 500);
        let local = ask(|a| {
            a.since = Some("2026-07-01 08:30".into());
            a.until = Some("2026-07-02".into());
            a.tz = Some("Europe/Berlin".into());
        })
        .unwrap();
        assert_eq!(local.end - local.start, 15 * 3_600_000 + 30 * 60_000);
        let open = ask(|a| a.since = Some("2026-05-28T00:00:00Z".into())).unwrap();
        assert_eq!(open.end, NOW);
    }

    #[test]
    fn the_default_and_hours_end_now() {
        let p = ask(|_| {}).unwrap();
        assert_eq!((p.end, p.end - p.start), (NOW, 24 * 3_600_000));
        let p = ask(|a| a.hours = Some("720".into())).unwrap();
        assert_eq!(p.hours(), 720.0);
        assert_eq!(p.label, "last 720 hours");
    }

    #[test]
    fn bad_or_contradictory_input_is_named() {
        let err = |f: fn(&mut Ask)| ask(f).unwrap_err().to_string();
        assert_eq!(
            err(|a| {
                a.since = Some("2026-03-02".into());
                a.until = Some("2026-03-01".into());
            }),
            "--since (2026-03-02) must be before --until (2026-03-01)"
        );
        assert!(err(|a| a.hours = Some("0".into())).starts_with("--hours: expected"));
        assert!(err(|a| a.hours = Some("1.5".into())).contains("`1.5`"));
        assert!(err(|a| a.month = Some("2026-13".into())).starts_with("--month: expected YYYY-MM"));
        assert!(err(|a| a.tz = Some("Mars/Olympus".into()))
            .contains("unknown time zone `Mars/Olympus`"));
        assert_eq!(
            err(|a| a.until = Some("2026-03-01".into())),
            "--until needs --since"
        );
        assert!(err(|a| {
            a.hours = Some("1".into());
            a.month = Some("2026-01".into());
        })
        .starts_with("choose one of"));
        assert!(err(|a| a.since = Some("yesterday".into())).starts_with("--since: expected a time"));
        assert!(err(|a| {
            a.since = Some("2026-03-08T02:30".into());
            a.tz = Some("America/New_York".into());
        })
        .contains("does not exist in America/New_York"));
    }

    #[test]
    fn a_time_that_occurs_twice_is_its_first_occurrence() {
        let p = ask(|a| {
            a.since = Some("2026-11-01T01:30".into());
            a.until = Some("2026-11-01T03:00".into());
            a.tz = Some("America/New_York".into());
        })
        .unwrap();
        // 01:30 EDT to 03:00 EST: two and a half hours.
        assert_eq!(p.end - p.start, 150 * 60_000);
    }
}
