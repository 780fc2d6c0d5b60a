//! Latency over time, hour by hour, from the hourly rollups: the sparklines of the status
//! page and the p50/p95 chart of a check's page. Hours that ended over an hour ago are kept
//! (see `settled`), so a page reads only its last hour or two of rows on each request.

use super::queries::{Latency, Now};
use super::rollup::{percentile, BUCKETS, HOUR_MS};
use super::{settled, StoreError};
use rusqlite::{params, Connection};
use std::collections::HashMap;

/// One hour of one check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hour {
    pub hour_ms: i64,
    pub latency: Latency,
    /// Milliseconds of the hour spent in each status, as the rollup counts them.
    pub unhealthy_ms: i64,
    pub degraded_ms: i64,
}

/// Each named check's hours in `[from, to)` (whole hours: `from` is rounded down), oldest
/// first; hours without a probe are absent. In `names` order.
///
/// # Errors
/// SQL errors.
pub fn hourly(
    conn: &Connection,
    names: &[String],
    from: i64,
    to: i64,
    now: Now,
) -> Result<Vec<Vec<Hour>>, StoreError> {
    let ids = super::summary::check_ids(conn, names)?;
    let known: Vec<String> = ids.iter().flatten().map(i64::to_string).collect();
    let from = from.div_euclid(HOUR_MS) * HOUR_MS;
    if known.is_empty() || to <= from {
        return Ok(vec![Vec::new(); names.len()]);
    }
    let in_list = known.join(",");
    let settled_end = (now.ms - settled::AFTER_MS).div_euclid(HOUR_MS) * HOUR_MS;
    let cut = settled_end.clamp(from, to);
    let db = conn.path().filter(|db| !db.is_empty());
    let old = settled::get_or(
        db.map(|db| settled::Key::new(db, "hourly-series", from, cut, &in_list)),
        || rows(conn, &in_list, from, cut),
    )?;
    let new = rows(conn, &in_list, cut, to)?;
    Ok(ids
        .iter()
        .map(|id| {
            let Some(id) = id else { return Vec::new() };
            let mut hours: Vec<Hour> = old.get(id).cloned().unwrap_or_default();
            hours.extend(new.get(id).into_iter().flatten());
            hours
        })
        .collect())
}

fn rows(
    conn: &Connection,
    in_list: &str,
    from: i64,
    to: i64,
) -> Result<HashMap<i64, Vec<Hour>>, StoreError> {
    let mut out: HashMap<i64, Vec<Hour>> = HashMap::new();
    if to <= from {
        return Ok(out);
    }
    let buckets: Vec<String> = (0..BUCKETS).map(|i| format!("b{i:02}")).collect();
    let sql = format!(
        "SELECT check_id, hour_ms, probes, latency_sum_us, latency_min_us, latency_max_us,
                unhealthy_ms, degraded_ms, {}
         FROM rollups_hourly WHERE check_id IN ({in_list}) AND hour_ms >= ?1 AND hour_ms < ?2
         ORDER BY check_id, hour_ms",
        buckets.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        let probes: i64 = r.get(2)?;
        let sum_us: i64 = r.get(3)?;
        let min_ms = r.get::<_, Option<i64>>(4)?.map(|v| v as f64 / 1000.0);
        let max_ms = r.get::<_, Option<i64>>(5)?.map(|v| v as f64 / 1000.0);
        let mut b = [0i64; BUCKETS];
        for (i, slot) in b.iter_mut().enumerate() {
            *slot = r.get(8 + i)?;
        }
        let (lo, hi) = (min_ms.unwrap_or(0.0), max_ms.unwrap_or(0.0));
        let latency = Latency {
            probes,
            mean_ms: (probes > 0).then(|| (sum_us as f64 / probes as f64).round() / 1000.0),
            min_ms,
            max_ms,
            p50_ms: percentile(&b, 50.0, lo, hi),
            p95_ms: percentile(&b, 95.0, lo, hi),
            p99_ms: percentile(&b, 99.0, lo, hi),
        };
        out.entry(r.get(0)?).or_default().push(Hour {
            hour_ms: r.get(1)?,
            latency,
            unhealthy_ms: r.get(6)?,
            degraded_ms: r.get(7)?,
        });
    }
    Ok(out)
}
