//! The alert engine: from transitions, results and the store's readings to alerts, and from
//! alerts to notifications.
//!
//! Every alert lives here from firing to resolved and is journaled on each change, so a
//! restart resumes it (nothing repeated, nothing forgotten). A new alert is not announced at
//! once: it waits `group_wait` so that alerts opening together go out as one message, and is
//! held back, not dropped, while a maintenance window, a parent that is down or flapping
//! suppresses it; it is announced when that ends if it still fires. Whoever was told about an
//! alert is told when it resolves, whatever came in between: resolutions are never suppressed.

use super::clock::Clock;
use super::config::{Metric, Setup};
use super::flapping::{FlapChange, Flapping};
use super::journal::Journal;
use super::message::{self, AlertItem, Event, Message, Thread};
use super::outbox::{OutboxSender, Pending};
use super::rule::{Hold, HoldChange};
use super::slo::{self, Budget, BurnRates};
use super::{AlertKind, AlertState, Level};
use crate::checks::Status;
use crate::incident::{Change, Transition};
use crate::result::CheckResult;
use crate::store::alerts::{AlertOp, AlertRow, NotificationRow};
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

/// An alert as the API and the status page see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    pub id: i64,
    pub kind: AlertKind,
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub level: Level,
    pub state: AlertState,
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why it has not been announced, while it is held back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<&'static str>,
}

/// An SLO as the API sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloView {
    pub name: String,
    pub check: String,
    pub objective: f64,
    pub window: String,
    pub error_budget: Option<BudgetView>,
    pub burn_rates: BurnRates,
    /// `fast` or `slow` while a burn-rate pair is over its factor.
    pub burning: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetView {
    pub total_minutes: f64,
    pub used_minutes: f64,
    pub remaining_minutes: f64,
    pub remaining_percent: f64,
}

/// The engine's state for readers, replaced after every change.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Open alerts, oldest first.
    pub alerts: Vec<AlertView>,
    pub slos: Vec<SloView>,
}

