//! Error budgets and burn rates: pure arithmetic over what the store's summary reports.
//!
//! The budget of an objective over its window is the downtime it allows: 99.9 % of 30 days
//! allows 43.2 minutes. *Used* is the downtime actually measured in the window (time without
//! data and maintenance count as neither up nor down), so a budget is never spent by a daemon
//! that was not running. The burn rate over a span is its error ratio (downtime over watched
//! time) divided by the ratio the objective allows: 1 spends the budget exactly over the
//! window, 14.4 spends 2 % of a 30-day budget in an hour.
//!
//! Alerts use the multi-window pairs of the Google SRE workbook: both spans of a pair must burn
//! at or above its factor, the long one so a blip does not page, the short one so the alert
//! resolves soon after the burning stops.

use super::Level;
use std::time::Duration;

/// A pair of spans that must both burn at least `factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnPair {
    pub long: Duration,
    pub short: Duration,
    pub factor: f64,
    pub level: Level,
    pub label: &'static str,
}

/// 2 % of a 30-day budget in an hour: page.
pub const FAST: BurnPair = BurnPair {
    long: Duration::from_secs(3600),
    short: Duration::from_secs(300),
    factor: 14.4,
    level: Level::Critical,
    label: "fast",
};

/// 5 % of a 30-day budget in six hours.
pub const SLOW: BurnPair = BurnPair {
    long: Duration::from_secs(6 * 3600),
    short: Duration::from_secs(1800),
    factor: 6.0,
    level: Level::Warning,
    label: "slow",
};

/// The spans a burn-rate evaluation needs, shortest first.
pub const SPANS: [Duration; 4] = [FAST.short, SLOW.short, FAST.long, SLOW.long];

/// The error budget over an SLO's window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Budget {
    pub objective: f64,
    pub window_seconds: f64,
    /// The downtime the objective allows over the window.
    pub total_seconds: f64,
    pub used_seconds: f64,
    /// Negative once overspent.
    pub remaining_seconds: f64,
    /// Of the total; negative once overspent.
    pub remaining_percent: f64,
}

impl Budget {
    pub fn new(objective: f64, window: Duration, downtime_seconds: f64) -> Self {
        let total = window.as_secs_f64() * (100.0 - objective) / 100.0;
        let remaining = total - downtime_seconds;
        Budget {
            objective,
            window_seconds: window.as_secs_f64(),
            total_seconds: total,
            used_seconds: downtime_seconds,
            remaining_seconds: remaining,
            remaining_percent: if total > 0.0 {
                (remaining / total * 100_000.0).round() / 1000.0
            } else {
                0.0
            },
        }
    }

    pub fn remaining_minutes(&self) -> f64 {
        (self.remaining_seconds / 60.0 * 100.0).round() / 100.0
    }
}

/// How fast a span burns the budget of `objective`: `None` when nothing was watched in it.
pub fn burn_rate(objective: f64, observed_seconds: f64, downtime_seconds: f64) -> Option<f64> {
    (observed_seconds > 0.0).then(|| {
        let allowed = (100.0 - objective) / 100.0;
        downtime_seconds / observed_seconds / allowed
    })
}

/// Burn rates over [`SPANS`], in that order.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct BurnRates {
    pub m5: Option<f64>,
    pub m30: Option<f64>,
    pub h1: Option<f64>,
    pub h6: Option<f64>,
}

impl BurnRates {
    fn of(&self, span: Duration) -> Option<f64> {
        match span.as_secs() {
            300 => self.m5,
            1800 => self.m30,
            3600 => self.h1,
            21_600 => self.h6,
            _ => None,
        }
    }

    /// The worst pair that burns, if any. Floating point must not miss an exact 14.4, so the
    /// comparison allows a hair below the factor.
    pub fn burning(&self) -> Option<BurnPair> {
        [FAST, SLOW].into_iter().find(|p| {
            let hot = |span| self.of(span).is_some_and(|r| r >= p.factor - 1e-9);
            hot(p.long) && hot(p.short)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_30_day_999_budget_is_43_minutes() {
        let b = Budget::new(99.9, Duration::from_secs(30 * 86_400), 600.0);
        assert!((b.total_seconds - 2592.0).abs() < 1e-6);
        assert!((b.remaining_seconds - 1992.0).abs() < 1e-6);
        assert_eq!(b.remaining_minutes(), 33.2);
        assert_eq!(b.remaining_percent, 76.852);
        let spent = Budget::new(99.9, Duration::from_secs(30 * 86_400), 3000.0);
        assert!(spent.remaining_percent < 0.0);
    }

    #[test]
    fn two_percent_of_a_30_day_budget_in_an_hour_is_the_fast_burn() {
        // 2 % of 2,592 s is 51.84 s down in one watched hour.
        let h1 = burn_rate(99.9, 3600.0, 51.84).unwrap();
        assert!((h1 - 14.4).abs() < 1e-9);
        let rates = BurnRates {
            m5: burn_rate(99.9, 300.0, 51.84),
            m30: burn_rate(99.9, 1800.0, 51.84),
            h1: Some(h1),
            h6: burn_rate(99.9, 21_600.0, 51.84),
        };
        assert_eq!(rates.burning(), Some(FAST));
    }

    #[test]
    fn a_slow_trickle_burns_slowly_and_a_blip_long_ago_not_at_all() {
        // 160 s down over six hours, 20 s of it in the last half hour.
        let rates = BurnRates {
            m5: burn_rate(99.9, 300.0, 0.0),
            m30: burn_rate(99.9, 1800.0, 20.0),
            h1: burn_rate(99.9, 3600.0, 40.0),
            h6: burn_rate(99.9, 21_600.0, 160.0),
        };
        assert_eq!(rates.burning(), Some(SLOW));
        // A big outage 50 minutes ago: the hour burns, the last five minutes do not.
        let old = BurnRates {
            m5: burn_rate(99.9, 300.0, 0.0),
            m30: burn_rate(99.9, 1800.0, 0.0),
            h1: burn_rate(99.9, 3600.0, 300.0),
            h6: burn_rate(99.9, 21_600.0, 300.0),
        };
        assert_eq!(old.burning(), None);
        assert_eq!(burn_rate(99.9, 0.0, 0.0), None, "no data burns nothing");
    }
}
