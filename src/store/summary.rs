//! The per-check summary over a span: availability, downtime, maintenance, no-data time,
//! incident count and latency percentiles. `/health/detailed`, `/api/v1/availability`, the
//! pages, `report` and the alert engine's SLOs all read it from here.
//!
//! It is set-based: a handful of statements for all the checks asked for, whatever their
//! number, and latency comes from the daily rollups for whole days and the hourly ones only
//! for the partial days at the edges, so a 30-day span reads about 30 rows per check.

use super::queries::{Latency, Now};
use super::rollup::{percentile, BUCKETS, DAY_MS, HOUR_MS};
use super::StoreError;
use crate::availability::{self, Availability, Span};
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::HashMap;

/// What one check did over one span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub availability: Availability,
    /// With [`Want::Latency`]; from the rollups (hour granularity at the edges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

/// Whether to read latency too (it costs the rollup reads; availability alone does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Availability,
    Latency,
}

/// Summaries of `names` (in that order) over each of `spans`: `result[span][check]`. A check
/// that was never stored has no data.
///
/// # Errors
/// SQL errors.
pub fn summaries(
    conn: &Connection,
    names: &[String],
    spans: &[Span],
    now: Now,
    want: Want,
) -> Result<Vec<Vec<Summary>>, StoreError> {
    let ids = check_ids(conn, names)?;
    let Some(outer) = spans
        .iter()
        .copied()
        .reduce(|a, b| Span::new(a.start.min(b.start), a.end.max(b.end)))
    else {
        return Ok(Vec::new());
    };
    let coverage = coverage(conn, outer, now)?;
    let incidents = incident_spans(conn, outer, now.ms)?;
    let maintenance = maintenance_spans(conn, outer)?;
    let none: Vec<Span> = Vec::new();
    spans
        .iter()
        .map(|&span| {
            let latency = match want {
                Want::Latency => Some(latency(conn, &ids, span, now)?),
                Want::Availability => None,
            };
            Ok(ids
                .iter()
                .map(|id| {
                    let Some(id) = id else {
                        return Summary {
                            availability: availability::compute(span, &[], &[], &[]),
                            latency: latency.as_ref().map(|_| Latency::default()),
                        };
                    };
                    let mut paused = maintenance.get(&Some(*id)).cloned().unwrap_or_default();
                    paused.extend(maintenance.get(&None).unwrap_or(&none));
                    Summary {
                        availability: availability::compute(
                            span,
                            coverage.get(id).unwrap_or(&none),
                            incidents.get(id).unwrap_or(&none),
                            &paused,
                        ),
                        latency: latency
                            .as_ref()
                            .map(|l| l.get(id).copied().unwrap_or_default()),
                    }
                })
                .collect())
        })
        .collect()
}

/// [`summaries`] over one span.
///
/// # Errors
/// SQL errors.
pub fn summary(
    conn: &Connection,
    names: &[String],
    span: Span,
    now: Now,
    want: Want,
) -> Result<Vec<Summary>, StoreError> {
    Ok(summaries(conn, names, &[span], now, want)?
        .pop()
        .unwrap_or_default())
}

/// The database id of each name, `None` for a check never stored.
fn check_ids(conn: &Connection, names: &[String]) -> Result<Vec<Option<i64>>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT name, id FROM checks")?;
    let all: HashMap<String, i64> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(names.iter().map(|n| all.get(n).copied()).collect())
}

/// When each check was watched, overlapping `span`: from its first result in a run to the
/// run's end (now, for the run still being written).
fn coverage(
    conn: &Connection,
    span: Span,
    now: Now,
) -> Result<HashMap<i64, Vec<Span>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT check_id, first_ms, end_ms FROM (
             SELECT rc.check_id AS check_id, rc.first_ms AS first_ms,
                    CASE WHEN r.id = ?3 THEN ?4 ELSE coalesce(r.stopped_ms, r.last_seen_ms) END AS end_ms
             FROM run_checks rc JOIN runs r ON r.id = rc.run_id)
         WHERE first_ms < ?2 AND end_ms > ?1",
    )?;
    let rows = stmt.query_map(params![span.start, span.end, now.run, now.ms], |r| {
        Ok((r.get(0)?, Span::new(r.get(1)?, r.get(2)?)))
    })?;
    group(rows)
}