/// What an acknowledgement found.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// Acknowledged now or before; the journal sequence of the change.
    Acknowledged(AlertView, u64),
    AlreadyResolved,
    NotFound,
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
            tracing::info!(alert = id, check = %self.setup.checks.get(alert.check).map_or("", |c| c.name.as_str()), "Alert acknowledged.");
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

    /// Sends the group: one message per notifier and kind of event.
    fn flush(&mut self, now: Millis) {
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

    fn send(&mut self, n: usize, event: Event, list: &[Item], now: Millis) {
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

    fn notify_list(&self, a: &Alert) -> Vec<usize> {
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
    fn told(&self, a: &Alert) -> Vec<usize> {
        a.detail
            .told
            .keys()
            .filter_map(|name| self.setup.notifiers.iter().position(|n| &n.name == name))
            .collect()
    }

    fn item(&self, a: &Alert, event: Event, previous: Option<Level>, now: Millis) -> AlertItem {
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
    fn month_percent(&self, a: &Alert, now: Millis) -> Option<f64> {
        let m = self.checks.get(a.check)?.month?;
        let since = ((now - m.at_ms).max(0)) as f64 / 1000.0;
        let ended = a.resolved_ms.unwrap_or(now);
        // The reading counted the open incident up to its own time; add what followed.
        let extra_down = ((ended - m.at_ms.max(a.started_ms)).max(0)) as f64 / 1000.0;
        let observed = m.observed_seconds + since;
        let down = (m.downtime_seconds + extra_down).min(observed);
        (observed > 0.0).then(|| ((1.0 - down / observed) * 100_000.0).round() / 1000.0)
    }

    fn row(&self, a: &Alert, now: Millis) -> AlertRow {
        AlertRow {
            id: a.id,
            key: a.key.clone(),
            kind: a.kind.as_str().into(),
            check: self
                .setup
                .checks
                .get(a.check)
                .map_or_else(String::new, |c| c.name.clone()),
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

    fn view(&self, a: &Alert) -> AlertView {
        AlertView {
            id: a.id,
            kind: a.kind,
            check: self
                .setup
                .checks
                .get(a.check)
                .map_or_else(String::new, |c| c.name.clone()),
            rule: a.rule.clone(),
            level: a.level,
            state: a.state,
            started_at: rfc3339_ms(a.started_ms),
            acknowledged_at: a.acked_ms.and_then(rfc3339_ms),
            value: a.value,
            message: a.message.clone(),
            held: a.detail.held.map(Held::as_str),
        }
    }

    fn publish(&mut self) {
        self.stale = false;
        let alerts = self
            .alerts
            .values()
            .filter(|a| a.is_open())
            .map(|a| self.view(a))
            .collect();
        let slos = self
            .setup
            .slos
            .iter()
            .zip(&self.slos)
            .map(|(def, s)| SloView {
                name: def.name.clone(),
                check: self.setup.checks[def.check].name.clone(),
                objective: def.objective,
                window: crate::duration::format(def.window),
                error_budget: s.budget.map(|b| BudgetView {
                    total_minutes: (b.total_seconds / 60.0 * 100.0).round() / 100.0,
                    used_minutes: (b.used_seconds / 60.0 * 100.0).round() / 100.0,
                    remaining_minutes: b.remaining_minutes(),
                    remaining_percent: b.remaining_percent,
                }),
                burn_rates: round_rates(s.rates),
                burning: s.rates.burning().map(|p| p.label),
            })
            .collect();
        if let Ok(mut snap) = self.snapshot.write() {
            *snap = Snapshot { alerts, slos };
        }
    }
}

fn round_rates(r: BurnRates) -> BurnRates {
    let round = |v: Option<f64>| v.map(|v| (v * 100.0).round() / 100.0);
    BurnRates {
        m5: round(r.m5),
        m30: round(r.m30),
        h1: round(r.h1),
        h6: round(r.h6),
    }
}

fn rule_text(rule: &super::config::Rule, level: Level, value: Option<f64>) -> String {
    let threshold = rule.thresholds.threshold(level);
    let cmp = match rule.thresholds.direction {
        super::rule::Direction::Above => "≥",
        super::rule::Direction::Below => "≤",
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

fn slo_text(
    slo: &super::config::Slo,
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

fn fmt_num(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r}")
    }
}

/// The right side of every Message-ID: unique per database through the instance token on
/// the left, so it need not be a real host.
const MESSAGE_ID_DOMAIN: &str = "healthmon.local";

fn random_token() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}

/// Runs an engine until its input lanes close.
pub(crate) mod task {
    use super::*;
    use crate::alerts::input::EngineLanes;
    use tokio::sync::{mpsc, oneshot};

    /// A request from the API.
    pub enum Command {
        Ack {
            id: i64,
            reply: oneshot::Sender<AckOutcome>,
        },
    }

    pub async fn run(
        mut engine: Engine,
        mut lanes: EngineLanes,
        mut readings: mpsc::Receiver<Readings>,
        mut commands: mpsc::Receiver<Command>,
    ) -> Engine {
        loop {
            let deadline = engine.next_deadline();
            let wake = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(engine.clock.instant_at(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                t = lanes.transitions.recv() => match t {
                    Some(t) => engine.on_transition(t),
                    None => break,
                },
                r = lanes.results.recv() => match r {
                    Some(r) => engine.on_result(&r),
                    None => break,
                },
                Some(r) = readings.recv() => engine.on_readings(r),
                Some(cmd) = commands.recv() => match cmd {
                    Command::Ack { id, reply } => {
                        let _ = reply.send(engine.acknowledge(id));
                    }
                },
                () = wake => engine.tick(),
            }
        }
        // What arrived before the lanes closed still counts.
        while let Ok(t) = lanes.transitions.try_recv() {
            engine.on_transition(t);
        }
        engine.flush_now();
        engine
    }
}

#[cfg(test)]
mod tests;
