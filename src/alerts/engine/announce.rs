//! What the engine says and to whom: a group's events become one message per notifier,
//! threaded by Message-ID, handed to the outbox; the texts of rule and SLO alerts.

use super::{ms, Alert, Engine, Item};
use crate::alerts::config::{Rule, Slo};
use crate::alerts::message::{self, AlertItem, Event, Message, Thread};
use crate::alerts::outbox::Pending;
use crate::alerts::slo::{self, Budget, BurnRates};
use crate::alerts::{AlertKind, AlertState, Level};
use crate::checks::Status;
use crate::store::alerts::{AlertOp, NotificationRow};
use crate::time::{rfc3339_ms, Millis};
use std::collections::{BTreeMap, BTreeSet};

impl Engine {
    /// Sends the group: one message per notifier and kind of event.
    pub(super) fn flush(&mut self, now: Millis) {
        self.batch.deadline = None;
        let items = std::mem::take(&mut self.batch.items);
        let mut groups: BTreeMap<(usize, u8), Vec<Item>> = BTreeMap::new();
        // Within one send, all-clears first: a parent's recovery reads before the children
        // it was holding back.
        let order = |e: Event| match e {
            Event::Resolved => 0u8,
            Event::LevelChanged => 1,
            Event::Reminder => 2,
            Event::Firing => 3,
        };
        let mut seen: BTreeSet<(i64, u8)> = BTreeSet::new();
        for (id, event, previous) in items {
            if !seen.insert((id, order(event))) {
                continue;
            }
            let Some(a) = self.alerts.get(&id) else {
                continue;
            };
            let targets: Vec<usize> = match event {
                Event::Firing => {
                    if !a.is_open() {
                        continue;
                    }
                    if let Some(reason) = self.suppressed(a) {
                        if let Some(a) = self.alerts.get_mut(&id) {
                            a.detail.pending = false;
                            a.detail.held = Some(reason);
                            tracing::info!(alert = id, held = reason.as_str(), "Alert held back.");
                        }
                        self.dirty.insert(id);
                        continue;
                    }
                    self.notify_list(a)
                        .into_iter()
                        .filter(|n| !a.detail.told.contains_key(&self.setup.notifiers[*n].name))
                        .collect()
                }
                Event::Resolved => self.told(a),
                Event::LevelChanged | Event::Reminder => {
                    if !a.is_open() || self.suppressed(a).is_some() {
                        continue;
                    }
                    self.told(a)
                }
            };
            if event == Event::Firing {
                if let Some(a) = self.alerts.get_mut(&id) {
                    a.detail.pending = false;
                }
                self.dirty.insert(id);
            }
            for n in targets {
                groups
                    .entry((n, order(event)))
                    .or_default()
                    .push((id, event, previous));
            }
        }
        // Alert rows first: the outbox rows refer to them.
        self.persist(now);
        for ((n, _), mut list) in groups {
            list.sort_by(|x, y| {
                let (a, b) = (&self.alerts[&x.0], &self.alerts[&y.0]);
                b.level
                    .cmp(&a.level)
                    .then(a.started_ms.cmp(&b.started_ms))
                    .then(a.id.cmp(&b.id))
            });
            self.send(n, list[0].1, &list, now);
        }
        self.persist(now);
        // Resolved alerts whose end has been told are done with.
        let done: Vec<i64> = self
            .alerts
            .values()
            .filter(|a| !a.is_open())
            .map(|a| a.id)
            .filter(|id| !self.batch.items.iter().any(|(i, _, _)| i == id))
            .collect();
        for id in done {
            self.alerts.remove(&id);
        }
    }