/// Incident spans overlapping `span`; open incidents run to `now`.
fn incident_spans(
    conn: &Connection,
    span: Span,
    now: i64,
) -> Result<HashMap<i64, Vec<Span>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT check_id, started_ms, coalesce(ended_ms, ?3) FROM incidents
         WHERE started_ms < ?2 AND (ended_ms IS NULL OR ended_ms > ?1)",
    )?;
    let rows = stmt.query_map(params![span.start, span.end, now], |r| {
        Ok((r.get(0)?, Span::new(r.get(1)?, r.get(2)?)))
    })?;
    group(rows)
}

/// Maintenance windows overlapping `span`, by check id (`None`: every check).
fn maintenance_spans(
    conn: &Connection,
    span: Span,
) -> Result<HashMap<Option<i64>, Vec<Span>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT check_id, start_ms, end_ms FROM maintenance_windows WHERE start_ms < ?2 AND end_ms > ?1",
    )?;
    let rows = stmt.query_map(params![span.start, span.end], |r| {
        Ok((r.get(0)?, Span::new(r.get(1)?, r.get(2)?)))
    })?;
    group(rows)
}

fn group<K: std::hash::Hash + Eq>(
    rows: impl Iterator<Item = rusqlite::Result<(K, Span)>>,
) -> Result<HashMap<K, Vec<Span>>, StoreError> {
    let mut out: HashMap<K, Vec<Span>> = HashMap::new();
    for row in rows {
        let (k, s) = row?;
        out.entry(k).or_default().push(s);
    }
    Ok(out)
}

/// The rollup rows that cover `span`: whole UTC days from the daily table, and the hours of a
/// partial first or last day from the hourly one (hour granularity at the edges). A last day
/// that reaches now counts as whole: nothing after now is stored.
fn pieces(span: Span, now: Now) -> (Span, Vec<Span>) {
    let floor = |t: i64| t.div_euclid(DAY_MS) * DAY_MS;
    let ceil = |t: i64| floor(t) + if t.rem_euclid(DAY_MS) == 0 { 0 } else { DAY_MS };
    let first_whole = ceil(span.start);
    let end_whole = if span.end >= now.ms {
        ceil(span.end)
    } else {
        floor(span.end)
    };
    if end_whole <= first_whole {
        return (Span::new(0, 0), vec![span]);
    }
    let mut hours = Vec::new();
    if span.start < first_whole {
        hours.push(Span::new(span.start, first_whole));
    }
    if span.end > end_whole {
        hours.push(Span::new(end_whole, span.end));
    }
    (Span::new(first_whole, end_whole), hours)
}

