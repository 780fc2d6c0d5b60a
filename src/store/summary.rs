//! The per-check summary over a span: availability, downtime, maintenance, no-data time,
//! incident count and latency percentiles. `/health/detailed`, `/api/v1/availability`, the
//! pages, `report` and the alert engine's SLOs all read it from here.
//!
//! It is set-based: a handful of statements for all the checks asked for, whatever their
//! number, and latency comes from the daily rollups for whole days and the hourly ones only
//! for the partial days at the edges, so a 30-day span reads about 30 rows per check.

use super::queries::{Latency, Now};
use super::rollup::{percentile, BUCKETS, DAY_MS, HOUR_MS};
use super::settled;
use super::StoreError;
use crate::availability::{self, Availability, Span, Tally};
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

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
    let Some(outer) = hull(spans.iter().copied()) else {
        return Ok(Vec::new());
    };
    let in_list: String = ids
        .iter()
        .flatten()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let coverage = coverage(conn, outer, now)?;
    let paused = paused(&ids, &maintenance_spans(conn, outer)?);
    let facts = Facts {
        ids: ids.iter().flatten().copied().collect(),
        coverage: &coverage,
        paused: &paused,
    };
    let plans: Vec<Vec<Piece>> = spans.iter().map(|s| plan(*s, now)).collect();
    // What is not settled is read once, over the hull of every span's live pieces.
    let live_hull = hull(plans.iter().flatten().filter_map(|p| match p {
        Piece::Live(s) => Some(*s),
        _ => None,
    }));
    let live = match live_hull {
        Some(hull) => incident_spans(conn, hull, now.ms)?,
        None => HashMap::new(),
    };
    let db = conn.path().filter(|db| !db.is_empty());
    let key = |kind: &'static str, span: Span| {
        db.map(|db| settled::Key::new(db, kind, span.start, span.end, &in_list))
    };
    spans
        .iter()
        .zip(&plans)
        .map(|(&span, plan)| {
            let mut tallies: HashMap<i64, Tally> = HashMap::new();
            for piece in plan {
                let part: Arc<HashMap<i64, Tally>> = match *piece {
                    Piece::Live(part) => Arc::new(facts.tallies(part, &live)),
                    Piece::Hour { hour, part } => {
                        let hour_span = Span::new(hour, hour + HOUR_MS);
                        let incidents = settled::get_or(key("hour-incidents", hour_span), || {
                            incident_spans(conn, hour_span, now.ms)
                        })?;
                        Arc::new(facts.tallies(part, &incidents))
                    }
                    Piece::Settled(part) => settled::get_or(key("tallies", part), || {
                        Ok(facts.tallies(part, &incident_spans(conn, part, now.ms)?))
                    })?,
                };
                for (&id, &t) in part.iter() {
                    tallies
                        .entry(id)
                        .and_modify(|sum| *sum = sum.then(t))
                        .or_insert(t);
                }
            }
            let latency = match want {
                Want::Latency => Some(latency(conn, &ids, span, now)?),
                Want::Availability => None,
            };
            Ok(ids
                .iter()
                .map(|id| Summary {
                    availability: match id.and_then(|id| tallies.get(&id)) {
                        Some(t) => t.finish(),
                        None => availability::compute(span, &[], &[], &[]),
                    },
                    latency: latency
                        .as_ref()
                        .map(|l| id.and_then(|id| l.get(&id).copied()).unwrap_or_default()),
                })
                .collect())
        })
        .collect()
}

/// What a span's availability is summed from, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// Read on each call: recent time, or a span too short to have whole settled hours.
    Live(Span),
    /// Part of a settled hour, whose incidents are kept (see `settled`).
    Hour { hour: i64, part: Span },
    /// Whole settled hours, whose tallies are kept.
    Settled(Span),
}

