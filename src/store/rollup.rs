//! Hourly and daily rollups, accumulated in memory per batch and written as one upsert per
//! (check, hour) and per (check, UTC day).

use crate::checks::Status;
use std::collections::BTreeMap;

pub type Millis = i64;

pub const HOUR_MS: Millis = 3_600_000;
pub const DAY_MS: Millis = 86_400_000;

/// Upper bounds (ms) of the latency buckets b00..b13; b14 counts everything slower.
pub const LATENCY_BOUNDS_MS: [f64; 14] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
];
pub const BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

pub fn hour_of(ms: Millis) -> Millis {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// The start of the UTC day holding `ms`.
pub fn day_of(ms: Millis) -> Millis {
    ms.div_euclid(DAY_MS) * DAY_MS
}

pub fn bucket_of(latency_us: i64) -> usize {
    let ms = latency_us as f64 / 1000.0;
    LATENCY_BOUNDS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(BUCKETS - 1)
}

/// What one batch adds to one (check, hour) or (check, day) row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    pub probes: i64,
    pub healthy: i64,
    pub degraded: i64,
    pub unhealthy: i64,
    pub healthy_ms: i64,
    pub degraded_ms: i64,
    pub unhealthy_ms: i64,
    pub latency_sum_us: i64,
    pub latency_min_us: Option<i64>,
    pub latency_max_us: Option<i64>,
    pub buckets: [i64; BUCKETS],
}

/// Deltas of one batch, keyed by (check id, hour start) and (check id, day start).
#[derive(Debug, Default)]
pub struct Rollups {
    pub rows: BTreeMap<(i64, Millis), Delta>,
    pub days: BTreeMap<(i64, Millis), Delta>,
}

impl Delta {
    fn add_probe(&mut self, status: Status, latency_us: i64) {
        let d = self;
        d.probes += 1;
        match status {
            Status::Healthy => d.healthy += 1,
            Status::Degraded => d.degraded += 1,
            Status::Unhealthy => d.unhealthy += 1,
            Status::Unknown => {}
        }
        d.latency_sum_us += latency_us;
        d.latency_min_us = Some(d.latency_min_us.map_or(latency_us, |m| m.min(latency_us)));
        d.latency_max_us = Some(d.latency_max_us.map_or(latency_us, |m| m.max(latency_us)));
        d.buckets[bucket_of(latency_us)] += 1;
    }

    fn add_time(&mut self, span: Millis, status: Status) {
        match status {
            Status::Healthy => self.healthy_ms += span,
            Status::Degraded => self.degraded_ms += span,
            Status::Unhealthy => self.unhealthy_ms += span,
            Status::Unknown => {}
        }
    }
}

impl Rollups {
    pub fn add_probe(&mut self, check_id: i64, at: Millis, status: Status, latency_us: i64) {
        for (rows, start) in [(&mut self.rows, hour_of(at)), (&mut self.days, day_of(at))] {
            rows.entry((check_id, start))
                .or_default()
                .add_probe(status, latency_us);
        }
    }

    /// Attributes `[from, to)` to `status`, split at hour (and so at day) boundaries.
    pub fn add_time(&mut self, check_id: i64, from: Millis, to: Millis, status: Status) {
        let mut start = from;
        while start < to {
            let hour = hour_of(start);
            let end = to.min(hour + HOUR_MS);
            let span = end - start;
            self.rows
                .entry((check_id, hour))
                .or_default()
                .add_time(span, status);
            self.days
                .entry((check_id, day_of(start)))
                .or_default()
                .add_time(span, status);
            start = end;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Estimates a percentile (0..=100) from bucket counts, interpolating inside the bucket and
/// clamping to the observed min and max.
pub fn percentile(buckets: &[i64; BUCKETS], p: f64, min_ms: f64, max_ms: f64) -> Option<f64> {
    let total: i64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (p / 100.0 * total as f64).max(1.0);
    let mut seen = 0.0;
    for (i, &count) in buckets.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let next = seen + count as f64;
        if next >= rank {
            let low = if i == 0 {
                0.0
            } else {
                LATENCY_BOUNDS_MS[i - 1]
            };
            let high = LATENCY_BOUNDS_MS.get(i).copied().unwrap_or(max_ms);
            let (low, high) = (low.max(min_ms), high.min(max_ms));
            let frac = (rank - seen) / count as f64;
            let v = low + (high - low).max(0.0) * frac;
            return Some((v * 1000.0).round() / 1000.0);
        }
        seen = next;
    }
    Some(max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_is_split_at_hour_boundaries() {
        let mut r = Rollups::default();
        r.add_time(1, HOUR_MS - 1000, HOUR_MS + 500, Status::Unhealthy);
        assert_eq!(r.rows[&(1, 0)].unhealthy_ms, 1000);
        assert_eq!(r.rows[&(1, HOUR_MS)].unhealthy_ms, 500);
        assert_eq!(r.days[&(1, 0)].unhealthy_ms, 1500);
        r.add_time(1, DAY_MS - 500, DAY_MS + 250, Status::Healthy);
        assert_eq!(
            (r.days[&(1, 0)].healthy_ms, r.days[&(1, DAY_MS)].healthy_ms),
            (500, 250),
            "days split at UTC midnight"
        );
    }

    #[test]
    fn probes_count_by_status_and_latency_bucket() {
        let mut r = Rollups::default();
        r.add_probe(7, 10, Status::Healthy, 800);
        r.add_probe(7, 20, Status::Degraded, 40_000);
        r.add_probe(7, 30, Status::Unhealthy, 45_000_000);
        let d = &r.rows[&(7, 0)];
        assert_eq!((d.probes, d.healthy, d.degraded, d.unhealthy), (3, 1, 1, 1));
        assert_eq!(
            (d.latency_min_us, d.latency_max_us),
            (Some(800), Some(45_000_000))
        );
        assert_eq!((d.buckets[0], d.buckets[5], d.buckets[14]), (1, 1, 1));
        assert_eq!(
            &r.days[&(7, 0)],
            d,
            "the day holds the same as its one hour"
        );
    }

    #[test]
    fn percentiles_interpolate_within_buckets() {
        let mut b = [0i64; BUCKETS];
        b[4] = 100; // 100 probes between 10 and 25 ms
        assert_eq!(percentile(&b, 50.0, 10.0, 25.0), Some(17.5));
        assert_eq!(percentile(&b, 100.0, 10.0, 25.0), Some(25.0));
        assert_eq!(percentile(&[0; BUCKETS], 50.0, 0.0, 0.0), None);
    }
}
