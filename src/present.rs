//! How figures read to people, shared by the pages, the report and the emails: durations,
//! percentages, times and the colour of a day.

use crate::svg;

/// `43 s`, `12 min`, `2 h 5 min`, `3 d 4 h`.
pub fn human(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

/// `99.953 %`, `100 %`, or `no data`.
pub fn percent(p: Option<f64>) -> String {
    match p {
        Some(p) if p >= 100.0 => "100 %".into(),
        Some(p) => format!("{p:.3} %"),
        None => "no data".into(),
    }
}

/// `2026-12-02 14:05 UTC`.
pub fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || "?".into(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// A day of the status bar from that day's availability.
pub fn day_cell(date: String, a: &crate::availability::Availability) -> svg::Day {
    use svg::DayKind;
    let share = if a.observed_seconds > 0.0 {
        a.downtime_seconds / a.observed_seconds
    } else {
        0.0
    };
    let kind = if a.downtime_seconds > 0.0 {
        if share >= svg::MAJOR_SHARE {
            DayKind::Major
        } else {
            DayKind::Minor
        }
    } else if a.maintenance_seconds > 0.0 {
        DayKind::Maintenance
    } else if a.observed_seconds > 0.0 {
        DayKind::Up
    } else {
        DayKind::NoData
    };
    let mut title = match a.percent {
        None if a.maintenance_seconds > 0.0 => "maintenance".to_string(),
        None => "no data".to_string(),
        Some(p) => percent(Some(p)),
    };
    if a.downtime_seconds > 0.0 {
        title.push_str(&format!(", {} down", human(a.downtime_seconds)));
    }
    if a.incidents > 0 {
        let s = if a.incidents == 1 { "" } else { "s" };
        title.push_str(&format!(", {} incident{s}", a.incidents));
    }
    if a.maintenance_seconds > 0.0 && a.percent.is_some() {
        title.push_str(&format!(
            ", {} in maintenance",
            human(a.maintenance_seconds)
        ));
    }
    if a.no_data_seconds > 0.0 && a.percent.is_some() {
        title.push_str(&format!(", {} without data", human(a.no_data_seconds)));
    }
    svg::Day {
        date,
        kind,
        down_share: share,
        title,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::{compute, Span};

    const H: i64 = 3_600_000;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(43.2), "43 s");
        assert_eq!(human(720.0), "12 min");
        assert_eq!(human(7500.0), "2 h 5 min");
        assert_eq!(human(3.0 * 86_400.0 + 4.0 * 3600.0), "3 d 4 h");
    }

    #[test]
    fn a_day_is_coloured_by_what_happened_in_it() {
        let day = Span::new(0, 24 * H);
        let watched = [day];
        let kind = |a| day_cell("d".into(), &a).kind;
        assert_eq!(kind(compute(day, &[], &[], &[])), svg::DayKind::NoData);
        assert_eq!(kind(compute(day, &watched, &[], &[])), svg::DayKind::Up);
        assert_eq!(
            kind(compute(day, &watched, &[], &[Span::new(H, 2 * H)])),
            svg::DayKind::Maintenance
        );
        // 5 minutes is under 1 % of a day; an hour is over.
        let short = [Span::new(H, H + 300_000)];
        assert_eq!(
            kind(compute(day, &watched, &short, &[])),
            svg::DayKind::Minor
        );
        assert_eq!(
            kind(compute(day, &watched, &[Span::new(H, 2 * H)], &[])),
            svg::DayKind::Major
        );
        let cell = day_cell("2026-12-01".into(), &compute(day, &watched, &short, &[]));
        assert_eq!(cell.title, "99.653 %, 5 min down, 1 incident");
    }
}
