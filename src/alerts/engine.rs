//! The alert engine: from transitions, results and the store's readings to alerts, and from
//! alerts to notifications.
//!
//! Every alert lives here from firing to resolved and is journaled on each change, so a
//! restart resumes it (nothing repeated, nothing forgotten). A new alert is not announced at
//! once: it waits `group_wait` so that alerts opening together go out as one message, and is
//! held back, not dropped, while a maintenance window, a parent that is down or flapping
//! suppresses it; it is announced when that ends if it still fires. Whoever was told about an
//! alert is told when it resolves, whatever came in between: resolutions are never suppressed.
//!
//! Here the decisions; `announce` turns them into messages for the outbox, `view` into
//! what readers see, `task` runs the engine on its own task.

use super::clock::Clock;
use super::config::{Metric, Setup};
use super::flapping::{FlapChange, Flapping};
use super::journal::Journal;
use super::message::Event;
use super::outbox::OutboxSender;
use super::rule::{Hold, HoldChange};
use super::slo::{self, Budget, BurnRates};
use super::{AlertKind, AlertState, Level};
use crate::checks::Status;
use crate::incident::{Change, Transition};
use crate::result::CheckResult;
use crate::store::alerts::{AlertOp, AlertRow};
use crate::time::{rfc3339_ms, Millis};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Why an alert that fires is not announced yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    Maintenance,
    /// A check it depends on is down.
    Dependency,
    /// Its check is flapping; the flapping alert speaks for it.
    Flapping,
}

impl Held {
    pub fn as_str(self) -> &'static str {
        match self {
            Held::Maintenance => "maintenance",
            Held::Dependency => "dependency",
            Held::Flapping => "flapping",
        }
    }
}

/// The engine's memory of an alert beyond its columns, journaled as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Detail {
    /// Notifier name → the Message-ID of the message that first told it: whoever is in here
    /// must hear the resolution.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    told: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    announced_ms: Option<Millis>,
    #[serde(default, skip_serializing_if = "is_zero")]
    reminders: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_reminder_ms: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    held: Option<Held>,
    /// Fired and waiting in the group to be announced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pending: bool,
    /// Resolved, and its resolution not yet handed to the outbox: a crash in between must not
    /// leave those told without the all-clear, so a restart reads it back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    resolve_pending: bool,
    /// The flapping alert whose end message announces this one (see [`Engine::flap_stopped`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    adopted_by: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone)]
struct Alert {
    id: i64,
    key: String,
    kind: AlertKind,
    check: usize,
    rule: Option<String>,
    level: Level,
    state: AlertState,
    started_ms: Millis,
    resolved_ms: Option<Millis>,
    acked_ms: Option<Millis>,
    value: Option<f64>,
    message: Option<String>,
    detail: Detail,
}

impl Alert {
    fn is_open(&self) -> bool {
        self.state != AlertState::Resolved
    }
}

/// An open incident as the engine knows it.
#[derive(Debug, Clone)]
struct Down {
    started_ms: Millis,
}

struct CheckState {
    down: Option<Down>,
    status: Status,
    flap: Flapping,
    /// Recent (time, failed) for error-rate rules, as long as the longest such window.
    recent: VecDeque<(Millis, bool)>,
    keep_ms: Millis,
    /// Month-to-date watched and down seconds, from the last reading, and when it was taken.
    month: Option<MonthReading>,
}

#[derive(Debug, Clone, Copy)]
pub struct MonthReading {
    pub at_ms: Millis,
    pub observed_seconds: f64,
    pub downtime_seconds: f64,
}

struct RuleState {
    hold: Hold,
    alert: Option<i64>,
    value: Option<f64>,
}

struct SloState {
    hold: Hold,
    alert: Option<i64>,
    budget: Option<Budget>,
    rates: BurnRates,
}

