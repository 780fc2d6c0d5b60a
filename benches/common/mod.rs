//! Synthetic results shared by the benchmark tools (`history`, `ingest`): a fleet of `memory`
//! checks with their own latencies, memory readings and random outages, in time order.
//!
//! Each check probes once per interval at its own phase (spread over the interval, as the
//! scheduler's grid spreads them). Latency: a log-normal around a per-check median between 1
//! and 80 ms, 1 % spikes of 3-20x, and 30 % of failed probes at a 5 s timeout. Memory: a slow
//! random walk between 20 and 84 % used, 85-95 % while degraded, above 95 % while down, with
//! the message and `observed` values the `memory` kind writes. Outages: about
//! `outages_per_week` per check (70 % of 1.5-10 min, 25 % of 10-60 min, 5 % of 1-4 h), plus
//! ten blips a week of 1-2 failed probes (below the failure threshold: no incident) and five
//! degraded spells of 2-20 probes. Same seed, same results (times relative to `start`).

// Each bench uses part of this module.
#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use healthmon::breaker::CircuitState;
use healthmon::checks::{Observed, Status};
use healthmon::incident::{Change, Tracker};
use healthmon::result::CheckResult;
use healthmon::store::writer::{CheckName, Op};
use healthmon::time::Millis;
use std::time::Duration;

/// SplitMix64: small, fast and reproducible; the quality is plenty for synthetic history.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// Exponential with this mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }
}

const WEEK_MS: f64 = 7.0 * 86_400_000.0;
const TOTAL_BYTES: u64 = 16 * 1024 * 1024 * 1024;

/// The checks `c000`, `c001`, ... of kind `memory`, as the writer registers them.
pub fn check_names(n: usize) -> Vec<CheckName> {
    (0..n)
        .map(|i| CheckName {
            name: format!("c{i:03}"),
            kind: "memory".into(),
        })
        .collect()
}

/// One tracker per check with the daemon's default thresholds (3 failures, 1 success).
pub fn trackers(n: usize) -> Vec<Tracker> {
    (0..n).map(|_| Tracker::new(3, 1, false)).collect()
}

/// Feeds `r` to its check's tracker as the fan-out does; the op for the writer, if any.
pub fn track(trackers: &mut [Tracker], r: &CheckResult) -> Option<Op> {
    let change = trackers.get_mut(r.check)?.observe(
        r.started_at.timestamp_millis(),
        r.status == Status::Unhealthy,
        r.message.as_deref(),
    )?;
    Some(match change {
        Change::Opened {
            started_ms,
            confirmed_ms,
            first_error,
        } => Op::IncidentOpened {
            check: r.check,
            started_ms,
            confirmed_ms,
            first_error,
        },
        Change::Resolved { ended_ms } => Op::IncidentResolved {
            check: r.check,
            ended_ms,
        },
    })
}

/// What a check is doing for its next few probes.
#[derive(Clone, Copy, PartialEq)]
enum Spell {
    Normal,
    Down,
    Degraded,
}

struct Sim {
    median_ms: f64,
    used: f64,
    spell: Spell,
    left: u64,
    next_outage: f64,
    next_blip: f64,
    next_degraded: f64,
}

/// The whole fleet's results from `start` to `end`, in time order.
pub struct Fleet {
    rng: Rng,
    sims: Vec<Sim>,
    start: Millis,
    end: Millis,
    interval_ms: Millis,
    outage_mean_ms: f64,
    round: Millis,
    check: usize,
}

impl Fleet {
    pub fn new(
        checks: usize,
        start: Millis,
        end: Millis,
        interval: Duration,
        outages_per_week: f64,
        seed: u64,
    ) -> Self {
        let mut rng = Rng(seed);
        let outage_mean_ms = WEEK_MS / outages_per_week.max(1e-9);
        let s = start as f64;
        let sims = (0..checks)
            .map(|_| Sim {
                median_ms: rng.range(1.0f64.ln(), 80.0f64.ln()).exp(),
                used: rng.range(30.0, 75.0),
                spell: Spell::Normal,
                left: 0,
                next_outage: s + rng.exp(outage_mean_ms),
                next_blip: s + rng.exp(WEEK_MS / 10.0),
                next_degraded: s + rng.exp(WEEK_MS / 5.0),
            })
            .collect();
        Fleet {
            rng,
            sims,
            start,
            end,
            interval_ms: (interval.as_millis() as Millis).max(1),
            outage_mean_ms,
            round: 0,
            check: 0,
        }
    }