    pub(super) fn send(&mut self, n: usize, event: Event, list: &[Item], now: Millis) {
        let notifier = self.setup.notifiers[n].name.clone();
        self.next_notification += 1;
        let id = self.next_notification;
        let message_id = format!("<healthmon.{}.{id}@{MESSAGE_ID_DOMAIN}>", self.instance);
        let mut references: Vec<String> = Vec::new();
        for (alert, _, _) in list {
            if let Some(root) = self.alerts[alert].detail.told.get(&notifier) {
                if !references.contains(root) {
                    references.push(root.clone());
                }
            }
        }
        let thread = Thread {
            message_id: message_id.clone(),
            in_reply_to: references.first().cloned(),
            references,
        };
        let items: Vec<AlertItem> = list
            .iter()
            .map(|(alert, ev, previous)| self.item(&self.alerts[alert], *ev, *previous, now))
            .collect();
        let message = Message {
            version: message::VERSION,
            id,
            event,
            service: self.setup.service.clone(),
            created_at: rfc3339_ms(now).unwrap_or_default(),
            alerts: items,
        };
        let ids: Vec<i64> = list.iter().map(|(a, _, _)| *a).collect();
        for alert in &ids {
            let reminders = self.setup.settings.reminders;
            let Some(a) = self.alerts.get_mut(alert) else {
                continue;
            };
            if event == Event::Resolved {
                a.detail.resolve_pending = false;
            }
            if event == Event::Firing || a.detail.adopted_by.is_some_and(|f| ids.contains(&f)) {
                a.detail
                    .told
                    .entry(notifier.clone())
                    .or_insert_with(|| message_id.clone());
            }
            if event == Event::Firing && a.detail.announced_ms.is_none() {
                a.detail.announced_ms = Some(now);
                if let (Some(r), true) = (reminders, a.kind != AlertKind::Flapping) {
                    if a.state == AlertState::Firing {
                        a.detail.next_reminder_ms = Some(now + ms(r.gap(1)));
                    }
                }
            }
            self.dirty.insert(*alert);
        }
        // A flapping alert's end also announces the state alerts it adopted.
        let adopted: Vec<i64> = self
            .alerts
            .values()
            .filter(|a| a.detail.adopted_by.is_some_and(|f| ids.contains(&f)))
            .map(|a| a.id)
            .collect();
        for alert in adopted {
            let reminders = self.setup.settings.reminders;
            if let Some(a) = self.alerts.get_mut(&alert) {
                a.detail
                    .told
                    .entry(notifier.clone())
                    .or_insert_with(|| message_id.clone());
                if a.detail.announced_ms.is_none() {
                    a.detail.announced_ms = Some(now);
                    if let Some(r) = reminders {
                        a.detail.next_reminder_ms = Some(now + ms(r.gap(1)));
                    }
                }
                self.dirty.insert(alert);
            }
        }
        let body = serde_json::to_string(&message).unwrap_or_default();
        let thread_json = serde_json::to_string(&thread).unwrap_or_default();
        let seq = self.journal.record(AlertOp::Enqueue(NotificationRow {
            id,
            notifier: notifier.clone(),
            event: event.as_str().into(),
            body,
            thread: thread_json,
            created_ms: now,
            alert_ids: ids,
        }));
        tracing::info!(notifier = %notifier, notification = id, event = event.as_str(), alerts = list.len(), title = %message.title(), "Notification queued.");
        self.outbox.push(Pending {
            id,
            notifier: n,
            message,
            thread,
            seq,
            attempts: 0,
            created_ms: now,
            not_before_ms: now,
        });
    }

    pub(super) fn notify_list(&self, a: &Alert) -> Vec<usize> {
        let all = || (0..self.setup.notifiers.len()).collect();
        match a.kind {
            AlertKind::State | AlertKind::Flapping => self
                .setup
                .checks
                .get(a.check)
                .map_or_else(all, |c| c.notify.clone()),
            AlertKind::Threshold => self
                .setup
                .rules
                .iter()
                .find(|r| Some(&r.name) == a.rule.as_ref())
                .map_or_else(all, |r| r.notify.clone()),
            AlertKind::Slo => self
                .setup
                .slos
                .iter()
                .find(|s| Some(&s.name) == a.rule.as_ref())
                .map_or_else(all, |s| s.notify.clone()),
        }
    }

    /// The notifiers told of `a` that still exist.
    pub(super) fn told(&self, a: &Alert) -> Vec<usize> {
        a.detail
            .told
            .keys()
            .filter_map(|name| self.setup.notifiers.iter().position(|n| &n.name == name))
            .collect()
    }

