//! Alerts: deciding who must be told what, keeping that in SQLite, and telling them.
//!
//! - [`input`]: the lanes from the fan-out to the engine.
//! - [`message`]: the one versioned shape of a notification, which every notifier receives.
//! - [`notify`]: the [`notify::Notifier`] trait and one file per notifier kind.
//! - [`rule`]: a threshold rule's levels and its hold state machine (`for`, `clear_for`).
//! - [`flapping`]: Nagios-style flap detection over the last 21 results.
//! - [`maintenance`]: maintenance windows, one-off or cron, in a time zone.
//!
//! `rule`, `flapping` and `maintenance` are pure: no I/O, no clock; every call takes the time.

pub mod flapping;
pub mod input;
pub mod maintenance;
pub mod message;
pub mod notify;
pub mod rule;

use serde::{Deserialize, Serialize};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A check is down (a confirmed incident).
    State,
    /// A `[[alert]]` rule on a value held past its thresholds.
    Threshold,
    /// An SLO's error budget burning too fast.
    Slo,
    /// A check changing state too often to alert on each change.
    Flapping,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::State => "state",
            AlertKind::Threshold => "threshold",
            AlertKind::Slo => "slo",
            AlertKind::Flapping => "flapping",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "state" => AlertKind::State,
            "threshold" => AlertKind::Threshold,
            "slo" => AlertKind::Slo,
            "flapping" => AlertKind::Flapping,
            _ => return None,
        })
    }
}

/// How bad it is. Ordered: `Critical > Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "warning" => Level::Warning,
            "critical" => Level::Critical,
            _ => return None,
        })
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    /// Firing, and somebody said they are on it: no more reminders.
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "firing" => AlertState::Firing,
            "acknowledged" => AlertState::Acknowledged,
            "resolved" => AlertState::Resolved,
            _ => return None,
        })
    }
}
