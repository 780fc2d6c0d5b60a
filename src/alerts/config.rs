//! The alerting settings: the `monitor.toml` tables as written (`[alerting]`, `[[alert]]`,
//! `[[slo]]`; `[[maintenance]]` is in [`super::maintenance`], `[[notifier]]` in
//! [`super::notify`]) and the validated [`Setup`] the engine runs on.
//!
//! The config loader deserializes and cross-checks them (a rule's check exists, a notifier
//! named in `notify` exists); this module knows nothing of the loader.

use super::flapping::FlapSettings;
use super::maintenance::Maintenance;
use super::message::Service;
use super::notify::Notifier;
use super::rule::{Direction, Thresholds};
use crate::duration;
use crate::keys::FieldError;
use crate::redact::Secrets;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// `[alerting]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Alerts that open within this of the first go out as one message.
    #[serde(
        default = "default_group_wait",
        deserialize_with = "duration::deserialize"
    )]
    pub group_wait: Duration,
    /// The first reminder while an alert still fires unacknowledged; `0s`: never.
    #[serde(
        default = "default_reminder",
        deserialize_with = "duration::deserialize"
    )]
    pub reminder: Duration,
    /// Each reminder waits this many times longer than the one before.
    #[serde(default = "default_backoff")]
    pub reminder_backoff: f64,
    /// The longest wait between two reminders.
    #[serde(
        default = "default_reminder_max",
        deserialize_with = "duration::deserialize"
    )]
    pub reminder_max: Duration,
    /// Flapping starts when the weighted share of state changes over the last 21 results
    /// exceeds this (percent).
    #[serde(default = "default_flap_high")]
    pub flap_high: f64,
    /// ...and stops when it goes below this.
    #[serde(default = "default_flap_low")]
    pub flap_low: f64,
    /// A notification that could not be delivered is retried (with back-off) this long.
    #[serde(
        default = "default_retry_for",
        deserialize_with = "duration::deserialize"
    )]
    pub retry_for: Duration,
}

fn default_group_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_reminder() -> Duration {
    Duration::from_secs(30 * 60)
}
fn default_backoff() -> f64 {
    2.0
}
fn default_reminder_max() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_flap_high() -> f64 {
    FlapSettings::default().high
}
fn default_flap_low() -> f64 {
    FlapSettings::default().low
}
fn default_retry_for() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            group_wait: default_group_wait(),
            reminder: default_reminder(),
            reminder_backoff: default_backoff(),
            reminder_max: default_reminder_max(),
            flap_high: default_flap_high(),
            flap_low: default_flap_low(),
            retry_for: default_retry_for(),
        }
    }
}

/// The engine's timing settings, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub group_wait: Duration,
    /// `None`: no reminders.
    pub reminders: Option<Reminders>,
    pub flapping: FlapSettings,
    pub retry_for: Duration,
}

/// When reminders go out: after `first`, then each gap `backoff` times the last, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reminders {
    pub first: Duration,
    pub backoff: f64,
    pub max: Duration,
}

impl Reminders {
    /// The gap before reminder `n` (1 = the first) since the one before it (or the alert).
    pub fn gap(&self, n: u32) -> Duration {
        let factor = self
            .backoff
            .powi(i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX));
        Duration::from_secs_f64((self.first.as_secs_f64() * factor).min(self.max.as_secs_f64()))
    }
}

