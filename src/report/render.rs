//! A report as text (an aligned table for a terminal), CSV (one row per check), JSON (the
//! [`Report`] shape) or HTML (one self-contained file: inline CSS and SVG, no script, no
//! external request, from the pages' layout).

use super::{CheckReport, Report};
use crate::present::{day_cell, human, percent};
use crate::svg;
use crate::time::{Millis, Stamp};
use askama::Template;
use chrono::DateTime;
use chrono_tz::Tz;
use std::fmt::Write as _;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Html,
    Csv,
}

/// Renders `report` in `format`.
///
/// # Errors
/// Only a template or serialisation failure, which would be a bug.
pub fn render(report: &Report, format: Format) -> Result<String, String> {
    match format {
        Format::Text => Ok(text(report)),
        Format::Csv => Ok(csv(report)),
        Format::Json => serde_json::to_string_pretty(report)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| e.to_string()),
        Format::Html => html(report, None, false).map_err(|e| e.to_string()),
    }
}

/// An instant in the report's zone, to the millisecond when it has any:
/// `2026-03-01 00:00:00 EST`, `2026-03-01 00:00:00.250 UTC`.
pub fn local(ms: Millis, tz: Tz) -> String {
    let Some(t) = DateTime::from_timestamp_millis(ms) else {
        return "?".into();
    };
    if tz == Tz::UTC {
        // chrono's zone lookup and `%Z` cost more than the rest; a UTC report has thousands.
        let utc = crate::time::rfc3339_ms(ms).unwrap_or_default();
        let (date, time) = (utc.get(..10).unwrap_or(""), utc.get(11..23).unwrap_or(""));
        let time = if ms.rem_euclid(1000) == 0 {
            time.get(..8).unwrap_or("")
        } else {
            time
        };
        return format!("{date} {time} UTC");
    }
    let t = t.with_timezone(&tz);
    if ms.rem_euclid(1000) == 0 {
        t.format("%Y-%m-%d %H:%M:%S %Z").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.3f %Z").to_string()
    }
}