    fn phase(&self, check: usize) -> Millis {
        self.interval_ms * check as Millis / self.sims.len().max(1) as Millis
    }

    /// How many results [`Fleet::next`] yields in all.
    pub fn total(&self) -> u64 {
        (0..self.sims.len())
            .map(|c| {
                let first = self.start + self.phase(c);
                ((self.end - first + self.interval_ms - 1) / self.interval_ms).max(0) as u64
            })
            .sum()
    }

    /// The next result in time order, `None` at `end`.
    pub fn next_result(&mut self) -> Option<CheckResult> {
        loop {
            if self.check == self.sims.len() {
                self.check = 0;
                self.round += 1;
            }
            let check = self.check;
            let t = self.start + self.round * self.interval_ms + self.phase(check);
            if t >= self.end {
                if check == 0 {
                    return None;
                }
                self.check = self.sims.len();
                continue;
            }
            self.check += 1;
            let status = self.status(check, t as f64);
            return Some(self.result(check, t, status));
        }
    }

    fn status(&mut self, check: usize, t: f64) -> Status {
        let rng = &mut self.rng;
        let interval = self.interval_ms as f64;
        let outage_mean = self.outage_mean_ms;
        let sim = &mut self.sims[check];
        if sim.left == 0 {
            sim.spell = Spell::Normal;
            if t >= sim.next_outage {
                let p = rng.f64();
                let minutes = if p < 0.7 {
                    rng.range(1.5, 10.0)
                } else if p < 0.95 {
                    rng.range(10.0, 60.0)
                } else {
                    rng.range(60.0, 240.0)
                };
                sim.spell = Spell::Down;
                sim.left = ((minutes * 60_000.0 / interval) as u64).max(3);
                sim.next_outage = t + rng.exp(outage_mean);
            } else if t >= sim.next_blip {
                sim.spell = Spell::Down;
                sim.left = 1 + rng.below(2);
                sim.next_blip = t + rng.exp(WEEK_MS / 10.0);
            } else if t >= sim.next_degraded {
                sim.spell = Spell::Degraded;
                sim.left = 2 + rng.below(19);
                sim.next_degraded = t + rng.exp(WEEK_MS / 5.0);
            }
        }
        sim.left = sim.left.saturating_sub(1);
        match sim.spell {
            Spell::Normal => Status::Healthy,
            Spell::Down => Status::Unhealthy,
            Spell::Degraded => Status::Degraded,
        }
    }

    fn result(&mut self, check: usize, t: Millis, status: Status) -> CheckResult {
        let rng = &mut self.rng;
        let sim = &mut self.sims[check];
        sim.used = (sim.used + rng.normal() * 0.3).clamp(20.0, 84.0);
        let (pct, note) = match status {
            Status::Degraded => (rng.range(85.5, 94.5), " (above warn 85)"),
            Status::Unhealthy => (rng.range(95.5, 99.5), " (above crit 95)"),
            _ => (sim.used, ""),
        };
        let pct = (pct * 10.0).round() / 10.0;
        let available = (TOTAL_BYTES as f64 * (1.0 - pct / 100.0)) as u64;
        let mut ms = sim.median_ms * (0.35 * rng.normal()).exp();
        if rng.f64() < 0.01 {
            ms *= rng.range(3.0, 20.0);
        }
        if status == Status::Unhealthy && rng.f64() < 0.3 {
            ms = 5000.0; // the probe ran into its timeout
        }
        let mut observed = Observed::new();
        observed.insert("percent_used".into(), pct.into());
        observed.insert("total_bytes".into(), TOTAL_BYTES.into());
        observed.insert("available_bytes".into(), available.into());
        CheckResult {
            check,
            started_at: Utc.timestamp_millis_opt(t).single().unwrap_or_default(),
            response_time: Duration::from_micros((ms * 1000.0) as u64),
            status,
            message: Some(format!(
                "{pct}% used, {} available of {}{note}",
                healthmon::system::human_bytes(available),
                healthmon::system::human_bytes(TOTAL_BYTES)
            )),
            observed,
            circuit: CircuitState::Closed,
            consecutive_failures: 0,
            retry_at: None,
        }
    }
}