/// What the store says at one moment, read by the reader task every round.
#[derive(Debug, Clone, Default)]
pub struct Readings {
    pub at_ms: Millis,
    /// By SLO: (watched, down) seconds over [`slo::SPANS`], and down seconds over its window.
    pub slos: Vec<Option<SloReading>>,
    /// By rule: the availability percent over its window (availability rules only).
    pub availability: Vec<Option<f64>>,
    /// By check: month to date.
    pub month: Vec<Option<MonthReading>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SloReading {
    pub spans: [(f64, f64); 4],
    pub window_downtime_seconds: f64,
}

/// Where an engine starts from: what the store remembers.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub alerts: Vec<AlertRow>,
    pub last_alert_id: i64,
    pub last_notification_id: i64,
    /// Config index and start of each check with an incident open.
    pub down: Vec<(usize, Millis)>,
    /// The id that makes this database's Message-IDs unique; `None` the first time.
    pub instance: Option<String>,
}

/// An event of an alert waiting to be sent: the alert, what happened, the level before.
type Item = (i64, Event, Option<Level>);

/// A group of events waiting for `group_wait`.
#[derive(Debug, Default)]
struct Batch {
    deadline: Option<Millis>,
    items: Vec<Item>,
}

pub struct Engine {
    setup: Arc<Setup>,
    clock: Clock,
    journal: Arc<dyn Journal>,
    outbox: OutboxSender,
    checks: Vec<CheckState>,
    rules: Vec<RuleState>,
    slos: Vec<SloState>,
    /// Open alerts, and resolved ones until their resolution is announced.
    alerts: BTreeMap<i64, Alert>,
    by_key: HashMap<String, i64>,
    batch: Batch,
    dirty: BTreeSet<i64>,
    next_alert: i64,
    next_notification: i64,
    instance: String,
    /// Maintenance windows already recorded: (maintenance index, start).
    recorded: BTreeSet<(usize, Millis)>,
    /// Per maintenance: the window in force, and when to look again. Finding cron occurrences
    /// in a time zone is not free, and every input asks.
    windows: Vec<(Option<crate::availability::Span>, Millis)>,
    /// Per check: the rules that read its results.
    rules_of: Vec<Vec<usize>>,
    snapshot: Arc<RwLock<Snapshot>>,
    /// The snapshot no longer shows the state: rebuilt after the input, not after every one.
    stale: bool,
}