fn latency(
    conn: &Connection,
    ids: &[Option<i64>],
    span: Span,
    now: Now,
) -> Result<HashMap<i64, Latency>, StoreError> {
    let known: Vec<String> = ids.iter().flatten().map(i64::to_string).collect();
    if known.is_empty() || span.is_empty() {
        return Ok(HashMap::new());
    }
    let in_list = known.join(",");
    let cols: Vec<String> = (0..BUCKETS).map(|i| format!("sum(b{i:02})")).collect();
    let select = |table: &str| {
        format!(
            "SELECT check_id, sum(probes), sum(latency_sum_us), min(latency_min_us), max(latency_max_us), {}
             FROM {table}",
            cols.join(", ")
        )
    };
    let (days, hours) = pieces(span, now);
    // (table, from, to): rows of `table` in [from, to), in whole hours or days.
    let mut parts: Vec<(&'static str, i64, i64)> = Vec::new();
    if !days.is_empty() {
        // The last two days apart, so that the rest is settled (see `settled`) at any hour.
        let mut cut = days.end;
        for _ in 0..2 {
            if cut - DAY_MS > days.start {
                parts.push(("rollups_daily", cut - DAY_MS, cut));
                cut -= DAY_MS;
            }
        }
        parts.push(("rollups_daily", days.start, cut));
    }
    for h in hours.iter().filter(|h| !h.is_empty()) {
        // Every hour that overlaps the edge piece.
        let floor = h.start.div_euclid(HOUR_MS) * HOUR_MS;
        let ceil = (h.end + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS;
        parts.push(("rollups_hourly", floor, ceil));
    }
    let mut acc: HashMap<i64, Acc> = HashMap::new();
    for (table, from, to) in parts {
        let key = (to <= now.ms - settled::AFTER_MS)
            .then(|| conn.path().filter(|db| !db.is_empty()))
            .flatten()
            .map(|db| settled::Key::new(db, table, from, to, &in_list));
        let sums = match key.as_ref().and_then(settled::get) {
            Some(sums) => sums,
            None => {
                let sums =
                    std::sync::Arc::new(piece(conn, &select(table), table, &in_list, from, to)?);
                if let Some(key) = key {
                    settled::put(key, sums.clone());
                }
                sums
            }
        };
        for (id, a) in sums.iter() {
            acc.entry(*id).or_default().add(a);
        }
    }
    Ok(acc.into_iter().map(|(id, a)| (id, a.latency())).collect())
}

/// The sums per check of the rollup rows of `table` in [from, to).
fn piece(
    conn: &Connection,
    select: &str,
    table: &str,
    in_list: &str,
    from: i64,
    to: i64,
) -> Result<HashMap<i64, Acc>, StoreError> {
    let column = if table == "rollups_daily" {
        "day_ms"
    } else {
        "hour_ms"
    };
    let sql = format!(
        "{select} WHERE check_id IN ({in_list}) AND {column} >= ?1 AND {column} < ?2 GROUP BY check_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![from, to], |r| {
        let mut a = Acc {
            probes: r.get(1)?,
            sum_us: r.get(2)?,
            min_us: r.get(3)?,
            max_us: r.get(4)?,
            buckets: [0; BUCKETS],
        };
        for (i, b) in a.buckets.iter_mut().enumerate() {
            *b = r.get(5 + i)?;
        }
        Ok((r.get::<_, i64>(0)?, a))
    })?;
    let mut sums = HashMap::new();
    for row in rows {
        let (id, a) = row?;
        sums.insert(id, a);
    }
    Ok(sums)
}

/// Sums of rollup pieces that lie in the settled past, kept a few minutes: a 30-day span then
/// reads only its last days' rows on each request, so it costs about what a one-day span does.
/// A piece is settled when it ended an hour ago (the writer commits within seconds; only a
/// store stalled for longer writes later, and then an entry is at most [`TTL`] out of date).
mod settled {
    use super::Acc;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::{Duration, Instant};

    pub const AFTER_MS: i64 = super::HOUR_MS;
    const TTL: Duration = Duration::from_secs(300);
    const MAX_ENTRIES: usize = 512;

    /// Database file, table, from, to and the checks asked for.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct Key(String, &'static str, i64, i64, String);

    impl Key {
        pub fn new(db: &str, table: &'static str, from: i64, to: i64, checks: &str) -> Key {
            Key(db.to_string(), table, from, to, checks.to_string())
        }
    }

    type Sums = Arc<HashMap<i64, Acc>>;

    fn cache() -> &'static Mutex<HashMap<Key, (Instant, Sums)>> {
        static CACHE: OnceLock<Mutex<HashMap<Key, (Instant, Sums)>>> = OnceLock::new();
        CACHE.get_or_init(Mutex::default)
    }

    pub fn get(key: &Key) -> Option<Sums> {
        let cache = cache().lock().ok()?;
        let (at, sums) = cache.get(key)?;
        (at.elapsed() < TTL).then(|| sums.clone())
    }

    pub fn put(key: Key, sums: Sums) {
        if let Ok(mut cache) = cache().lock() {
            if cache.len() >= MAX_ENTRIES {
                cache.retain(|_, (at, _)| at.elapsed() < TTL);
                if cache.len() >= MAX_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert(key, (Instant::now(), sums));
        }
    }
}

/// Latency sums over several rollup rows.
#[derive(Debug, Default, Clone)]
struct Acc {
    probes: i64,
    sum_us: i64,
    min_us: Option<i64>,
    max_us: Option<i64>,
    buckets: [i64; BUCKETS],
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.probes += o.probes;
        self.sum_us += o.sum_us;
        self.min_us = match (self.min_us, o.min_us) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_us = match (self.max_us, o.max_us) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (a, b) in self.buckets.iter_mut().zip(o.buckets) {
            *a += b;
        }
    }

    fn latency(&self) -> Latency {
        if self.probes == 0 {
            return Latency::default();
        }
        let min_ms = self.min_us.map(|v| v as f64 / 1000.0);
        let max_ms = self.max_us.map(|v| v as f64 / 1000.0);
        let (lo, hi) = (min_ms.unwrap_or(0.0), max_ms.unwrap_or(0.0));
        Latency {
            probes: self.probes,
            mean_ms: Some((self.sum_us as f64 / self.probes as f64).round() / 1000.0),
            min_ms,
            max_ms,
            p50_ms: percentile(&self.buckets, 50.0, lo, hi),
            p95_ms: percentile(&self.buckets, 95.0, lo, hi),
            p99_ms: percentile(&self.buckets, 99.0, lo, hi),
        }
    }
}