/// A duration exactly, as `H:MM:SS` (hours may pass 24), with milliseconds when it has any.
pub fn exact(seconds: f64) -> String {
    let ms = (seconds * 1000.0).round().max(0.0) as u64;
    let (h, m, s, rest) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if rest == 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{h}:{m:02}:{s:02}.{rest:03}")
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

fn budget(c: &CheckReport) -> String {
    let used: Vec<String> = c
        .slos
        .iter()
        .map(|s| match s.used_percent {
            Some(p) => format!("{p:.1} % of {} %", s.objective),
            None => format!("no data ({} %)", s.objective),
        })
        .collect();
    if used.is_empty() {
        "-".into()
    } else {
        used.join("; ")
    }
}

fn tz_of(report: &Report) -> Tz {
    report.period.time_zone.parse().unwrap_or(Tz::UTC)
}

fn stamp(s: Stamp, tz: Tz) -> String {
    local(s.0, tz)
}

fn overall_line(r: &Report) -> String {
    let s = &r.summary;
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut line = format!(
        "{} over {}: {} down, {}, {} fired",
        percent(s.availability_percent),
        plural(s.checks, "check", "checks"),
        exact(s.downtime_seconds),
        plural(s.incidents as usize, "incident", "incidents"),
        plural(s.alerts_fired, "alert", "alerts"),
    );
    if let Some(w) = &s.worst {
        let _ = write!(line, "; worst: {w}");
    }
    if s.checks_without_data > 0 {
        let _ = write!(line, "; {} without data", s.checks_without_data);
    }
    line
}

fn period_line(r: &Report) -> String {
    let tz = tz_of(r);
    let hours = trim_float(r.period.hours);
    let mut line = format!(
        "{} to {} ({hours} hour{}{})",
        stamp(r.period.from, tz),
        stamp(r.period.to, tz),
        if hours == "1" { "" } else { "s" },
        if r.period.complete {
            ""
        } else {
            ", not over yet"
        }
    );
    if !r.period.complete {
        line.push_str("; what is still to come counts as no data");
    }
    line
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The table for a terminal: columns padded to their widest cell, numbers right-aligned.
pub fn text(r: &Report) -> String {
    let tz = tz_of(r);
    let mut out = format!(
        "{} · report for {}\n{}\n{}\n\n",
        r.service,
        r.period.label,
        period_line(r),
        overall_line(r)
    );
    let header = [
        "CHECK",
        "KIND",
        "AVAILABILITY",
        "DOWNTIME",
        "INCIDENTS",
        "MAINTENANCE",
        "NO DATA",
        "P50 MS",
        "P95 MS",
        "P99 MS",
        "MAX MS",
        "ALERTS",
        "SLO BUDGET USED",
    ];
    let rows: Vec<[String; 13]> = r
        .checks
        .iter()
        .map(|c| {
            let a = &c.availability;
            [
                c.name.clone(),
                c.kind.clone(),
                percent(a.percent),
                exact(a.downtime_seconds),
                a.incidents.to_string(),
                exact(a.maintenance_seconds),
                exact(a.no_data_seconds),
                ms(c.latency.p50_ms),
                ms(c.latency.p95_ms),
                ms(c.latency.p99_ms),
                ms(c.latency.max_ms),
                c.alerts_fired.to_string(),
                budget(c),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let left = |col: usize| col < 2 || col == 12;
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (col, cell) in cells.iter().enumerate() {
            let pad = widths[col].saturating_sub(cell.chars().count());
            if col > 0 {
                l.push_str("  ");
            }
            if left(col) {
                l.push_str(cell);
                l.extend(std::iter::repeat_n(' ', pad));
            } else {
                l.extend(std::iter::repeat_n(' ', pad));
                l.push_str(cell);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    let with_incidents: Vec<&CheckReport> = r
        .checks
        .iter()
        .filter(|c| !c.incident_list.is_empty())
        .collect();
    if !with_incidents.is_empty() {
        out.push_str("\nIncidents\n");
        for c in with_incidents {
            for i in &c.incident_list {
                let _ = write!(
                    out,
                    "  {}  {} to {}  {}",
                    c.name,
                    stamp(i.started_at, tz),
                    i.ended_at.map_or("(ongoing)".into(), |e| stamp(e, tz)),
                    exact(i.duration_seconds),
                );
                if let Some(m) = &i.first_error {
                    let _ = write!(out, "  {}", one_line(m));
                }
                out.push('\n');
            }
        }
    }
    let _ = write!(out, "\n{}\n", wrap(r.counting, 96));
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut len = 0;
    for word in text.split_whitespace() {
        if len > 0 && len + 1 + word.len() > width {
            out.push('\n');
            len = 0;
        } else if len > 0 {
            out.push(' ');
            len += 1;
        }
        out.push_str(word);
        len += word.len();
    }
    out
}

/// One row per check with a header; empty cells for "no data".
pub fn csv(r: &Report) -> String {
    let mut out = String::from(
        "check,kind,group,availability_percent,window_seconds,observed_seconds,downtime_seconds,\
         maintenance_seconds,no_data_seconds,incidents,probes,p50_ms,p95_ms,p99_ms,max_ms,\
         alerts_fired,slo_budget_used_percent,period_from,period_to\n",
    );
    let num = |v: Option<f64>| v.map_or(String::new(), trim_float);
    for c in &r.checks {
        let a = &c.availability;
        let fields = [
            field(&c.name),
            field(&c.kind),
            field(c.group.as_deref().unwrap_or("")),
            num(a.percent),
            trim_float(a.window_seconds),
            trim_float(a.observed_seconds),
            trim_float(a.downtime_seconds),
            trim_float(a.maintenance_seconds),
            trim_float(a.no_data_seconds),
            a.incidents.to_string(),
            c.latency.probes.to_string(),
            num(c.latency.p50_ms),
            num(c.latency.p95_ms),
            num(c.latency.p99_ms),
            num(c.latency.max_ms),
            c.alerts_fired.to_string(),
            num(c.slos.first().and_then(|s| s.used_percent)),
            crate::time::rfc3339_ms(r.period.from.0).unwrap_or_default(),
            crate::time::rfc3339_ms(r.period.to.0).unwrap_or_default(),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// RFC 4180 quoting, and a leading `'` on what a spreadsheet would take for a formula.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[derive(Template)]
#[template(path = "report/report.html")]
struct HtmlReport<'a> {
    nonce: &'a str,
    generated: String,
    service: &'a str,
    label: &'a str,
    period: String,
    overall: String,
    overall_class: &'static str,
    counting: &'a str,
    days: usize,
    zone: &'a str,
    checks: Vec<HtmlCheck<'a>>,
    hidden: bool,
}

struct HtmlCheck<'a> {
    name: &'a str,
    kind: &'a str,
    class: &'static str,
    availability: String,
    downtime: String,
    downtime_exact: String,
    incidents: u32,
    maintenance: String,
    no_data: String,
    p50: String,
    p95: String,
    p99: String,
    max: String,
    alerts: usize,
    budget: String,
    bars: String,
    incident_list: Vec<HtmlIncident<'a>>,
    alert_list: Vec<HtmlAlert<'a>>,
}

struct HtmlIncident<'a> {
    start: String,
    end: String,
    duration: String,
    error: Option<&'a str>,
}

struct HtmlAlert<'a> {
    level: &'a str,
    what: String,
    start: String,
    end: String,
}

/// The HTML report; `hidden` notes that messages were hidden from a viewer without the
/// token. With `nonce` (served by the daemon) its style carries the page's nonce; a file gets
/// a fixed one, harmless as it has no script.
///
/// # Errors
/// Template failures.
pub fn html(r: &Report, nonce: Option<&str>, hidden: bool) -> Result<String, askama::Error> {
    let tz = tz_of(r);
    let checks = r
        .checks
        .iter()
        .map(|c| {
            let a = &c.availability;
            let days: Vec<svg::Day> = c
                .days
                .iter()
                .map(|(date, a)| day_cell(date.to_string(), a))
                .collect();
            HtmlCheck {
                name: &c.name,
                kind: &c.kind,
                class: match a.percent {
                    None => "unknown",
                    Some(_) if a.downtime_seconds > 0.0 => "unhealthy",
                    Some(_) => "healthy",
                },
                availability: percent(a.percent),
                downtime: human(a.downtime_seconds),
                downtime_exact: exact(a.downtime_seconds),
                incidents: a.incidents,
                maintenance: exact(a.maintenance_seconds),
                no_data: exact(a.no_data_seconds),
                p50: ms(c.latency.p50_ms),
                p95: ms(c.latency.p95_ms),
                p99: ms(c.latency.p99_ms),
                max: ms(c.latency.max_ms),
                alerts: c.alerts_fired,
                budget: budget(c),
                bars: if days.is_empty() {
                    String::new()
                } else {
                    svg::day_bars(&days)
                },
                incident_list: c
                    .incident_list
                    .iter()
                    .map(|i| HtmlIncident {
                        start: stamp(i.started_at, tz),
                        end: i.ended_at.map_or("ongoing".into(), |e| stamp(e, tz)),
                        duration: exact(i.duration_seconds),
                        error: i.first_error.as_deref(),
                    })
                    .collect(),
                alert_list: c
                    .alert_list
                    .iter()
                    .map(|a| HtmlAlert {
                        level: &a.level,
                        what: match &a.rule {
                            Some(rule) => format!("{} ({rule})", a.kind),
                            None => a.kind.clone(),
                        },
                        start: stamp(a.started_at, tz),
                        end: a
                            .resolved_at
                            .map_or("not resolved".into(), |e| stamp(e, tz)),
                    })
                    .collect(),
            }
        })
        .collect();
    let s = &r.summary;
    HtmlReport {
        nonce: nonce.unwrap_or("report"),
        generated: format!("Generated {}", stamp(r.generated_at, tz)),
        service: &r.service,
        label: &r.period.label,
        period: period_line(r),
        overall: overall_line(r),
        overall_class: match s.availability_percent {
            None => "unknown",
            Some(_) if s.downtime_seconds > 0.0 => "degraded",
            Some(_) => "healthy",
        },
        counting: r.counting,
        days: r.checks.first().map_or(0, |c| c.days.len()),
        zone: &r.period.time_zone,
        checks,
        hidden,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exact_to_the_millisecond() {
        assert_eq!(exact(0.0), "0:00:00");
        assert_eq!(exact(3600.0), "1:00:00");
        assert_eq!(exact(93_784.25), "26:03:04.250");
    }

    #[test]
    fn instants_read_in_the_zone_with_their_abbreviation() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 2026-03-01T05:00:00Z is midnight EST.
        assert_eq!(local(1_772_341_200_000, tz), "2026-03-01 00:00:00 EST");
        assert_eq!(
            local(1_772_341_200_250, Tz::UTC),
            "2026-03-01 05:00:00.250 UTC"
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("api"), "api");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
