//! What a notification says: one versioned shape that every notifier receives. The webhook
//! posts it as it is (its JSON is the documented body); email renders it through the templates
//! in `templates/email/`.
//!
//! A message is built once, when the engine decides to tell somebody, and kept in the outbox as
//! JSON, so a retry after a restart sends exactly what the first attempt would have.

use super::{AlertKind, AlertState, Level};
use serde::{Deserialize, Serialize};

/// The version of the JSON body; bumped on any change that is not an added field.
pub const VERSION: u32 = 1;

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A new problem.
    Firing,
    /// Still firing and not acknowledged.
    Reminder,
    /// The same alert, now at another level (`previous_level` says which it was).
    LevelChanged,
    /// It is over.
    Resolved,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Firing => "firing",
            Event::Reminder => "reminder",
            Event::LevelChanged => "level_changed",
            Event::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "firing" => Event::Firing,
            "reminder" => Event::Reminder,
            "level_changed" => Event::LevelChanged,
            "resolved" => Event::Resolved,
            _ => return None,
        })
    }
}

/// Who is being monitored (`[service]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub environment: String,
}

/// One alert as a message reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertItem {
    pub id: i64,
    pub kind: AlertKind,
    /// The check the alert is about.
    pub check: String,
    /// The `[[alert]]` rule's name (threshold), or the SLO's (slo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub level: Level,
    /// With [`Event::LevelChanged`]: the level before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_level: Option<Level>,
    pub state: AlertState,
    /// RFC 3339 UTC; for a state alert the first failure of the confirmed streak.
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    /// Until `resolved_at`, or until the message was made while it still fires.
    pub duration_seconds: f64,
    /// What the rule measured (threshold: the value; slo: the burn rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The threshold the value crossed at this level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The first error of the outage, or what the rule found; free of secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// With [`Event::Reminder`]: 1 for the first reminder, 2 for the second, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<u32>,
    /// With [`Event::Resolved`]: the check's availability this month (UTC) so far, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_month_percent: Option<f64>,
    /// The check's status when the message was made (`healthy`, `degraded`, `unhealthy`), so a
    /// flapping alert's end says where the check settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_status: Option<String>,
}

/// One notification, as the webhook posts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// [`VERSION`].
    pub version: u32,
    /// The notification's id: the same on every attempt, so a receiver can drop a repeat.
    pub id: i64,
    pub event: Event,
    pub service: Service,
    /// RFC 3339 UTC: when the engine decided to send it.
    pub created_at: String,
    /// Worst first: critical before warning, then the oldest first.
    pub alerts: Vec<AlertItem>,
}

/// Mail threading: a message's own id and the ids of the earlier messages about its alerts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// `<...@...>`, unique per notification.
    pub message_id: String,
    /// The message that first told about (the first of) these alerts; none for that first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// Every earlier message of the thread(s), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

/// What a notifier is handed: the message and how it threads.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub message: &'a Message,
    pub thread: &'a Thread,
}

impl AlertItem {
    /// The word a title starts with: `DOWN`, `RESOLVED`, `CRITICAL`, `FLAPPING`...
    pub(crate) fn headline(&self, event: Event) -> &'static str {
        match (event, self.kind) {
            (Event::Resolved, AlertKind::Flapping) => "STABLE",
            (Event::Resolved, _) => "RESOLVED",
            (Event::Reminder, AlertKind::State) => "STILL DOWN",
            (_, AlertKind::State) => "DOWN",
            (_, AlertKind::Flapping) => "FLAPPING",
            (_, AlertKind::Threshold | AlertKind::Slo) => match self.level {
                Level::Critical => "CRITICAL",
                Level::Warning => "WARNING",
            },
        }
    }

    /// What the title names: the check, and the rule where there is one.
    pub(crate) fn subject(&self) -> String {
        match (&self.rule, self.kind) {
            (Some(rule), AlertKind::Slo) if *rule == self.check => format!("{rule} SLO"),
            (Some(rule), AlertKind::Slo) => format!("{rule} SLO ({})", self.check),
            (Some(rule), _) if *rule != self.check => format!("{rule} ({})", self.check),
            _ => self.check.clone(),
        }
    }
}

impl Message {
    /// The one-line title, used as the email subject: `DOWN · api · shop-api`,
    /// `RESOLVED · api · shop-api`, `CRITICAL · db-slow (db) · shop-api`, and for several alerts
    /// `DOWN · 20 checks · shop-api`. Level first, no brackets, so it reads in a phone's
    /// notification list.
    pub fn title(&self) -> String {
        let service = &self.service.name;
        match self.alerts.as_slice() {
            [] => format!("{} · {service}", self.event.as_str().to_uppercase()),
            [one] => format!(
                "{} · {} · {service}",
                one.headline(self.event),
                one.subject()
            ),
            many => {
                let first = many[0].headline(self.event);
                let checks: std::collections::BTreeSet<&str> =
                    many.iter().map(|a| a.check.as_str()).collect();
                let what = if many.iter().all(|a| a.kind == AlertKind::State) {
                    format!("{} checks", checks.len())
                } else {
                    format!("{} alerts", many.len())
                };
                format!("{first} · {what} · {service}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(check: &str, kind: AlertKind, level: Level) -> AlertItem {
        AlertItem {
            id: 1,
            kind,
            check: check.into(),
            rule: None,
            level,
            previous_level: None,
            state: AlertState::Firing,
            started_at: "2026-12-02T10:00:00.000Z".into(),
            resolved_at: None,
            duration_seconds: 0.0,
            metric: None,
            value: None,
            threshold: None,
            message: None,
            reminder: None,
            availability_month_percent: None,
            check_status: None,
        }
    }

    fn message(event: Event, alerts: Vec<AlertItem>) -> Message {
        Message {
            version: VERSION,
            id: 7,
            event,
            service: Service {
                name: "shop-api".into(),
                environment: "production".into(),
            },
            created_at: "2026-12-02T10:00:00.000Z".into(),
            alerts,
        }
    }

    #[test]
    fn titles_start_with_the_level_and_name_check_and_service() {
        let down = item("api", AlertKind::State, Level::Critical);
        assert_eq!(
            message(Event::Firing, vec![down.clone()]).title(),
            "DOWN · api · shop-api"
        );
        assert_eq!(
            message(Event::Resolved, vec![down.clone()]).title(),
            "RESOLVED · api · shop-api"
        );
        assert_eq!(
            message(Event::Reminder, vec![down.clone()]).title(),
            "STILL DOWN · api · shop-api"
        );
        let mut slow = item("db", AlertKind::Threshold, Level::Critical);
        slow.rule = Some("db-slow".into());
        assert_eq!(
            message(Event::LevelChanged, vec![slow]).title(),
            "CRITICAL · db-slow (db) · shop-api"
        );
        let many = (0..20)
            .map(|i| item(&format!("c{i}"), AlertKind::State, Level::Warning))
            .collect();
        assert_eq!(
            message(Event::Firing, many).title(),
            "DOWN · 20 checks · shop-api"
        );
    }

    #[test]
    fn the_json_body_round_trips_and_leaves_out_what_is_unset() {
        let m = message(
            Event::Firing,
            vec![item("api", AlertKind::State, Level::Critical)],
        );
        let text = serde_json::to_string(&m).unwrap();
        assert!(
            text.starts_with(r#"{"version":1,"id":7,"event":"firing""#),
            "{text}"
        );
        assert!(!text.contains("resolved_at"), "{text}");
        assert_eq!(serde_json::from_str::<Message>(&text).unwrap(), m);
    }
}