/// The newest `per_check` incidents of each check up to `now`, in `names` order, newest first.
///
/// # Errors
/// SQL errors.
pub fn recent_incidents(
    conn: &Connection,
    names: &[String],
    per_check: u32,
) -> Result<Vec<Vec<super::queries::IncidentRow>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        // The newest few of each check through its (check_id, started_ms) index: the rows read
        // do not grow with the history kept (a window over every incident did).
        "SELECT i.id, c.name, i.started_ms, i.confirmed_ms, i.ended_ms, i.message
         FROM checks c JOIN incidents i ON i.id IN (
             SELECT id FROM incidents WHERE check_id = c.id
             ORDER BY started_ms DESC, id DESC LIMIT ?1)
         ORDER BY i.started_ms DESC, i.id DESC",
    )?;
    let mut by_name: HashMap<String, Vec<super::queries::IncidentRow>> = HashMap::new();
    let rows = stmt.query_map([per_check], |r| {
        Ok(super::queries::IncidentRow {
            id: r.get(0)?,
            check: r.get(1)?,
            started_ms: r.get(2)?,
            confirmed_ms: r.get(3)?,
            ended_ms: r.get(4)?,
            message: r.get(5)?,
        })
    })?;
    for row in rows {
        let row = row?;
        by_name.entry(row.check.clone()).or_default().push(row);
    }
    Ok(names
        .iter()
        .map(|n| by_name.remove(n).unwrap_or_default())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Now = Now {
        ms: 10 * DAY_MS + 5 * HOUR_MS,
        run: None,
    };

    #[test]
    fn a_span_ending_now_reads_whole_days_and_the_hours_of_its_first_day() {
        let span = Span::new(NOW.ms - 3 * DAY_MS, NOW.ms);
        let (days, hours) = pieces(span, NOW);
        assert_eq!(days, Span::new(8 * DAY_MS, 11 * DAY_MS));
        assert_eq!(hours, vec![Span::new(span.start, 8 * DAY_MS)]);
    }

    #[test]
    fn a_span_ending_in_the_past_reads_its_last_day_by_the_hour() {
        let span = Span::new(2 * DAY_MS, 6 * DAY_MS + 3 * HOUR_MS);
        let (days, hours) = pieces(span, NOW);
        assert_eq!(days, Span::new(2 * DAY_MS, 6 * DAY_MS));
        assert_eq!(hours, vec![Span::new(6 * DAY_MS, span.end)]);
    }

    #[test]
    fn a_span_within_one_day_reads_only_hours() {
        let span = Span::new(4 * DAY_MS + HOUR_MS, 4 * DAY_MS + 9 * HOUR_MS);
        assert_eq!(pieces(span, NOW), (Span::new(0, 0), vec![span]));
        let exact = Span::new(3 * DAY_MS, 4 * DAY_MS);
        assert_eq!(pieces(exact, NOW), (exact, vec![]));
    }
}