impl AlertingConfig {
    /// # Errors
    /// A [`FieldError`] for a value out of range.
    pub fn build(self) -> Result<Settings, FieldError> {
        if !(self.reminder_backoff.is_finite() && self.reminder_backoff >= 1.0) {
            return Err(FieldError::new(
                "reminder_backoff",
                format!(
                    "expected a factor of at least 1 (1 keeps the reminder interval), got {}",
                    self.reminder_backoff
                ),
            ));
        }
        if !(0.0..=100.0).contains(&self.flap_high) || !(0.0..=100.0).contains(&self.flap_low) {
            return Err(FieldError::new(
                "flap_high",
                "expected percentages from 0 to 100",
            ));
        }
        if self.flap_low >= self.flap_high {
            return Err(FieldError::new(
                "flap_low",
                format!(
                    "expected less than flap_high ({}), got {}",
                    self.flap_high, self.flap_low
                ),
            ));
        }
        if !self.reminder.is_zero() && self.reminder_max < self.reminder {
            return Err(FieldError::new(
                "reminder_max",
                format!(
                    "expected at least reminder ({}), got {}",
                    duration::format(self.reminder),
                    duration::format(self.reminder_max)
                ),
            ));
        }
        Ok(Settings {
            group_wait: self.group_wait,
            reminders: (!self.reminder.is_zero()).then_some(Reminders {
                first: self.reminder,
                backoff: self.reminder_backoff,
                max: self.reminder_max,
            }),
            flapping: FlapSettings {
                low: self.flap_low,
                high: self.flap_high,
            },
            retry_for: self.retry_for,
        })
    }
}

/// One `[[alert]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique among the rules; shown in messages.
    pub name: String,
    /// The check whose results the rule reads.
    pub check: String,
    /// `response_time_ms`, `error_rate` (percent of unhealthy probes over `window`),
    /// `availability` (percent over `window`), or a key of the check's `observed` values
    /// (`percent_used`, `queue_depth`, `days_left`...).
    pub metric: String,
    /// The span `error_rate` and `availability` look back over.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub window: Option<Duration>,
    pub warn: Option<f64>,
    pub crit: Option<f64>,
    /// `above` (bigger is worse) or `below`. Default: `below` when crit is under warn or
    /// the metric is `availability` or `days_left`, else `above`.
    pub direction: Option<String>,
    /// How long the value must stay past a threshold before the alert fires.
    #[serde(
        rename = "for",
        default,
        deserialize_with = "duration::deserialize_opt"
    )]
    pub hold_for: Option<Duration>,
    /// How long it must stay clear before the alert resolves.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub clear_for: Option<Duration>,
    /// Notifier names; default: every notifier.
    pub notify: Option<Vec<String>>,
}

/// What a rule measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    ResponseTime,
    ErrorRate(Duration),
    Availability(Duration),
    Observed(String),
}

impl Metric {
    pub fn name(&self) -> &str {
        match self {
            Metric::ResponseTime => "response_time_ms",
            Metric::ErrorRate(_) => "error_rate",
            Metric::Availability(_) => "availability",
            Metric::Observed(key) => key,
        }
    }
}

/// A validated threshold rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// The check's config index.
    pub check: usize,
    pub metric: Metric,
    pub thresholds: Thresholds,
    pub hold_for: Duration,
    pub clear_for: Duration,
    /// Notifier indexes.
    pub notify: Vec<usize>,
}