/// Splits `span` so that all but its recent part comes from kept pieces: the partial hours at
/// its edges from their hour's incidents, the whole hours between as one tally. A 30-day
/// window then reads only its last hour or two on each call.
fn plan(span: Span, now: Now) -> Vec<Piece> {
    let floor = |t: i64| t.div_euclid(HOUR_MS) * HOUR_MS;
    let ceil = |t: i64| {
        floor(t)
            + if t.rem_euclid(HOUR_MS) == 0 {
                0
            } else {
                HOUR_MS
            }
    };
    let settled_end = floor(now.ms - settled::AFTER_MS);
    let (a, b) = (ceil(span.start), floor(span.end).min(settled_end));
    if a >= b {
        return vec![Piece::Live(span)];
    }
    let mut pieces = Vec::with_capacity(3);
    if span.start < a {
        pieces.push(Piece::Hour {
            hour: a - HOUR_MS,
            part: Span::new(span.start, a),
        });
    }
    pieces.push(Piece::Settled(Span::new(a, b)));
    if b < span.end {
        if span.end <= settled_end {
            pieces.push(Piece::Hour {
                hour: b,
                part: Span::new(b, span.end),
            });
        } else {
            pieces.push(Piece::Live(Span::new(b, span.end)));
        }
    }
    pieces
}

/// What every piece's tally needs besides its incidents.
struct Facts<'a> {
    ids: Vec<i64>,
    coverage: &'a HashMap<i64, Vec<Span>>,
    paused: &'a HashMap<i64, Vec<Span>>,
}

impl Facts<'_> {
    fn tallies(&self, part: Span, incidents: &HashMap<i64, Vec<Span>>) -> HashMap<i64, Tally> {
        fn of<'m>(m: &'m HashMap<i64, Vec<Span>>, id: &i64) -> &'m [Span] {
            m.get(id).map_or(&[], Vec::as_slice)
        }
        self.ids
            .iter()
            .map(|id| {
                let t = availability::tally(
                    part,
                    of(self.coverage, id),
                    of(incidents, id),
                    of(self.paused, id),
                );
                (*id, t)
            })
            .collect()
    }
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

/// Availability of `names` over each of many short spans (a report's days): `result[span]
/// [check]`, from one read of the incidents over their hull. [`summaries`] reads each span's
/// incidents on its own, which suits a few long windows whose pieces are kept, not thirty
/// cold days of a report (each old day would read every incident that ended after it).
///
/// # Errors
/// SQL errors.
pub fn availability_by_span(
    conn: &Connection,
    names: &[String],
    spans: &[Span],
    now: Now,
) -> Result<Vec<Vec<Availability>>, StoreError> {
    let ids = check_ids(conn, names)?;
    let Some(whole) = hull(spans.iter().copied()) else {
        return Ok(Vec::new());
    };
    let coverage = coverage(conn, whole, now)?;
    let paused = paused(&ids, &maintenance_spans(conn, whole)?);
    let facts = Facts {
        ids: ids.iter().flatten().copied().collect(),
        coverage: &coverage,
        paused: &paused,
    };
    let incidents = incident_spans(conn, whole, now.ms)?;
    Ok(spans
        .iter()
        .map(|&span| {
            let tallies = facts.tallies(span, &incidents);
            ids.iter()
                .map(|id| match id.and_then(|id| tallies.get(&id)) {
                    Some(t) => t.finish(),
                    None => availability::compute(span, &[], &[], &[]),
                })
                .collect()
        })
        .collect())
}

/// The smallest span holding all of `spans`.
fn hull(spans: impl Iterator<Item = Span>) -> Option<Span> {
    spans.reduce(|a, b| Span::new(a.start.min(b.start), a.end.max(b.end)))
}

/// The maintenance windows of each check: its own and those of every check.
fn paused(
    ids: &[Option<i64>],
    maintenance: &HashMap<Option<i64>, Vec<Span>>,
) -> HashMap<i64, Vec<Span>> {
    let none: Vec<Span> = Vec::new();
    ids.iter()
        .flatten()
        .map(|id| {
            let mut p = maintenance.get(&Some(*id)).cloned().unwrap_or_default();
            p.extend(maintenance.get(&None).unwrap_or(&none));
            (*id, p)
        })
        .collect()
}

/// The database id of each name, `None` for a check never stored.
pub(super) fn check_ids(
    conn: &Connection,
    names: &[String],
) -> Result<Vec<Option<i64>>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT name, id FROM checks")?;
    let all: HashMap<String, i64> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(names.iter().map(|n| all.get(n).copied()).collect())
}

