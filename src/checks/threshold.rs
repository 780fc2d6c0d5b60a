//! `warn` / `crit` limits on a measured value, shared by every kind that has them.

use super::{FieldError, Status};

/// Which side of the limits is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Bad when high (percent used, queue depth).
    Above,
    /// Bad when low (days until a certificate expires).
    Below,
}

/// Limits on one measured value: degraded past `warn`, unhealthy past `crit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub warn: f64,
    pub crit: f64,
    pub direction: Direction,
}

impl Thresholds {
    /// Limits where higher is worse; `warn` must not be above `crit`.
    ///
    /// # Errors
    /// Names the `warn` key when the two are in the wrong order or not finite.
    pub fn above(warn: f64, crit: f64) -> Result<Self, FieldError> {
        if !warn.is_finite() || !crit.is_finite() {
            return Err(FieldError::new(
                "warn",
                "expected finite numbers for warn and crit",
            ));
        }
        if warn > crit {
            return Err(FieldError::new(
                "warn",
                format!("expected warn ({warn}) to be at most crit ({crit})"),
            ));
        }
        Ok(Thresholds {
            warn,
            crit,
            direction: Direction::Above,
        })
    }

    /// Limits where lower is worse; `warn` must not be below `crit`.
    ///
    /// # Errors
    /// Names the `warn` key when the two are in the wrong order or not finite.
    pub fn below(warn: f64, crit: f64) -> Result<Self, FieldError> {
        if !warn.is_finite() || !crit.is_finite() {
            return Err(FieldError::new(
                "warn",
                "expected finite numbers for warn and crit",
            ));
        }
        if warn < crit {
            return Err(FieldError::new(
                "warn",
                format!("expected warn ({warn}) to be at least crit ({crit})"),
            ));
        }
        Ok(Thresholds {
            warn,
            crit,
            direction: Direction::Below,
        })
    }

    /// Percent limits: both within 0..=100 and in order.
    ///
    /// # Errors
    /// Names the key that is out of range.
    pub fn percent(warn: f64, crit: f64) -> Result<Self, FieldError> {
        for (key, v) in [("warn", warn), ("crit", crit)] {
            if !(0.0..=100.0).contains(&v) {
                return Err(FieldError::new(
                    key,
                    format!("expected a percentage from 0 to 100, got {v}"),
                ));
            }
        }
        Self::above(warn, crit)
    }

    /// The status a value earns: past `crit` unhealthy, past `warn` degraded.
    pub fn classify(&self, value: f64) -> Status {
        let (past_crit, past_warn) = match self.direction {
            Direction::Above => (value > self.crit, value > self.warn),
            Direction::Below => (value < self.crit, value < self.warn),
        };
        if past_crit {
            Status::Unhealthy
        } else if past_warn {
            Status::Degraded
        } else {
            Status::Healthy
        }
    }

    /// The limit a value crossed, for the message ("above crit 90").
    pub fn describe(&self, value: f64) -> Option<String> {
        let side = match self.direction {
            Direction::Above => "above",
            Direction::Below => "below",
        };
        match self.classify(value) {
            Status::Unhealthy => Some(format!("{side} crit {}", self.crit)),
            Status::Degraded => Some(format!("{side} warn {}", self.warn)),
            _ => None,
        }
    }

    /// As shown under `thresholds` in `/health/detailed`.
    pub fn to_json(&self) -> super::Observed {
        let mut m = super::Observed::new();
        m.insert("warn".into(), self.warn.into());
        m.insert("crit".into(), self.crit.into());
        m
    }
}

/// Rounds to one decimal place for display and `observed`.
pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_above_warn_degrade_and_above_crit_fail() {
        let t = Thresholds::percent(80.0, 90.0).unwrap();
        assert_eq!(t.classify(79.9), Status::Healthy);
        assert_eq!(t.classify(80.0), Status::Healthy);
        assert_eq!(t.classify(85.0), Status::Degraded);
        assert_eq!(t.classify(90.1), Status::Unhealthy);
        assert_eq!(t.describe(95.0).as_deref(), Some("above crit 90"));
    }

    #[test]
    fn below_thresholds_fail_when_low() {
        let t = Thresholds::below(14.0, 7.0).unwrap();
        assert_eq!(t.classify(30.0), Status::Healthy);
        assert_eq!(t.classify(9.0), Status::Degraded);
        assert_eq!(t.classify(5.0), Status::Unhealthy);
    }

    #[test]
    fn limits_in_the_wrong_order_name_the_key() {
        assert_eq!(Thresholds::percent(95.0, 90.0).unwrap_err().key, "warn");
        assert_eq!(Thresholds::percent(50.0, 101.0).unwrap_err().key, "crit");
        assert!(Thresholds::below(7.0, 14.0).is_err());
    }
}
