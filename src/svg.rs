//! The charts of the pages and reports, drawn as inline SVG strings: pure functions of their
//! figures, no script, no external reference. Every piece of text they hold goes through
//! [`escape`], so a check's name or message cannot become markup.

use std::fmt::Write;

/// XML/HTML text and attribute escaping.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What one day of a status bar shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// `YYYY-MM-DD`, for the title.
    pub date: String,
    pub kind: DayKind,
    /// Share of the observed time that was down, 0 to 1.
    pub down_share: f64,
    /// For the title: "99.95 %, 43 s down" or "no data".
    pub title: String,
}

/// A day's colour: the worst that happened in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    NoData,
    Up,
    /// In maintenance, and not down outside it.
    Maintenance,
    /// Down for less than [`MAJOR_SHARE`] of the day.
    Minor,
    Major,
}

/// Down for 1 % of a day (about 14 minutes) or more colours it as a major outage.
pub const MAJOR_SHARE: f64 = 0.01;

impl DayKind {
    pub fn class(self) -> &'static str {
        match self {
            DayKind::NoData => "nodata",
            DayKind::Up => "up",
            DayKind::Maintenance => "maint",
            DayKind::Minor => "minor",
            DayKind::Major => "major",
        }
    }
}

/// Days as bars, oldest left: each a full bar in its colour; a day with downtime is drawn
/// as an up bar whose top is filled in the outage colour in proportion to the downtime (at
/// least a sliver, so a short outage stays visible). Colours come from the page's CSS
/// classes (`.d-up`, `.d-minor`, ...) on each day's group, so dark and light both apply.
///
/// Consecutive days that read alike (up all day, or no data all day) share one group and one
/// title naming their first and last date: 90 days of a healthy check are a few titles, not
/// 90, which keeps a status page of hundreds of checks small. `data-days` gives a group's
/// number of days.
pub fn day_bars(days: &[Day]) -> String {
    const W: usize = 4;
    const GAP: usize = 1;
    const H: f64 = 28.0;
    let width = days.len() * (W + GAP);
    let mut s = format!(
        r#"<svg class="bars" viewBox="0 0 {width} 28" preserveAspectRatio="none" role="img" aria-label="daily availability, last {} days">"#,
        days.len()
    );
    let alike = |a: &Day, b: &Day| {
        matches!(a.kind, DayKind::Up | DayKind::NoData) && a.kind == b.kind && a.title == b.title
    };
    let mut i = 0;
    while i < days.len() {
        let d = &days[i];
        let run = 1 + days[i + 1..].iter().take_while(|n| alike(d, n)).count();
        let title = if run == 1 {
            format!("{}: {}", d.date, d.title)
        } else {
            format!("{} to {}: {}", d.date, days[i + run - 1].date, d.title)
        };
        let _ = write!(
            s,
            r#"<g class="d-{}" data-days="{run}"><title>{}</title>"#,
            d.kind.class(),
            escape(&title)
        );
        for k in i..i + run {
            let x = k * (W + GAP);
            match d.kind {
                DayKind::Minor | DayKind::Major => {
                    let filled = (d.down_share.clamp(0.0, 1.0) * H).clamp(4.0, H);
                    let _ = write!(
                        s,
                        r#"<rect class="d-up" x="{x}" width="{W}" height="28" rx="1"/><rect x="{x}" width="{W}" height="{filled:.1}" rx="1"/>"#
                    );
                }
                _ => {
                    let _ = write!(s, r#"<rect x="{x}" width="{W}" height="28" rx="1"/>"#);
                }
            }
        }
        s.push_str("</g>");
        i += run;
    }
    s.push_str("</svg>");
    s
}

/// A small line of values (a gap where a value is missing), scaled to its own maximum.
pub fn sparkline(values: &[Option<f64>], label: &str) -> String {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let max = values.iter().flatten().fold(0.0_f64, |m, v| m.max(*v));
    let mut s = format!(
        r#"<svg class="spark" viewBox="0 0 120 24" role="img" aria-label="{}">"#,
        escape(label)
    );
    if max > 0.0 && values.len() > 1 {
        let step = W / (values.len() - 1) as f64;
        for run in runs(values) {
            let xy = |(i, v): &(usize, f64)| (*i as f64 * step, H - 1.0 - v / max * (H - 2.0));
            if let [only] = run.as_slice() {
                let (x, y) = xy(only);
                let _ = write!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="1"/>"#);
            } else {
                let points: Vec<String> = run
                    .iter()
                    .map(|p| {
                        let (x, y) = xy(p);
                        format!("{x:.1},{y:.1}")
                    })
                    .collect();
                let _ = write!(s, r#"<polyline points="{}"/>"#, points.join(" "));
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// The unbroken stretches of present values, with their indices.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => current.push((i, *v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One line of a [`line_chart`].
pub struct Series<'a> {
    pub name: &'a str,
    /// CSS class of the line (`p50`, `p95`).
    pub class: &'a str,
    pub values: &'a [Option<f64>],
}

/// A line chart over time: `times[i]` (ms) are the x of every series' `values[i]`; y from 0
/// to the largest value, with four labelled grid lines and the first, middle and last time
/// under the x axis; `shaded` spans (incidents) drawn behind the lines.
pub fn line_chart(
    times: &[i64],
    series: &[Series],
    shaded: &[(i64, i64)],
    unit: &str,
    time_label: impl Fn(i64) -> String,
) -> String {
    const W: f64 = 720.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 56.0;
    const BOTTOM: f64 = 24.0;
    const TOP: f64 = 8.0;
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - BOTTOM - TOP;
    let mut s = String::from(
        r#"<svg class="chart" viewBox="0 0 720 220" role="img" aria-label="latency over time">"#,
    );
    let (Some(&t0), Some(&t1)) = (times.first(), times.last()) else {
        s.push_str(r#"<text x="360" y="110" text-anchor="middle">no data</text></svg>"#);
        return s;
    };
    let span = (t1 - t0).max(1) as f64;
    let x_of = |t: i64| LEFT + (t - t0) as f64 / span * plot_w;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0_f64, |m, v| m.max(*v));
    let top = nice_ceiling(max);
    let y_of = |v: f64| TOP + plot_h - v / top * plot_h;
    for &(a, b) in shaded {
        let (xa, xb) = (x_of(a.max(t0)), x_of(b.min(t1)));
        if xb > xa {
            let _ = write!(
                s,
                r#"<rect class="incident" x="{xa:.1}" y="{TOP}" width="{:.1}" height="{plot_h}"/>"#,
                (xb - xa).max(1.0)
            );
        }
    }
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let y = y_of(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{} {}</text>"#,
            LEFT + plot_w,
            LEFT - 4.0,
            y + 4.0,
            format_value(v),
            escape(unit)
        );
    }
    for (t, anchor) in [(t0, "start"), (t0 + (t1 - t0) / 2, "middle"), (t1, "end")] {
        let _ = write!(
            s,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            x_of(t),
            H - 6.0,
            escape(&time_label(t))
        );
    }
    if top > 0.0 {
        for line in series {
            let points: Vec<(i64, Option<f64>)> = times
                .iter()
                .copied()
                .zip(line.values.iter().copied())
                .collect();
            let values: Vec<Option<f64>> = points.iter().map(|(_, v)| *v).collect();
            for run in runs(&values) {
                let pts: Vec<String> = run
                    .iter()
                    .map(|(i, v)| format!("{:.1},{:.1}", x_of(points[*i].0), y_of(*v)))
                    .collect();
                let _ = write!(
                    s,
                    r#"<polyline class="{}" points="{}"><title>{}</title></polyline>"#,
                    escape(line.class),
                    pts.join(" "),
                    escape(line.name)
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `v` (and 1 for nothing).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * mag)
}

fn format_value(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A flat badge `label | value`, in the colour `class` names (`ok`, `warn`, `bad`, `unk`).
/// Widths come from a per-character estimate of Verdana 11 px, as shields.io badges do.
pub fn badge(label: &str, value: &str, class: &str) -> String {
    let width = |t: &str| {
        10 + t
            .chars()
            .map(|c| if c.is_ascii_uppercase() { 8 } else { 7 })
            .sum::<usize>()
    };
    let (lw, vw) = (width(label), width(value));
    let fill = match class {
        "ok" => "#1a7f37",
        "warn" => "#9a6700",
        "bad" => "#cf222e",
        _ => "#6e7781",
    };
    let (label, value) = (escape(label), escape(value));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><rect width="{lw}" height="20" rx="3" fill="#555"/><rect x="{lw}" width="{vw}" height="20" rx="3" fill="{fill}"/><rect x="{lw}" width="4" height="20" fill="{fill}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>"##,
        total = lw + vw,
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(kind: DayKind, share: f64) -> Day {
        Day {
            date: "2026-12-01".into(),
            kind,
            down_share: share,
            title: "<b>t</b>".into(),
        }
    }

    #[test]
    fn a_day_bar_escapes_its_title_and_fills_an_outage_in_proportion() {
        let svg = day_bars(&[
            day(DayKind::Up, 0.0),
            day(DayKind::Major, 0.5),
            day(DayKind::NoData, 0.0),
        ]);
        assert!(svg.contains("&lt;b&gt;t&lt;/b&gt;") && !svg.contains("<b>"));
        assert!(
            svg.contains(r#"<g class="d-major" data-days="1">"#)
                && svg.contains(r#"<rect x="5" width="4" height="14.0" rx="1"/>"#),
            "{svg}"
        );
        assert!(svg.contains(r#"<g class="d-nodata" data-days="1"><title>2026-12-01: &lt;b&gt;"#));
        assert!(svg.contains(r#"<rect x="10" width="4" height="28""#));
        // A short outage still shows.
        assert!(day_bars(&[day(DayKind::Minor, 0.0001)]).contains(r#"height="4.0""#));
    }

    #[test]
    fn days_that_read_alike_share_one_title_but_keep_their_bars() {
        let up = |date: &str, title: &str| Day {
            date: date.into(),
            kind: DayKind::Up,
            down_share: 0.0,
            title: title.into(),
        };
        let svg = day_bars(&[
            up("2026-11-01", "100 %"),
            up("2026-11-02", "100 %"),
            up("2026-11-03", "100 %"),
            up("2026-11-04", "100 %, 2 h without data"),
            Day {
                kind: DayKind::Minor,
                down_share: 0.01,
                ..up("2026-11-05", "99.9 %")
            },
            Day {
                kind: DayKind::Minor,
                down_share: 0.01,
                ..up("2026-11-06", "99.9 %")
            },
        ]);
        assert_eq!(svg.matches("<title>").count(), 4, "{svg}");
        assert!(svg.contains(
            r#"<g class="d-up" data-days="3"><title>2026-11-01 to 2026-11-03: 100 %</title>"#
        ));
        // Every day keeps its bar; outage days are never merged.
        assert_eq!(svg.matches(r#"height="28""#).count(), 6, "{svg}");
        assert_eq!(svg.matches(r#"data-days="1""#).count(), 3);
    }

    #[test]
    fn a_sparkline_breaks_at_missing_values() {
        let svg = sparkline(&[Some(1.0), Some(2.0), None, Some(2.0), Some(1.0)], "x");
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(svg.contains("0.0,12.0 30.0,1.0"), "{svg}");
        assert!(!sparkline(&[None, None], "x").contains("polyline"));
    }

    #[test]
    fn a_line_chart_has_labelled_axes_and_shades_incidents() {
        let times = [0, 3_600_000, 7_200_000];
        let p50 = [Some(10.0), Some(30.0), Some(20.0)];
        let svg = line_chart(
            &times,
            &[Series {
                name: "p50",
                class: "p50",
                values: &p50,
            }],
            &[(3_000_000, 4_000_000)],
            "ms",
            |t| format!("t{t}"),
        );
        assert!(
            svg.contains(">50 ms</text>") && svg.contains(">0 ms</text>"),
            "{svg}"
        );
        assert!(svg.contains(">t0</text>") && svg.contains(">t7200000</text>"));
        assert_eq!(svg.matches(r#"class="incident""#).count(), 1);
        assert!(line_chart(&[], &[], &[], "ms", |t| t.to_string()).contains("no data"));
    }

    #[test]
    fn nice_ceilings_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(30.0), 50.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
    }

    #[test]
    fn a_badge_escapes_what_it_shows() {
        let svg = badge("api<x>", "99.9 %", "ok");
        assert!(svg.contains("api&lt;x&gt;: 99.9 %") && !svg.contains("<x>"));
        assert!(svg.starts_with("<svg xmlns="));
    }
}