impl RuleConfig {
    /// Validates everything but the names it refers to (the loader resolves those).
    ///
    /// # Errors
    /// A [`FieldError`] naming the key.
    pub fn build(&self, check: usize, notify: Vec<usize>) -> Result<Rule, FieldError> {
        if self.warn.is_none() && self.crit.is_none() {
            return Err(FieldError::new("warn", "set warn, crit or both"));
        }
        for (key, v) in [("warn", self.warn), ("crit", self.crit)] {
            if v.is_some_and(|v| !v.is_finite()) {
                return Err(FieldError::new(key, "expected a finite number"));
            }
        }
        let window = || {
            self.window.filter(|w| !w.is_zero()).ok_or_else(|| {
                FieldError::new(
                    "window",
                    format!(
                        "is required for metric `{}`: expected a duration such as 5m",
                        self.metric
                    ),
                )
            })
        };
        let metric = match self.metric.as_str() {
            "response_time_ms" => Metric::ResponseTime,
            "error_rate" => Metric::ErrorRate(window()?),
            "availability" => Metric::Availability(window()?),
            "" => return Err(FieldError::new("metric", "must not be empty")),
            key => Metric::Observed(key.to_string()),
        };
        if self.window.is_some()
            && !matches!(metric, Metric::ErrorRate(_) | Metric::Availability(_))
        {
            return Err(FieldError::new(
                "window",
                "only error_rate and availability look back over a window",
            ));
        }
        let direction = match self.direction.as_deref() {
            Some("above") => Direction::Above,
            Some("below") => Direction::Below,
            Some(other) => {
                return Err(FieldError::new(
                    "direction",
                    format!("expected `above` or `below`, got `{other}`"),
                ))
            }
            None => match (self.warn, self.crit) {
                (Some(w), Some(c)) if c < w => Direction::Below,
                (Some(w), Some(c)) if c > w => Direction::Above,
                _ if matches!(metric, Metric::Availability(_)) || self.metric == "days_left" => {
                    Direction::Below
                }
                _ => Direction::Above,
            },
        };
        if let (Some(w), Some(c)) = (self.warn, self.crit) {
            let ordered = match direction {
                Direction::Above => c >= w,
                Direction::Below => c <= w,
            };
            if !ordered {
                return Err(FieldError::new(
                    "crit",
                    format!(
                        "with direction `{}` crit must be {} warn ({w}), got {c}",
                        if direction == Direction::Above {
                            "above"
                        } else {
                            "below"
                        },
                        if direction == Direction::Above {
                            "at or above"
                        } else {
                            "at or below"
                        }
                    ),
                ));
            }
        }
        Ok(Rule {
            name: self.name.clone(),
            check,
            metric,
            thresholds: Thresholds {
                warn: self.warn,
                crit: self.crit,
                direction,
            },
            hold_for: self.hold_for.unwrap_or_default(),
            clear_for: self.clear_for.unwrap_or_default(),
            notify,
        })
    }
}

/// One `[[slo]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// The check whose availability the objective is about.
    pub check: String,
    /// Percent of the window the check must be up, e.g. 99.9.
    pub objective: f64,
    #[serde(
        default = "default_slo_window",
        deserialize_with = "duration::deserialize"
    )]
    pub window: Duration,
    /// Default: the check's name.
    pub name: Option<String>,
    /// Notifier names for its burn-rate alerts; default: every notifier.
    pub notify: Option<Vec<String>>,
}

fn default_slo_window() -> Duration {
    Duration::from_secs(30 * 86_400)
}

/// A validated SLO.
#[derive(Debug, Clone)]
pub struct Slo {
    pub name: String,
    pub check: usize,
    /// Percent.
    pub objective: f64,
    pub window: Duration,
    pub notify: Vec<usize>,
}

impl SloConfig {
    /// # Errors
    /// A [`FieldError`] naming the key.
    pub fn build(&self, check: usize, notify: Vec<usize>) -> Result<Slo, FieldError> {
        if !(self.objective > 0.0 && self.objective < 100.0) {
            return Err(FieldError::new(
                "objective",
                format!(
                    "expected a percentage above 0 and below 100 such as 99.9, got {}",
                    self.objective
                ),
            ));
        }
        // The slow burn pair looks back 6 h; a window shorter than that has no meaning.
        if self.window < Duration::from_secs(6 * 3600) {
            return Err(FieldError::new(
                "window",
                format!(
                    "expected at least 6h (the slow burn rate looks back 6 h), got {}",
                    duration::format(self.window)
                ),
            ));
        }
        Ok(Slo {
            name: self.name.clone().unwrap_or_else(|| self.check.clone()),
            check,
            objective: self.objective,
            window: self.window,
            notify,
        })
    }
}