fn ms(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

impl Engine {
    pub fn new(
        setup: Arc<Setup>,
        clock: Clock,
        journal: Arc<dyn Journal>,
        outbox: OutboxSender,
        resume: Resume,
    ) -> Self {
        let now = clock.now_ms();
        let checks = setup
            .checks
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let keep_ms = setup
                    .rules
                    .iter()
                    .filter(|r| r.check == i)
                    .filter_map(|r| match r.metric {
                        Metric::ErrorRate(w) => Some(ms(w)),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                CheckState {
                    down: resume
                        .down
                        .iter()
                        .find(|(c, _)| *c == i)
                        .map(|(_, started_ms)| Down {
                            started_ms: *started_ms,
                        }),
                    status: Status::Unknown,
                    flap: Flapping::new(setup.settings.flapping),
                    recent: VecDeque::new(),
                    keep_ms,
                    month: None,
                }
            })
            .collect();
        let rules = setup
            .rules
            .iter()
            .map(|r| RuleState {
                hold: Hold::new(r.hold_for, r.clear_for),
                alert: None,
                value: None,
            })
            .collect();
        let slos = setup
            .slos
            .iter()
            .map(|_| SloState {
                hold: Hold::new(Duration::ZERO, Duration::ZERO),
                alert: None,
                budget: None,
                rates: BurnRates::default(),
            })
            .collect();
        let setup_maintenance_len = setup.maintenance.len();
        let mut rules_of = vec![Vec::new(); setup.checks.len()];
        for (i, r) in setup.rules.iter().enumerate() {
            if let Some(list) = rules_of.get_mut(r.check) {
                list.push(i);
            }
        }
        let (instance, fresh) = match resume.instance {
            Some(i) => (i, false),
            None => (random_token(), true),
        };
        let mut engine = Engine {
            setup,
            clock,
            journal,
            outbox,
            checks,
            rules,
            slos,
            alerts: BTreeMap::new(),
            by_key: HashMap::new(),
            batch: Batch::default(),
            dirty: BTreeSet::new(),
            next_alert: resume.last_alert_id,
            next_notification: resume.last_notification_id,
            instance,
            recorded: BTreeSet::new(),
            windows: vec![(None, Millis::MIN); setup_maintenance_len],
            rules_of,
            snapshot: Arc::default(),
            stale: true,
        };
        if fresh {
            engine.journal.record(AlertOp::Meta {
                key: "instance".into(),
                value: engine.instance.clone(),
            });
        }
        engine.resume(resume.alerts, now);
        engine.after(now);
        engine
    }

    pub fn snapshot(&self) -> Arc<RwLock<Snapshot>> {
        self.snapshot.clone()
    }

    /// Puts the alerts the store had open back, and settles what changed while stopped.
    fn resume(&mut self, rows: Vec<AlertRow>, now: Millis) {
        for row in rows {
            let Some(kind) = AlertKind::parse(&row.kind) else {
                continue;
            };
            let check = self.setup.checks.iter().position(|c| c.name == row.check);
            let detail: Detail = serde_json::from_str(&row.detail).unwrap_or_default();
            let alert = Alert {
                id: row.id,
                key: row.key.clone(),
                kind,
                check: check.unwrap_or(usize::MAX),
                rule: row.rule.clone(),
                level: Level::parse(&row.level).unwrap_or(Level::Warning),
                state: AlertState::parse(&row.state).unwrap_or(AlertState::Firing),
                started_ms: row.started_ms,
                resolved_ms: row.resolved_ms,
                acked_ms: row.acknowledged_ms,
                value: row.value,
                message: row.message.clone(),
                detail,
            };
            let id = alert.id;
            if alert.state == AlertState::Resolved {
                // It ended, and the stop came before those told heard it.
                self.alerts.insert(id, alert);
                self.batch_push(id, Event::Resolved, None, now);
                continue;
            }
            self.by_key.insert(alert.key.clone(), id);
            if alert.state == AlertState::Acknowledged {
                self.outbox.acknowledged(id);
            }
            self.alerts.insert(id, alert);
            // Whatever it was about may be gone from the config, or over.
            let still = match (kind, check) {
                (_, None) => false,
                (AlertKind::State, Some(c)) => self.checks[c].down.is_some(),
                (AlertKind::Threshold, Some(_)) => {
                    match self
                        .setup
                        .rules
                        .iter()
                        .position(|r| Some(&r.name) == row.rule.as_ref())
                    {
                        Some(r) => {
                            let level = self.alerts[&id].level;
                            self.rules[r].hold.resume(level);
                            self.rules[r].alert = Some(id);
                            true
                        }
                        None => false,
                    }
                }
                (AlertKind::Slo, Some(_)) => {
                    match self
                        .setup
                        .slos
                        .iter()
                        .position(|s| Some(&s.name) == row.rule.as_ref())
                    {
                        Some(s) => {
                            let level = self.alerts[&id].level;
                            self.slos[s].hold.resume(level);
                            self.slos[s].alert = Some(id);
                            true
                        }
                        None => false,
                    }
                }
                (AlertKind::Flapping, Some(c)) => {
                    self.checks[c].flap.resume();
                    true
                }
            };
            if !still {
                self.resolve(id, now);
            } else if self.alerts[&id].detail.pending {
                self.batch_push(id, Event::Firing, None, now);
            }
        }
        // An incident open with no alert: the daemon stopped before it decided; decide now.
        for c in 0..self.checks.len() {
            if let Some(down) = self.checks[c].down.clone() {
                let key = format!("state:{}", self.setup.checks[c].name);
                if !self.by_key.contains_key(&key) && self.setup.checks[c].alert {
                    self.open_state_alert(c, down.started_ms, None);
                }
            }
        }
    }

    // ----- inputs -----

    pub fn on_transition(&mut self, t: Transition) {
        let now = self.clock.now_ms();
        let c = t.check;
        if c >= self.checks.len() {
            return;
        }
        match t.change {
            Change::Opened {
                started_ms,
                first_error,
                ..
            } => {
                self.checks[c].down = Some(Down { started_ms });
                if self.setup.checks[c].alert {
                    self.open_state_alert(c, started_ms, first_error);
                }
            }
            Change::Resolved { ended_ms } => {
                self.checks[c].down = None;
                let key = format!("state:{}", self.setup.checks[c].name);
                if let Some(&id) = self.by_key.get(&key) {
                    self.resolve(id, ended_ms);
                }
            }
        }
        self.after(now);
    }

    pub fn on_result(&mut self, r: &CheckResult) {
        let now = self.clock.now_ms();
        let c = r.check;
        if c >= self.checks.len() {
            return;
        }
        let at = r.started_at.timestamp_millis();
        let failed = r.status == Status::Unhealthy;
        {
            let state = &mut self.checks[c];
            state.status = r.status;
            if state.keep_ms > 0 {
                state.recent.push_back((at, failed));
                while state
                    .recent
                    .front()
                    .is_some_and(|(t, _)| *t < at - state.keep_ms)
                {
                    state.recent.pop_front();
                }
            }
        }
        if self.setup.checks[c].alert {
            match self.checks[c].flap.observe(failed) {
                Some(FlapChange::Started { percent }) => self.flap_started(c, percent, now),
                Some(FlapChange::Stopped { .. }) => self.flap_stopped(c, now),
                None => {}
            }
        }
        for k in 0..self.rules_of[c].len() {
            let i = self.rules_of[c][k];
            let rule = &self.setup.rules[i];
            let value = match &rule.metric {
                Metric::ResponseTime => Some(r.response_time_ms()),
                Metric::Observed(key) => r.observed.get(key).and_then(serde_json::Value::as_f64),
                Metric::ErrorRate(w) => {
                    let from = at - ms(*w);
                    let (n, bad) = self.checks[c]
                        .recent
                        .iter()
                        .filter(|(t, _)| *t >= from)
                        .fold((0u32, 0u32), |(n, b), (_, f)| (n + 1, b + u32::from(*f)));
                    (n > 0).then(|| f64::from(bad) * 100.0 / f64::from(n))
                }
                Metric::Availability(_) => None,
            };
            if let Some(v) = value {
                self.rule_value(i, v, at, now);
            }
        }
        self.after(now);
    }

    pub fn on_readings(&mut self, readings: Readings) {
        let now = self.clock.now_ms();
        self.stale = true;
        for (c, m) in readings.month.into_iter().enumerate() {
            if let Some(state) = self.checks.get_mut(c) {
                state.month = m;
            }
        }
        for (i, v) in readings.availability.into_iter().enumerate() {
            if let Some(v) = v {
                if matches!(
                    self.setup.rules.get(i).map(|r| &r.metric),
                    Some(Metric::Availability(_))
                ) {
                    self.rule_value(i, v, readings.at_ms.min(now), now);
                }
            }
        }
        for (i, reading) in readings.slos.into_iter().enumerate() {
            let Some(slo) = self.setup.slos.get(i).cloned() else {
                continue;
            };
            let Some(reading) = reading else { continue };
            let rate = |(observed, down): (f64, f64)| slo::burn_rate(slo.objective, observed, down);
            let rates = BurnRates {
                m5: rate(reading.spans[0]),
                m30: rate(reading.spans[1]),
                h1: rate(reading.spans[2]),
                h6: rate(reading.spans[3]),
            };
            self.slos[i].rates = rates;
            self.slos[i].budget = Some(Budget::new(
                slo.objective,
                slo.window,
                reading.window_downtime_seconds,
            ));
            let burning = rates.burning();
            let change = self.slos[i].hold.update(burning.map(|p| p.level), now);
            if let Some(change) = change {
                self.slo_change(i, change, burning, now);
            }
            // The alert's figures follow the readings while it fires.
            if let Some(id) = self.slos[i].alert {
                let (value, text) = slo_text(&slo, &rates, burning, self.slos[i].budget);
                if let Some(a) = self.alerts.get_mut(&id) {
                    if a.is_open() {
                        a.value = value;
                        a.message = Some(text);
                    }
                }
            }
        }
        self.after(now);
    }

    /// `POST /api/v1/alerts/ID/ack`: no more reminders for it until it resolves.
    pub fn acknowledge(&mut self, id: i64) -> AckOutcome {
        let now = self.clock.now_ms();
        let Some(alert) = self.alerts.get_mut(&id) else {
            return AckOutcome::NotFound;
        };
        if !alert.is_open() {
            return AckOutcome::AlreadyResolved;
        }
        if alert.state == AlertState::Firing {
            alert.state = AlertState::Acknowledged;
            alert.acked_ms = Some(now);
            alert.detail.next_reminder_ms = None;
            self.outbox.acknowledged(id);
            tracing::info!(alert = id, check = %self.check_name(&self.alerts[&id]), "Alert acknowledged.");
        }
        let view = self.view(&self.alerts[&id]);
        let seq = self
            .journal
            .record(AlertOp::Alert(self.row(&self.alerts[&id], now)));
        self.publish();
        AckOutcome::Acknowledged(view, seq)
    }

    /// A time the engine must wake up at, if any: a group to send, a hold that runs out, a
    /// reminder, a maintenance window that starts or ends.
    pub fn next_deadline(&self) -> Option<Millis> {
        let reminders = self
            .alerts
            .values()
            .filter(|a| a.state == AlertState::Firing)
            .filter_map(|a| a.detail.next_reminder_ms);
        let holds = self
            .rules
            .iter()
            .map(|r| &r.hold)
            .chain(self.slos.iter().map(|s| &s.hold))
            .filter_map(Hold::next_deadline);
        let windows = self
            .windows
            .iter()
            .map(|(_, recheck)| *recheck)
            .filter(|t| *t < Millis::MAX);
        self.batch
            .deadline
            .into_iter()
            .chain(reminders)
            .chain(holds)
            .chain(windows)
            .min()
    }

    /// Time passed: holds that ran out, reminders, the group, maintenance windows.
    pub fn tick(&mut self) {
        let now = self.clock.now_ms();
        for i in 0..self.rules.len() {
            while let Some(change) = self.rules[i].hold.tick(now) {
                self.rule_change(i, change, now);
            }
        }
        for i in 0..self.slos.len() {
            while let Some(change) = self.slos[i].hold.tick(now) {
                let burning = self.slos[i].rates.burning();
                self.slo_change(i, change, burning, now);
            }
        }
        self.after(now);
    }

    /// Stopping: announce what waits in the group now (into the outbox, which a restart
    /// resumes) rather than leave it to the next start.
    pub fn flush_now(&mut self) {
        let now = self.clock.now_ms();
        if !self.batch.items.is_empty() {
            self.batch.deadline = Some(now);
        }
        self.after(now);
    }

    // ----- alerts -----

    fn new_alert(
        &mut self,
        key: String,
        kind: AlertKind,
        check: usize,
        rule: Option<String>,
        level: Level,
        started_ms: Millis,
    ) -> i64 {
        let now = self.clock.now_ms();
        self.next_alert += 1;
        let id = self.next_alert;
        self.alerts.insert(
            id,
            Alert {
                id,
                key: key.clone(),
                kind,
                check,
                rule,
                level,
                state: AlertState::Firing,
                started_ms,
                resolved_ms: None,
                acked_ms: None,
                value: None,
                message: None,
                detail: Detail::default(),
            },
        );
        self.by_key.insert(key, id);
        self.batch_push(id, Event::Firing, None, now);
        id
    }

    fn open_state_alert(&mut self, c: usize, started_ms: Millis, first_error: Option<String>) {
        let def = &self.setup.checks[c];
        let key = format!("state:{}", def.name);
        if self.by_key.contains_key(&key) {
            return;
        }
        let level = if def.critical {
            Level::Critical
        } else {
            Level::Warning
        };
        let id = self.new_alert(key, AlertKind::State, c, None, level, started_ms);
        if let Some(a) = self.alerts.get_mut(&id) {
            a.message = first_error;
        }
        tracing::info!(alert = id, check = %self.setup.checks[c].name, "Alert firing: the check is down.");
    }

    /// Ends an alert at `at`. Those told hear it; if nobody was, it ends quietly.
    fn resolve(&mut self, id: i64, at: Millis) {
        let now = self.clock.now_ms();
        let Some(a) = self.alerts.get_mut(&id) else {
            return;
        };
        if !a.is_open() {
            return;
        }
        a.state = AlertState::Resolved;
        self.outbox.resolved(id);
        a.resolved_ms = Some(at.max(a.started_ms));
        a.detail.pending = false;
        a.detail.held = None;
        a.detail.next_reminder_ms = None;
        let told = !a.detail.told.is_empty();
        a.detail.resolve_pending = told;
        self.by_key.remove(&a.key.clone());
        self.dirty.insert(id);
        // A firing not yet announced is withdrawn: nobody needs the all-clear.
        self.batch.items.retain(|(i, _, _)| *i != id);
        if told {
            self.batch_push(id, Event::Resolved, None, now);
        }
        tracing::info!(alert = id, told, "Alert resolved.");
    }

    fn batch_push(&mut self, id: i64, event: Event, previous: Option<Level>, now: Millis) {
        if let Some(a) = self.alerts.get_mut(&id) {
            if event == Event::Firing {
                a.detail.pending = true;
            }
        }
        self.dirty.insert(id);
        // Resolutions do not wait for more: the group wait is for problems arriving together;
        // an all-clear may go out with whatever else is waiting.
        let wait = ms(self.setup.settings.group_wait);
        if self.batch.deadline.is_none() {
            self.batch.deadline = Some(now + wait);
        }
        self.batch.items.push((id, event, previous));
    }

    fn rule_value(&mut self, i: usize, value: f64, at: Millis, now: Millis) {
        self.rules[i].value = Some(value);
        let level = self.setup.rules[i].thresholds.level(value);
        if let Some(change) = self.rules[i].hold.update(level, at) {
            self.rule_change(i, change, now);
        }
        while let Some(change) = self.rules[i].hold.tick(now) {
            self.rule_change(i, change, now);
        }
        if let Some(id) = self.rules[i].alert {
            if let Some(a) = self.alerts.get_mut(&id) {
                if a.is_open() && a.value != Some(value) {
                    a.value = Some(value);
                    self.stale = true;
                }
            }
        }
    }

    fn rule_change(&mut self, i: usize, change: HoldChange, now: Millis) {
        let rule = self.setup.rules[i].clone();
        let value = self.rules[i].value;
        match change {
            HoldChange::Fired(level) => {
                let key = format!("threshold:{}", rule.name);
                if self.by_key.contains_key(&key) {
                    return;
                }
                let id = self.new_alert(
                    key,
                    AlertKind::Threshold,
                    rule.check,
                    Some(rule.name.clone()),
                    level,
                    now,
                );
                self.rules[i].alert = Some(id);
                if let Some(a) = self.alerts.get_mut(&id) {
                    a.value = value;
                    a.detail.metric = Some(rule.metric.name().to_string());
                    a.detail.threshold = rule.thresholds.threshold(level);
                    a.message = Some(rule_text(&rule, level, value));
                }
                tracing::info!(alert = id, rule = %rule.name, level = level.as_str(), "Alert firing: a threshold rule held.");
            }
            HoldChange::Changed { from, to } => {
                let Some(id) = self.rules[i].alert else {
                    return;
                };
                if let Some(a) = self.alerts.get_mut(&id) {
                    a.level = to;
                    a.detail.threshold = rule.thresholds.threshold(to);
                    a.message = Some(rule_text(&rule, to, value));
                    let announced = !a.detail.told.is_empty();
                    self.dirty.insert(id);
                    if announced {
                        self.batch_push(id, Event::LevelChanged, Some(from), now);
                    }
                }
            }
            HoldChange::Resolved => {
                if let Some(id) = self.rules[i].alert.take() {
                    self.resolve(id, now);
                }
            }
        }
    }

    fn slo_change(
        &mut self,
        i: usize,
        change: HoldChange,
        burning: Option<slo::BurnPair>,
        now: Millis,
    ) {
        let slo = self.setup.slos[i].clone();
        let (value, text) = slo_text(&slo, &self.slos[i].rates, burning, self.slos[i].budget);
        match change {
            HoldChange::Fired(level) => {
                let key = format!("slo:{}", slo.name);
                if self.by_key.contains_key(&key) {
                    return;
                }
                let id = self.new_alert(
                    key,
                    AlertKind::Slo,
                    slo.check,
                    Some(slo.name.clone()),
                    level,
                    now,
                );
                self.slos[i].alert = Some(id);
                if let Some(a) = self.alerts.get_mut(&id) {
                    a.value = value;
                    a.message = Some(text);
                    a.detail.metric = Some("burn_rate".into());
                    a.detail.threshold = burning.map(|p| p.factor);
                }
                tracing::info!(alert = id, slo = %slo.name, level = level.as_str(), "Alert firing: the error budget burns too fast.");
            }
            HoldChange::Changed { from, to } => {
                let Some(id) = self.slos[i].alert else { return };
                if let Some(a) = self.alerts.get_mut(&id) {
                    a.level = to;
                    a.value = value;
                    a.message = Some(text);
                    a.detail.threshold = burning.map(|p| p.factor);
                    let announced = !a.detail.told.is_empty();
                    self.dirty.insert(id);
                    if announced {
                        self.batch_push(id, Event::LevelChanged, Some(from), now);
                    }
                }
            }
            HoldChange::Resolved => {
                if let Some(id) = self.slos[i].alert.take() {
                    self.resolve(id, now);
                }
            }
        }
    }

    fn flap_started(&mut self, c: usize, percent: f64, now: Millis) {
        let def = &self.setup.checks[c];
        let key = format!("flapping:{}", def.name);
        if self.by_key.contains_key(&key) {
            return;
        }
        let level = if def.critical {
            Level::Critical
        } else {
            Level::Warning
        };
        let id = self.new_alert(key, AlertKind::Flapping, c, None, level, now);
        if let Some(a) = self.alerts.get_mut(&id) {
            a.value = Some((percent * 10.0).round() / 10.0);
            a.message = Some(format!(
                "changed state in {percent:.0} % of its last 21 results (weighted); alerts on each change are held until it settles"
            ));
        }
        tracing::info!(alert = id, check = %self.setup.checks[c].name, percent, "Check is flapping.");
    }

    /// Flapping ended: its end message says where the check settled. If it settled down, the
    /// state alert held meanwhile is announced by that same message (one final state, not two
    /// messages), so its own resolution will follow later.
    fn flap_stopped(&mut self, c: usize, now: Millis) {
        let key = format!("flapping:{}", self.setup.checks[c].name);
        let Some(&flap) = self.by_key.get(&key) else {
            return;
        };
        let state_key = format!("state:{}", self.setup.checks[c].name);
        if let Some(&state) = self.by_key.get(&state_key) {
            let flap_told = !self.alerts[&flap].detail.told.is_empty();
            if let Some(a) = self.alerts.get_mut(&state) {
                if a.detail.told.is_empty() && a.detail.held == Some(Held::Flapping) {
                    a.detail.held = None;
                    if flap_told {
                        a.detail.adopted_by = Some(flap);
                    }
                    self.dirty.insert(state);
                }
            }
        }
        self.resolve(flap, now);
        // Nobody heard of the flapping (it was suppressed): the state alert goes out itself.
        if let Some(&state) = self.by_key.get(&state_key) {
            if self.alerts[&state].detail.adopted_by.is_none()
                && self.alerts[&state].detail.told.is_empty()
                && !self.alerts[&state].detail.pending
            {
                self.batch_push(state, Event::Firing, None, now);
            }
        }
    }

    /// Why `a` may not be announced now, if anything stops it (maintenance as of the last
    /// [`Engine::record_maintenance`]).
    fn suppressed(&self, a: &Alert) -> Option<Held> {
        let c = a.check;
        if self
            .setup
            .maintenance
            .iter()
            .zip(&self.windows)
            .any(|(m, (active, _))| m.covers(c) && active.is_some())
        {
            return Some(Held::Maintenance);
        }
        if self.setup.checks.get(c).is_some_and(|def| {
            def.depends_on
                .iter()
                .any(|p| self.checks[*p].down.is_some())
        }) {
            return Some(Held::Dependency);
        }
        if a.kind == AlertKind::State && self.checks.get(c).is_some_and(|s| s.flap.is_flapping()) {
            return Some(Held::Flapping);
        }
        None
    }

    /// After every input: release what is no longer held, reminders, maintenance records, the
    /// group if it is due; then journal what changed and publish the snapshot.
    fn after(&mut self, now: Millis) {
        self.record_maintenance(now);
        let held: Vec<i64> = self
            .alerts
            .values()
            .filter(|a| a.is_open() && a.detail.held.is_some() && !a.detail.pending)
            .map(|a| a.id)
            .collect();
        for id in held {
            if self.suppressed(&self.alerts[&id]).is_none() {
                if let Some(a) = self.alerts.get_mut(&id) {
                    a.detail.held = None;
                }
                self.batch_push(id, Event::Firing, None, now);
            }
        }
        self.reminders(now);
        // Every change of an alert goes through `dirty`; most results change nothing.
        self.stale |= !self.dirty.is_empty();
        if self.batch.deadline.is_some_and(|d| d <= now) {
            self.flush(now);
            self.stale = true;
        }
        self.stale |= !self.dirty.is_empty();
        self.persist(now);
        if self.stale {
            self.publish();
        }
    }

    fn reminders(&mut self, now: Millis) {
        let Some(schedule) = self.setup.settings.reminders else {
            return;
        };
        let due: Vec<i64> = self
            .alerts
            .values()
            .filter(|a| a.state == AlertState::Firing && a.kind != AlertKind::Flapping)
            .filter(|a| a.detail.next_reminder_ms.is_some_and(|t| t <= now))
            .map(|a| a.id)
            .collect();
        for id in due {
            let quiet = self.suppressed(&self.alerts[&id]).is_some();
            let Some(a) = self.alerts.get_mut(&id) else {
                continue;
            };
            a.detail.reminders += 1;
            let n = a.detail.reminders;
            a.detail.next_reminder_ms = Some(now + ms(schedule.gap(n + 1)));
            self.dirty.insert(id);
            if quiet {
                // A silence or a parent's outage skips the reminder but not the schedule.
                a.detail.reminders -= 1;
                continue;
            }
            self.batch_push(id, Event::Reminder, None, now);
        }
    }

    fn record_maintenance(&mut self, now: Millis) {
        for (i, def) in self.setup.maintenance.iter().enumerate() {
            let (active, recheck) = &mut self.windows[i];
            if now >= *recheck {
                *active = def.maintenance.active_at(now);
                *recheck = def
                    .maintenance
                    .next_change_after(now)
                    .unwrap_or(Millis::MAX);
            }
            let Some(span) = *active else {
                continue;
            };
            if !self.recorded.insert((i, span.start)) {
                continue;
            }
            let checks: Vec<Option<usize>> = if def.checks.is_empty() {
                vec![None]
            } else {
                def.checks.iter().copied().map(Some).collect()
            };
            for check in checks {
                self.journal.record(AlertOp::Maintenance {
                    name: def.maintenance.name.clone(),
                    check,
                    start_ms: span.start,
                    end_ms: span.end,
                });
            }
            tracing::info!(maintenance = %def.maintenance.name, until = ?rfc3339_ms(span.end), "Maintenance window began; new alerts of its checks are held.");
        }
    }

    /// The name of the check an alert is about; empty when it left the config.
    fn check_name(&self, a: &Alert) -> &str {
        self.setup
            .checks
            .get(a.check)
            .map_or("", |c| c.name.as_str())
    }

    fn row(&self, a: &Alert, now: Millis) -> AlertRow {
        AlertRow {
            id: a.id,
            key: a.key.clone(),
            kind: a.kind.as_str().into(),
            check: self.check_name(a).to_string(),
            rule: a.rule.clone(),
            level: a.level.as_str().into(),
            state: a.state.as_str().into(),
            started_ms: a.started_ms,
            resolved_ms: a.resolved_ms,
            acknowledged_ms: a.acked_ms,
            value: a.value,
            message: a.message.clone(),
            detail: serde_json::to_string(&a.detail).unwrap_or_else(|_| "{}".into()),
            updated_ms: now,
        }
    }

    fn persist(&mut self, now: Millis) {
        for id in std::mem::take(&mut self.dirty) {
            if let Some(a) = self.alerts.get(&id) {
                if a.check == usize::MAX {
                    continue;
                }
                self.journal.record(AlertOp::Alert(self.row(a, now)));
            }
        }
    }
}

mod announce;
use announce::{random_token, rule_text, slo_text};
pub(crate) mod task;
mod view;

pub use view::{AckOutcome, AlertView, BudgetView, SloView, Snapshot};

#[cfg(test)]
mod tests;