    pub(super) fn item(
        &self,
        a: &Alert,
        event: Event,
        previous: Option<Level>,
        now: Millis,
    ) -> AlertItem {
        let check = self.setup.checks.get(a.check);
        let end = a.resolved_ms.unwrap_or(now);
        let month = (event == Event::Resolved && a.kind == AlertKind::State)
            .then(|| self.month_percent(a, now))
            .flatten();
        let check_status = (matches!(a.kind, AlertKind::Flapping) || event == Event::Resolved)
            .then(|| self.checks.get(a.check).map(|s| s.status))
            .flatten()
            .filter(|s| *s != Status::Unknown)
            .map(|s| s.as_str().to_string());
        AlertItem {
            id: a.id,
            kind: a.kind,
            check: check.map_or_else(|| "?".to_string(), |c| c.name.clone()),
            rule: a.rule.clone(),
            level: a.level,
            previous_level: previous,
            state: a.state,
            started_at: rfc3339_ms(a.started_ms).unwrap_or_default(),
            resolved_at: a.resolved_ms.and_then(rfc3339_ms),
            duration_seconds: (end - a.started_ms).max(0) as f64 / 1000.0,
            metric: a.detail.metric.clone(),
            value: a.value,
            threshold: a.detail.threshold,
            message: a.message.clone(),
            reminder: (event == Event::Reminder).then_some(a.detail.reminders),
            availability_month_percent: month,
            check_status,
        }
    }

    /// The check's availability this month so far, from the last reading brought up to now
    /// with what the engine knows happened since (this incident's end).
    pub(super) fn month_percent(&self, a: &Alert, now: Millis) -> Option<f64> {
        let m = self.checks.get(a.check)?.month?;
        let since = ((now - m.at_ms).max(0)) as f64 / 1000.0;
        let ended = a.resolved_ms.unwrap_or(now);
        // The reading counted the open incident up to its own time; add what followed.
        let extra_down = ((ended - m.at_ms.max(a.started_ms)).max(0)) as f64 / 1000.0;
        let observed = m.observed_seconds + since;
        let down = (m.downtime_seconds + extra_down).min(observed);
        (observed > 0.0).then(|| ((1.0 - down / observed) * 100_000.0).round() / 1000.0)
    }
}

pub(super) fn rule_text(rule: &Rule, level: Level, value: Option<f64>) -> String {
    let threshold = rule.thresholds.threshold(level);
    let cmp = match rule.thresholds.direction {
        crate::alerts::rule::Direction::Above => "≥",
        crate::alerts::rule::Direction::Below => "≤",
    };
    let held = if rule.hold_for.is_zero() {
        String::new()
    } else {
        format!(" for {}", crate::duration::format(rule.hold_for))
    };
    match (value, threshold) {
        (Some(v), Some(t)) => format!(
            "{} {} {cmp} {}{held}",
            rule.metric.name(),
            fmt_num(v),
            fmt_num(t)
        ),
        _ => format!(
            "{} past its {} threshold{held}",
            rule.metric.name(),
            level.as_str()
        ),
    }
}

pub(super) fn slo_text(
    slo: &Slo,
    rates: &BurnRates,
    burning: Option<slo::BurnPair>,
    budget: Option<Budget>,
) -> (Option<f64>, String) {
    let pair = burning.unwrap_or(slo::FAST);
    let long = if pair.long.as_secs() == 3600 {
        rates.h1
    } else {
        rates.h6
    };
    let short = if pair.short.as_secs() == 300 {
        rates.m5
    } else {
        rates.m30
    };
    let left = budget.map_or_else(String::new, |b| {
        format!(
            "; {:.1} % of the error budget left ({:.1} min)",
            b.remaining_percent,
            b.remaining_minutes()
        )
    });
    let text = format!(
        "{} burn: the {} {} % objective's budget burns {}× over {} and {}× over {}{left}",
        pair.label,
        crate::duration::format(slo.window),
        fmt_num(slo.objective),
        fmt_num(long.unwrap_or(0.0)),
        crate::duration::format(pair.long),
        fmt_num(short.unwrap_or(0.0)),
        crate::duration::format(pair.short),
    );
    (long.map(|v| (v * 100.0).round() / 100.0), text)
}

pub(super) fn fmt_num(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r}")
    }
}

/// The right side of every Message-ID: unique per database through the instance token on
/// the left, so it need not be a real host.
pub(super) const MESSAGE_ID_DOMAIN: &str = "healthmon.local";

pub(super) fn random_token() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}