/// How a check takes part in alerting (its `alert`, `notify` and `depends_on` keys).
#[derive(Debug, Clone)]
pub struct CheckAlerting {
    pub name: String,
    pub critical: bool,
    /// `alert = false`: no state alerts (threshold rules and SLOs on it still apply).
    pub alert: bool,
    /// Notifier indexes for its state and flapping alerts.
    pub notify: Vec<usize>,
    /// Config indexes of its parents: while one is down, it raises no new alert.
    pub depends_on: Vec<usize>,
}

/// A built notifier and what the API shows of it.
#[derive(Debug, Clone)]
pub struct NotifierDef {
    pub name: String,
    pub kind: &'static str,
    pub notifier: Arc<dyn Notifier>,
    /// Its secrets, scrubbed from every error it reports.
    pub secrets: Secrets,
}

/// A maintenance and the config indexes of the checks it covers (empty: all).
#[derive(Debug, Clone)]
pub struct MaintenanceDef {
    pub maintenance: Maintenance,
    pub checks: Vec<usize>,
}

impl MaintenanceDef {
    pub fn covers(&self, check: usize) -> bool {
        self.checks.is_empty() || self.checks.contains(&check)
    }
}

/// Everything the engine runs on, validated and cross-referenced.
#[derive(Debug, Clone)]
pub struct Setup {
    pub service: Service,
    pub settings: Settings,
    /// By check config index.
    pub checks: Vec<CheckAlerting>,
    pub rules: Vec<Rule>,
    pub slos: Vec<Slo>,
    pub maintenance: Vec<MaintenanceDef>,
    pub notifiers: Vec<NotifierDef>,
}

impl Setup {
    /// Whether there is anything to evaluate or anyone to tell.
    pub fn is_empty(&self) -> bool {
        self.notifiers.is_empty() && self.rules.is_empty() && self.slos.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_back_off_up_to_their_cap() {
        let r = Reminders {
            first: Duration::from_secs(1800),
            backoff: 2.0,
            max: Duration::from_secs(4 * 3600),
        };
        let gaps: Vec<u64> = (1..=6).map(|n| r.gap(n).as_secs()).collect();
        assert_eq!(gaps, [1800, 3600, 7200, 14_400, 14_400, 14_400]);
    }

    fn rule(text: &str) -> Result<Rule, FieldError> {
        let c: RuleConfig =
            toml::from_str(&format!("name = \"r\"\ncheck = \"c\"\n{text}")).unwrap();
        c.build(0, vec![])
    }

    #[test]
    fn a_rule_takes_its_direction_from_its_thresholds_or_its_metric() {
        let above = rule("metric = \"response_time_ms\"\nwarn = 500\ncrit = 1000").unwrap();
        assert_eq!(above.thresholds.direction, Direction::Above);
        let below = rule("metric = \"days_left\"\nwarn = 14\ncrit = 7").unwrap();
        assert_eq!(below.thresholds.direction, Direction::Below);
        let availability = rule("metric = \"availability\"\nwindow = \"1h\"\nwarn = 99.9").unwrap();
        assert_eq!(availability.thresholds.direction, Direction::Below);
        assert_eq!(
            availability.metric,
            Metric::Availability(Duration::from_secs(3600))
        );
    }

    #[test]
    fn a_rule_names_the_key_it_cannot_use() {
        assert_eq!(
            rule("metric = \"error_rate\"\nwarn = 5").unwrap_err().key,
            "window"
        );
        assert_eq!(rule("metric = \"queue_depth\"").unwrap_err().key, "warn");
        assert_eq!(
            rule("metric = \"queue_depth\"\nwarn = 10\ncrit = 5\ndirection = \"above\"")
                .unwrap_err()
                .key,
            "crit"
        );
        assert_eq!(
            rule("metric = \"queue_depth\"\nwarn = 10\nwindow = \"5m\"")
                .unwrap_err()
                .key,
            "window"
        );
        assert_eq!(
            rule("metric = \"x\"\nwarn = 1\ndirection = \"up\"")
                .unwrap_err()
                .key,
            "direction"
        );
    }
}