/// When each check was watched, overlapping `span`: from its first result in a run to the
/// run's end (now, for the run still being written). The spans of the runs that ended never
/// change: they are kept while the runs table is unchanged, so a daemon restarted often does
/// not read every past run's rows on every call.
fn coverage(
    conn: &Connection,
    span: Span,
    now: Now,
) -> Result<HashMap<i64, Vec<Span>>, StoreError> {
    let print: Vec<i64> = conn
        .prepare_cached(
            "SELECT count(*), coalesce(max(id), 0), coalesce(sum(coalesce(stopped_ms, last_seen_ms)), 0)
             FROM runs WHERE id IS NOT ?1",
        )?
        .query_row(params![now.run], |r| Ok(vec![r.get(0)?, r.get(1)?, r.get(2)?]))?;
    let key = conn
        .path()
        .filter(|db| !db.is_empty())
        .map(|db| settled::Key::new(db, "ended-runs", now.run.unwrap_or(-1), 0, ""));
    let ended = settled::get_or_at(key, print, || {
        let mut stmt = conn.prepare_cached(
            "SELECT rc.check_id, rc.first_ms, coalesce(r.stopped_ms, r.last_seen_ms)
             FROM run_checks rc JOIN runs r ON r.id = rc.run_id WHERE r.id IS NOT ?1",
        )?;
        let rows = stmt.query_map(params![now.run], |r| {
            Ok((r.get(0)?, Span::new(r.get(1)?, r.get(2)?)))
        })?;
        group(rows)
    })?;
    let mut out: HashMap<i64, Vec<Span>> = HashMap::new();
    for (id, spans) in ended.iter() {
        let within: Vec<Span> = spans
            .iter()
            .filter(|s| s.start < span.end && s.end > span.start)
            .copied()
            .collect();
        if !within.is_empty() {
            out.insert(*id, within);
        }
    }
    if let Some(run) = now.run {
        let mut stmt = conn.prepare_cached(
            "SELECT check_id, first_ms FROM run_checks WHERE run_id = ?1 AND first_ms < ?2",
        )?;
        let rows = stmt.query_map(params![run, span.end], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (id, first) = row?;
            if now.ms > span.start {
                out.entry(id).or_default().push(Span::new(first, now.ms));
            }
        }
    }
    Ok(out)
}

/// Incident spans overlapping `span`; open incidents run to `now`.
fn incident_spans(
    conn: &Connection,
    span: Span,
    now: i64,
) -> Result<HashMap<i64, Vec<Span>>, StoreError> {
    // Through the index on ended_ms (the `+` keeps SQLite off the one on started_ms): the
    // rows read are those still open or ended after the span began, so a recent span reads
    // a few rows however long the history is.
    let mut stmt = conn.prepare_cached(
        "SELECT check_id, started_ms, coalesce(ended_ms, ?3) FROM incidents
             WHERE ended_ms IS NULL AND +started_ms < ?2
         UNION ALL
         SELECT check_id, started_ms, ended_ms FROM incidents
             WHERE ended_ms > ?1 AND +started_ms < ?2",
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
    let db = conn.path().filter(|db| !db.is_empty());
    for (table, from, to) in parts {
        let key = (to <= now.ms - settled::AFTER_MS)
            .then_some(db)
            .flatten()
            .map(|db| settled::Key::new(db, table, from, to, &in_list));
        let sums = settled::get_or(key, || {
            piece(conn, &select(table), table, &in_list, from, to)
        })?;
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

/// The newest `per_check` incidents of each check, in `names` order, newest first.
///
/// Kept between calls while the incidents table is unchanged: its rows are only ever inserted
/// (an incident opens) or given an end (it closes), and each of those moves the table's
/// [`fingerprint`], which costs three index lookups where the list itself costs a lookup per
/// incident shown.
///
/// # Errors
/// SQL errors.
pub fn recent_incidents(
    conn: &Connection,
    names: &[String],
    per_check: u32,
) -> Result<Arc<Vec<Vec<super::queries::IncidentRow>>>, StoreError> {
    let Some(db) = conn.path().filter(|db| !db.is_empty()) else {
        return read_recent_incidents(conn, names, per_check).map(Arc::new);
    };
    let key = settled::Key::new(
        db,
        "recent-incidents",
        i64::from(per_check),
        0,
        &names.join(","),
    );
    let (a, b, c) = fingerprint(conn)?;
    settled::get_or_at(Some(key), vec![a, b, c], || {
        read_recent_incidents(conn, names, per_check)
    })
}

/// What changes whenever an incident opens (a new largest id) or closes (one fewer open, and
/// the largest end moves).
fn fingerprint(conn: &Connection) -> Result<(i64, i64, i64), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT (SELECT coalesce(max(id), 0) FROM incidents),
                (SELECT count(*) FROM incidents WHERE ended_ms IS NULL),
                (SELECT coalesce(max(ended_ms), 0) FROM incidents)",
    )?;
    Ok(stmt.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
}

fn read_recent_incidents(
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
             ORDER BY started_ms DESC, id DESC LIMIT ?1)",
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
        .map(|n| {
            let mut list = by_name.remove(n).unwrap_or_default();
            list.sort_by_key(|i| std::cmp::Reverse((i.started_ms, i.id)));
            list
        })
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

    fn part(p: &Piece) -> Span {
        match *p {
            Piece::Live(s) | Piece::Settled(s) | Piece::Hour { part: s, .. } => s,
        }
    }

    #[test]
    fn a_long_window_is_kept_pieces_but_its_last_hours() {
        let span = Span::new(NOW.ms - 30 * DAY_MS + 1234, NOW.ms);
        let plan = plan(span, NOW);
        let settled_end = NOW.ms - HOUR_MS; // NOW is on the hour
        assert_eq!(
            plan,
            vec![
                Piece::Hour {
                    hour: span.start - 1234,
                    part: Span::new(span.start, span.start - 1234 + HOUR_MS)
                },
                Piece::Settled(Span::new(span.start - 1234 + HOUR_MS, settled_end)),
                Piece::Live(Span::new(settled_end, NOW.ms)),
            ]
        );
    }

    #[test]
    fn the_pieces_of_a_plan_cover_its_span_exactly_and_in_order() {
        let m = 60_000;
        for span in [
            Span::new(NOW.ms - 30 * DAY_MS, NOW.ms),
            Span::new(NOW.ms - 90 * m, NOW.ms),
            Span::new(NOW.ms - 5 * m, NOW.ms),
            Span::new(2 * DAY_MS + 7 * m, 4 * DAY_MS + 13 * m),
            Span::new(2 * DAY_MS, 3 * DAY_MS),
            Span::new(NOW.ms - 3 * HOUR_MS - 7, NOW.ms - HOUR_MS - 3),
        ] {
            let plan = plan(span, NOW);
            let parts: Vec<Span> = plan.iter().map(part).collect();
            assert_eq!(parts.first().map(|p| p.start), Some(span.start), "{plan:?}");
            assert_eq!(parts.last().map(|p| p.end), Some(span.end), "{plan:?}");
            assert!(parts.windows(2).all(|w| w[0].end == w[1].start), "{plan:?}");
            for p in &plan {
                // Nothing kept ends less than an hour ago.
                if let Piece::Hour { hour, part } = *p {
                    assert!(hour <= part.start && part.end <= hour + HOUR_MS);
                    assert!(hour + HOUR_MS <= NOW.ms - settled::AFTER_MS);
                }
                if let Piece::Settled(s) = *p {
                    assert!(s.end <= NOW.ms - settled::AFTER_MS);
                }
            }
        }
    }

    #[test]
    fn kept_pieces_give_what_the_whole_history_gives() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, conn) = super::super::Store::open(&dir.path().join("h.db")).unwrap();
        let m = 60_000;
        let start = NOW.ms - 40 * DAY_MS;
        conn.execute_batch(&format!(
            "INSERT INTO checks (id, name, kind, first_seen_ms) VALUES (1, 'a', 'tcp', 0), (2, 'b', 'tcp', 0);
             INSERT INTO runs (id, started_ms, last_seen_ms, stopped_ms, version)
                 VALUES (1, {start}, {gap}, {gap}, 't'), (2, {back}, {back}, NULL, 't');
             INSERT INTO run_checks (run_id, check_id, first_ms)
                 VALUES (1, 1, {start}), (1, 2, {start}), (2, 1, {back}), (2, 2, {back});
             INSERT INTO maintenance_windows (name, check_id, start_ms, end_ms)
                 VALUES ('m', NULL, {m1}, {m2});",
            gap = NOW.ms - 20 * DAY_MS,
            back = NOW.ms - 19 * DAY_MS,
            m1 = NOW.ms - 3 * DAY_MS - 7 * m,
            m2 = NOW.ms - 3 * DAY_MS + 50 * m,
        ))
        .unwrap();
        // Incidents every few hours at odd minutes, some across hour and window edges, one
        // still open.
        let mut raw: Vec<(i64, Span)> = Vec::new();
        let mut t = start + 17 * m;
        let mut i = 0;
        while t < NOW.ms - 2 * HOUR_MS {
            let len = [3 * m, 75 * m, 200 * m, 11 * m][i % 4];
            raw.push((1 + (i % 2) as i64, Span::new(t, t + len)));
            t += 5 * HOUR_MS + 13 * m;
            i += 1;
        }
        raw.push((2, Span::new(NOW.ms - 90 * m, NOW.ms + DAY_MS)));
        for (id, s) in &raw {
            let open = s.end > NOW.ms;
            conn.execute(
                "INSERT INTO incidents (check_id, started_ms, confirmed_ms, ended_ms) VALUES (?1, ?2, ?2, ?3)",
                params![id, s.start, (!open).then_some(s.end)],
            )
            .unwrap();
        }
        let names = vec!["a".to_string(), "b".to_string(), "never".to_string()];
        let spans: Vec<Span> = [HOUR_MS, DAY_MS, 7 * DAY_MS, 30 * DAY_MS]
            .iter()
            .map(|w| Span::new(NOW.ms - w - 4321, NOW.ms))
            .chain([Span::new(
                NOW.ms - 25 * DAY_MS + m,
                NOW.ms - 2 * DAY_MS - 3 * m,
            )])
            .collect();
        let now = Now {
            ms: NOW.ms,
            run: Some(2),
        };
        let coverage = [
            Span::new(start, NOW.ms - 20 * DAY_MS),
            Span::new(NOW.ms - 19 * DAY_MS, NOW.ms),
        ];
        let paused = [Span::new(
            NOW.ms - 3 * DAY_MS - 7 * m,
            NOW.ms - 3 * DAY_MS + 50 * m,
        )];
        // Twice: the first call keeps its pieces, the second reads them back.
        for _ in 0..2 {
            let got = summaries(&conn, &names, &spans, now, Want::Availability).unwrap();
            for (span, per_check) in spans.iter().zip(&got) {
                for (id, summary) in [1, 2].iter().zip(per_check) {
                    let incidents: Vec<Span> = raw
                        .iter()
                        .filter(|(c, _)| c == id)
                        .map(|(_, s)| Span::new(s.start, s.end.min(NOW.ms)))
                        .collect();
                    let want = availability::compute(*span, &coverage, &incidents, &paused);
                    assert_eq!(summary.availability, want, "check {id} over {span:?}");
                }
                assert_eq!(per_check[2].availability.percent, None);
            }
        }
        // Day by day from one read: the same figures as each day's own summary.
        let days: Vec<Span> = (0..40)
            .map(|d| Span::new(start + d * DAY_MS, (start + (d + 1) * DAY_MS).min(NOW.ms)))
            .collect();
        let by_span = availability_by_span(&conn, &names, &days, now).unwrap();
        let each = summaries(&conn, &names, &days, now, Want::Availability).unwrap();
        for (day, (a, b)) in days.iter().zip(by_span.iter().zip(&each)) {
            let b: Vec<Availability> = b.iter().map(|s| s.availability).collect();
            assert_eq!(a, &b, "{day:?}");
        }
        assert!(by_span.iter().any(|d| d[0].downtime_seconds > 0.0));
    }
}
