//! The engine and its outbox on tokio's paused clock: holds, reminders, grouping, flapping,
//! maintenance across a daylight-saving change, dependencies, restarts and retries.

use super::*;
use crate::alerts::config::NotifierDef;
use crate::alerts::input::{self, EngineInput};
use crate::alerts::journal::MemoryJournal;
use crate::alerts::message::{self, Message, Thread};
use crate::alerts::notify::{Notifier, SendError};
use crate::alerts::outbox::Outbox;
use crate::breaker::CircuitState;
use crate::checks::Observed;
use crate::incident::Tracker;
use crate::store::alerts::AlertOp;
use async_trait::async_trait;
use chrono::TimeZone;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// 2026-12-01 10:00:00 UTC.
const T0: Millis = 1_796_119_200_000;

#[derive(Debug, Clone)]
struct Delivered {
    #[allow(dead_code)] // shown when an assertion prints what was delivered
    notifier: String,
    message: Message,
    thread: Thread,
    at: Millis,
}

/// A notifier that keeps what it is sent, and refuses while told to.
#[derive(Debug)]
struct Recorder {
    name: String,
    clock: Clock,
    sent: Arc<Mutex<Vec<Delivered>>>,
    refuse: Arc<AtomicBool>,
}

#[async_trait]
impl Notifier for Recorder {
    async fn send(&self, out: message::Outgoing<'_>) -> Result<(), SendError> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(SendError::transient("451 4.3.0 try again later"));
        }
        self.sent.lock().unwrap().push(Delivered {
            notifier: self.name.clone(),
            message: out.message.clone(),
            thread: out.thread.clone(),
            at: self.clock.now_ms(),
        });
        Ok(())
    }

    fn target(&self) -> String {
        format!("recorder {}", self.name)
    }
}

/// A running engine with recording notifiers, fed as the fan-out would feed it.
struct Harness {
    clock: Clock,
    input: Option<EngineInput>,
    readings: mpsc::Sender<Readings>,
    commands: mpsc::Sender<task::Command>,
    journal: Arc<MemoryJournal>,
    sent: Arc<Mutex<Vec<Delivered>>>,
    refuse: Arc<AtomicBool>,
    trackers: Vec<Tracker>,
    task: Option<JoinHandle<Engine>>,
    outbox: Option<Outbox>,
    setup: Arc<Setup>,
    snapshot: Arc<RwLock<Snapshot>>,
}

/// `body` is a monitor.toml fragment; every `[[notifier]]` in it becomes a recorder.
fn setup(body: &str) -> Arc<Setup> {
    let config = crate::config::parse(body, std::path::Path::new("t.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    config.alerting
}

impl Harness {
    async fn start(setup: Arc<Setup>) -> Harness {
        Self::resume(setup, Resume::default(), Arc::default(), T0).await
    }

    async fn resume(
        mut setup: Arc<Setup>,
        resume: Resume,
        journal: Arc<MemoryJournal>,
        start_ms: Millis,
    ) -> Harness {
        let clock = Clock::tokio_from(start_ms);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(AtomicBool::new(false));
        let s = Arc::make_mut(&mut setup);
        s.notifiers = s
            .notifiers
            .iter()
            .map(|n| NotifierDef {
                notifier: Arc::new(Recorder {
                    name: n.name.clone(),
                    clock,
                    sent: sent.clone(),
                    refuse: refuse.clone(),
                }),
                ..n.clone()
            })
            .collect();
        let down = resume.down.clone();
        let (outbox, sender) = Outbox::start(
            &setup.notifiers,
            journal.clone(),
            clock,
            setup.settings.retry_for,
        );
        let engine = Engine::new(setup.clone(), clock, journal.clone(), sender, resume);
        let snapshot = engine.snapshot();
        let (input, lanes) = input::channel(1000);
        let (readings, readings_rx) = mpsc::channel(4);
        let (commands, commands_rx) = mpsc::channel(4);
        let task = tokio::spawn(task::run(engine, lanes, readings_rx, commands_rx));
        let trackers = setup
            .checks
            .iter()
            .enumerate()
            .map(|(i, _)| Tracker::new(1, 1, down.iter().any(|(c, _)| *c == i)))
            .collect();
        let h = Harness {
            clock,
            input: Some(input),
            readings,
            commands,
            journal,
            sent,
            refuse,
            trackers,
            task: Some(task),
            outbox: Some(outbox),
            setup,
            snapshot,
        };
        h.settle().await;
        h
    }

    fn check(&self, name: &str) -> usize {
        self.setup
            .checks
            .iter()
            .position(|c| c.name == name)
            .unwrap()
    }

    /// One result of `check` now, with `response_ms` and `observed`, through a tracker with
    /// thresholds of 1 (every failure is an incident, every success its end).
    async fn result_with(
        &mut self,
        check: &str,
        status: Status,
        response_ms: u64,
        observed: Observed,
    ) {
        let c = self.check(check);
        let now = self.clock.now_ms();
        let result = CheckResult {
            check: c,
            started_at: chrono::Utc.timestamp_millis_opt(now).unwrap(),
            response_time: Duration::from_millis(response_ms),
            status,
            message: (status == Status::Unhealthy).then(|| format!("{check} refused")),
            observed,
            circuit: CircuitState::Closed,
            consecutive_failures: 0,
            retry_at: None,
        };
        let input = self.input.as_ref().unwrap();
        if let Some(change) =
            self.trackers[c].observe(now, status == Status::Unhealthy, result.message.as_deref())
        {
            input.send_transition(Transition { check: c, change });
        }
        input.send_result(Arc::new(result));
        self.settle().await;
    }

    async fn probe(&mut self, response_ms: u64) {
        self.result_with("api", Status::Healthy, response_ms, Observed::new())
            .await;
    }

    async fn result(&mut self, check: &str, status: Status) {
        self.result_with(check, status, 10, Observed::new()).await;
    }

    async fn down(&mut self, check: &str) {
        self.result(check, Status::Unhealthy).await;
    }

    async fn up(&mut self, check: &str) {
        self.result(check, Status::Healthy).await;
    }

    /// Lets the engine and the outbox act on what they were given.
    async fn settle(&self) {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Moves time on by `d` (timers fire on the way).
    async fn wait(&self, d: Duration) {
        tokio::time::sleep(d).await;
        self.settle().await;
    }

    fn snapshot_now(&self) -> Snapshot {
        self.snapshot.read().unwrap().clone()
    }

    fn delivered(&self) -> Vec<Delivered> {
        self.sent.lock().unwrap().clone()
    }

    fn titles(&self) -> Vec<String> {
        self.delivered().iter().map(|d| d.message.title()).collect()
    }

    async fn ack(&self, id: i64) -> AckOutcome {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.commands
            .send(task::Command::Ack { id, reply })
            .await
            .unwrap();
        answer.await.unwrap()
    }

    /// Stops as the daemon does: lanes closed, group flushed, outbox drained.
    async fn stop(mut self) -> Arc<MemoryJournal> {
        self.input.take();
        let _ = self.task.take().unwrap().await;
        self.outbox
            .take()
            .unwrap()
            .stop(Duration::from_secs(5))
            .await;
        self.journal
    }
}

/// What a restart reads back: the last row of every alert still open, and the ids used.
fn resume_from(journal: &MemoryJournal, down: Vec<(usize, Millis)>) -> Resume {
    let mut rows: BTreeMap<i64, AlertRow> = BTreeMap::new();
    let mut last_notification = 0;
    let mut instance = None;
    for op in journal.ops() {
        match op {
            AlertOp::Alert(row) => {
                rows.insert(row.id, row);
            }
            AlertOp::Enqueue(n) => last_notification = last_notification.max(n.id),
            AlertOp::Meta { key, value } if key == "instance" => instance = Some(value),
            _ => {}
        }
    }
    Resume {
        last_alert_id: rows.keys().max().copied().unwrap_or(0),
        // As store::alerts::open_alerts reads them.
        alerts: rows
            .into_values()
            .filter(|r| r.state != "resolved" || r.detail.contains("\"resolve_pending\":true"))
            .collect(),
        last_notification_id: last_notification,
        down,
        instance,
    }
}

const ONE_NOTIFIER: &str = "[alerting]\ngroup_wait = \"10s\"\nreminder = \"0s\"\n[[notifier]]\nname = \"oncall\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n";

fn checks(names: &[&str], extra: &str) -> String {
    names
        .iter()
        .map(|n| format!("[[check]]\nname = \"{n}\"\nkind = \"memory\"\ncritical = true\n{extra}"))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_down_check_is_announced_once_after_the_group_wait_and_its_end_in_the_same_thread() {
    let mut h = Harness::start(setup(&format!("{ONE_NOTIFIER}{}", checks(&["api"], "")))).await;
    h.down("api").await;
    assert_eq!(
        h.snapshot_now().alerts.len(),
        1,
        "firing at once, announced later"
    );
    h.wait(Duration::from_secs(9)).await;
    assert!(h.delivered().is_empty(), "the group wait is not over");
    h.wait(Duration::from_secs(2)).await;
    h.down("api").await;
    h.down("api").await;
    assert_eq!(h.titles(), ["DOWN · api · healthmon"]);
    h.wait(Duration::from_secs(30)).await;
    h.up("api").await;
    h.wait(Duration::from_secs(11)).await;
    let d = h.delivered();
    assert_eq!(
        h.titles(),
        ["DOWN · api · healthmon", "RESOLVED · api · healthmon"]
    );
    assert_eq!(
        d[1].thread.in_reply_to.as_deref(),
        Some(d[0].thread.message_id.as_str())
    );
    let lasted = d[1].message.alerts[0].duration_seconds;
    assert!((lasted - 41.0).abs() < 0.1, "{lasted}");
    assert!(h.snapshot_now().alerts.is_empty(), "no longer open");
    assert_eq!(
        d[1].message.alerts[0].message.as_deref(),
        Some("api refused")
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_outage_shorter_than_the_group_wait_tells_nobody() {
    let mut h = Harness::start(setup(&format!("{ONE_NOTIFIER}{}", checks(&["api"], "")))).await;
    h.down("api").await;
    h.wait(Duration::from_secs(3)).await;
    h.up("api").await;
    h.wait(Duration::from_secs(60)).await;
    assert!(h.delivered().is_empty(), "{:?}", h.titles());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn twenty_checks_failing_together_send_one_message_naming_all_twenty() {
    let names: Vec<String> = (0..20).map(|i| format!("web-{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut h = Harness::start(setup(&format!("{ONE_NOTIFIER}{}", checks(&refs, "")))).await;
    for name in &refs {
        h.down(name).await;
        h.wait(Duration::from_millis(300)).await;
    }
    h.wait(Duration::from_secs(10)).await;
    let d = h.delivered();
    assert_eq!(d.len(), 1, "{:?}", h.titles());
    assert_eq!(d[0].message.title(), "DOWN · 20 checks · healthmon");
    let named: BTreeSet<&str> = d[0]
        .message
        .alerts
        .iter()
        .map(|a| a.check.as_str())
        .collect();
    assert_eq!(named.len(), 20);
    // They recover together too: one all-clear, in reply to the one alert.
    for name in &refs {
        h.up(name).await;
    }
    h.wait(Duration::from_secs(11)).await;
    let d = h.delivered();
    assert_eq!(d.len(), 2, "{:?}", h.titles());
    assert_eq!(d[1].message.title(), "RESOLVED · 20 checks · healthmon");
    assert_eq!(
        d[1].thread.in_reply_to.as_deref(),
        Some(d[0].thread.message_id.as_str())
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn reminders_back_off_and_stop_once_acknowledged() {
    let config = format!(
        "[alerting]\ngroup_wait = \"0s\"\nreminder = \"30m\"\nreminder_backoff = 2\nreminder_max = \"2h\"\n[[notifier]]\nname = \"oncall\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n{}",
        checks(&["db", "api"], "")
    );
    let mut h = Harness::start(setup(&config)).await;
    h.down("db").await;
    h.wait(Duration::from_secs(5 * 3600 + 60)).await;
    // Announced at 0, reminded at 30 min, 1 h 30, 3 h 30 (gaps 30 m, 1 h, 2 h), next at 5 h 30.
    let at: Vec<Millis> = h.delivered().iter().map(|d| (d.at - T0) / 60_000).collect();
    assert_eq!(at, [0, 30, 90, 210]);
    let titles = h.titles();
    assert_eq!(titles[1], "STILL DOWN · db · healthmon");
    assert_eq!(h.delivered()[3].message.alerts[0].reminder, Some(3));
    for d in &h.delivered()[1..] {
        assert_eq!(
            d.thread.in_reply_to.as_deref(),
            Some(h.delivered()[0].thread.message_id.as_str()),
            "reminders stay in the alert's thread"
        );
    }

    h.down("api").await;
    let api_alert = h.delivered().last().unwrap().message.alerts[0].id;
    match h.ack(api_alert).await {
        AckOutcome::Acknowledged(view, _) => assert_eq!(view.state, AlertState::Acknowledged),
        other => panic!("{other:?}"),
    }
    let before = h.delivered().len();
    h.wait(Duration::from_secs(10 * 3600)).await;
    let api_reminders = h.delivered()[before..]
        .iter()
        .filter(|d| d.message.alerts[0].check == "api")
        .count();
    assert_eq!(api_reminders, 0, "an acknowledged alert is not reminded");
    h.up("api").await;
    assert_eq!(
        h.titles().last().unwrap(),
        "RESOLVED · api · healthmon",
        "but its end is still told"
    );
    assert_eq!(h.ack(9999).await, AckOutcome::NotFound);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_threshold_rule_holds_for_its_for_and_changes_level_as_one_alert() {
    let config = format!(
        "{ONE_NOTIFIER}{}[[alert]]\nname = \"slow\"\ncheck = \"api\"\nmetric = \"response_time_ms\"\nwarn = 500\ncrit = 1000\nfor = \"3s\"\nclear_for = \"2s\"\n",
        checks(&["api"], "")
    );
    let mut h = Harness::start(setup(&config)).await;
    // A one-second spike: nothing.
    h.probe(1200).await;
    h.wait(Duration::from_secs(1)).await;
    h.probe(100).await;
    h.wait(Duration::from_secs(30)).await;
    assert!(h.delivered().is_empty(), "{:?}", h.titles());
    // Five seconds of warning, then critical, then warning again.
    for ms in [600, 700, 650, 800, 700] {
        h.probe(ms).await;
        h.wait(Duration::from_secs(1)).await;
    }
    h.wait(Duration::from_secs(10)).await;
    for _ in 0..5 {
        h.probe(1500).await;
        h.wait(Duration::from_secs(1)).await;
    }
    h.wait(Duration::from_secs(10)).await;
    for _ in 0..4 {
        h.probe(700).await;
        h.wait(Duration::from_secs(1)).await;
    }
    h.wait(Duration::from_secs(10)).await;
    for _ in 0..3 {
        h.probe(50).await;
        h.wait(Duration::from_secs(1)).await;
    }
    h.wait(Duration::from_secs(10)).await;
    assert_eq!(
        h.titles(),
        [
            "WARNING · slow (api) · healthmon",
            "CRITICAL · slow (api) · healthmon",
            "WARNING · slow (api) · healthmon",
            "RESOLVED · slow (api) · healthmon"
        ]
    );
    let d = h.delivered();
    let ids: BTreeSet<i64> = d.iter().map(|d| d.message.alerts[0].id).collect();
    assert_eq!(ids.len(), 1, "one alert whose level changed");
    assert_eq!(d[1].message.event, Event::LevelChanged);
    assert_eq!(d[1].message.alerts[0].previous_level, Some(Level::Warning));
    assert_eq!(d[1].message.alerts[0].threshold, Some(1000.0));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_flapping_check_sends_one_flapping_notice_and_one_final_state() {
    let mut h = Harness::start(setup(&format!("{ONE_NOTIFIER}{}", checks(&["api"], "")))).await;
    for i in 0..30 {
        if i % 2 == 0 {
            h.down("api").await;
        } else {
            h.up("api").await;
        }
        h.wait(Duration::from_secs(2)).await;
    }
    // It settles down (still failing) and stays so.
    for _ in 0..30 {
        h.down("api").await;
        h.wait(Duration::from_secs(2)).await;
    }
    h.wait(Duration::from_secs(20)).await;
    let titles = h.titles();
    assert_eq!(
        titles,
        ["FLAPPING · api · healthmon", "STABLE · api · healthmon"],
        "{titles:?}"
    );
    let end = &h.delivered()[1];
    assert_eq!(
        end.message.alerts[0].check_status.as_deref(),
        Some("unhealthy")
    );
    // Its recovery is told, in the thread the flapping started.
    h.up("api").await;
    h.wait(Duration::from_secs(11)).await;
    let d = h.delivered();
    assert_eq!(d.len(), 3, "{:?}", h.titles());
    assert_eq!(d[2].message.title(), "RESOLVED · api · healthmon");
    assert_eq!(
        d[2].thread.in_reply_to.as_deref(),
        Some(d[1].thread.message_id.as_str())
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_child_whose_parent_is_down_sends_nothing_and_is_told_if_it_stays_down() {
    let config = format!(
        "{ONE_NOTIFIER}{}{}",
        checks(&["network"], ""),
        checks(&["api", "db"], "depends_on = [\"network\"]\n")
    );
    let mut h = Harness::start(setup(&config)).await;
    h.down("network").await;
    h.down("api").await;
    h.down("db").await;
    h.wait(Duration::from_secs(11)).await;
    assert_eq!(h.titles(), ["DOWN · network · healthmon"]);
    // The network comes back; db recovers with it, api does not.
    h.up("network").await;
    h.up("db").await;
    h.wait(Duration::from_secs(11)).await;
    assert_eq!(
        h.titles(),
        [
            "DOWN · network · healthmon",
            "RESOLVED · network · healthmon",
            "DOWN · api · healthmon"
        ],
        "an all-clear goes out before what waited for it"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn maintenance_silences_new_alerts_but_never_a_resolution() {
    // A window from 10:05 to 10:20 UTC.
    let config = format!(
        "{ONE_NOTIFIER}{}[[maintenance]]\nname = \"upgrade\"\nchecks = [\"api\"]\nstart = \"2026-12-01T10:05:00Z\"\nend = \"2026-12-01T10:20:00Z\"\n",
        checks(&["api", "db"], "")
    );
    let mut h = Harness::start(setup(&config)).await;
    // db fires before the window and is told; the window begins; db ends inside it.
    h.down("db").await;
    h.wait(Duration::from_secs(6 * 60)).await;
    h.down("api").await;
    h.wait(Duration::from_secs(60)).await;
    h.up("db").await;
    h.wait(Duration::from_secs(60)).await;
    h.up("api").await;
    h.wait(Duration::from_secs(30 * 60)).await;
    assert_eq!(
        h.titles(),
        ["DOWN · db · healthmon", "RESOLVED · db · healthmon"]
    );
    let windows: Vec<(Millis, Millis)> = h
        .journal
        .ops()
        .into_iter()
        .filter_map(|op| match op {
            AlertOp::Maintenance {
                start_ms,
                end_ms,
                check: Some(0),
                ..
            } => Some((start_ms, end_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(
        windows,
        [(T0 + 5 * 60_000, T0 + 20 * 60_000)],
        "the window is recorded for availability"
    );

    // An outage that outlasts the window is told once it ends.
    h.wait(Duration::from_secs(1)).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_outage_that_outlasts_a_maintenance_window_is_told_when_the_window_ends() {
    let config = format!(
        "{ONE_NOTIFIER}{}[[maintenance]]\nname = \"upgrade\"\nstart = \"2026-12-01T10:00:00Z\"\nend = \"2026-12-01T10:10:00Z\"\n",
        checks(&["api"], "")
    );
    let mut h = Harness::start(setup(&config)).await;
    h.down("api").await;
    h.wait(Duration::from_secs(9 * 60)).await;
    assert!(h.delivered().is_empty());
    h.wait(Duration::from_secs(2 * 60)).await;
    assert_eq!(h.titles(), ["DOWN · api · healthmon"]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_weekly_maintenance_window_follows_berlin_time_across_the_spring_change() {
    // Sundays 01:30 to 02:30 Berlin time: 00:30 UTC in winter, 23:30 UTC (Saturday) in summer.
    let config = format!(
        "{ONE_NOTIFIER}{}[[maintenance]]\nname = \"nightly\"\ncron = \"0 30 1 * * SUN\"\nduration = \"1h\"\ntz = \"Europe/Berlin\"\n",
        checks(&["api"], "")
    );
    let setup = setup(&config);
    // Saturday 2027-03-27 23:45 UTC: winter time still, so 00:45 Sunday in Berlin: outside.
    let saturday = chrono::Utc
        .with_ymd_and_hms(2027, 3, 27, 23, 45, 0)
        .unwrap()
        .timestamp_millis();
    let mut h = Harness::resume(setup.clone(), Resume::default(), Arc::default(), saturday).await;
    h.down("api").await;
    h.wait(Duration::from_secs(11)).await;
    assert_eq!(
        h.titles(),
        ["DOWN · api · healthmon"],
        "not in the window yet"
    );
    h.up("api").await;
    h.wait(Duration::from_secs(11)).await;
    // 00:35 UTC Sunday = 01:35 CET: inside, before the clocks go forward at 01:00 UTC.
    h.wait(Duration::from_secs(50 * 60)).await;
    h.down("api").await;
    h.wait(Duration::from_secs(11)).await;
    assert_eq!(h.titles().len(), 2, "silenced: {:?}", h.titles());
    h.up("api").await;
    h.stop().await;
    // A week later, summer time: 23:45 UTC Saturday is 01:45 CEST, inside.
    let week = saturday + 7 * 86_400_000;
    let mut h = Harness::resume(setup, Resume::default(), Arc::default(), week).await;
    h.down("api").await;
    h.wait(Duration::from_secs(11)).await;
    assert!(
        h.delivered().is_empty(),
        "silenced in summer time: {:?}",
        h.titles()
    );
    // The window ends at 00:30 UTC; the outage goes on and is told then.
    h.wait(Duration::from_secs(45 * 60)).await;
    assert_eq!(h.titles(), ["DOWN · api · healthmon"]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_mid_outage_repeats_nothing_and_tells_the_end() {
    let config = setup(&format!("{ONE_NOTIFIER}{}", checks(&["api"], "")));
    let mut h = Harness::start(config.clone()).await;
    h.down("api").await;
    h.wait(Duration::from_secs(11)).await;
    assert_eq!(h.titles(), ["DOWN · api · healthmon"]);
    let first = h.delivered()[0].clone();
    let journal = h.stop().await;

    let resume = resume_from(&journal, vec![(0, T0)]);
    let mut h = Harness::resume(config, resume, journal, T0 + 60_000).await;
    h.down("api").await;
    h.wait(Duration::from_secs(60)).await;
    assert!(
        h.delivered().is_empty(),
        "nothing again after the restart: {:?}",
        h.titles()
    );
    h.up("api").await;
    h.wait(Duration::from_secs(11)).await;
    let d = h.delivered();
    assert_eq!(h.titles(), ["RESOLVED · api · healthmon"]);
    assert_eq!(
        d[0].thread.in_reply_to.as_deref(),
        Some(first.thread.message_id.as_str())
    );
    assert_ne!(
        d[0].message.id, first.message.id,
        "notification ids continue"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_reminder_still_queued_when_its_alert_is_acknowledged_is_not_sent() {
    let config = format!(
        "[alerting]\ngroup_wait = \"0s\"\nreminder = \"30m\"\n[[notifier]]\nname = \"oncall\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n{}",
        checks(&["api"], "")
    );
    let mut h = Harness::start(setup(&config)).await;
    h.down("api").await;
    assert_eq!(h.titles(), ["DOWN · api · healthmon"]);
    let id = h.delivered()[0].message.alerts[0].id;
    // The reminder is due while the receiver refuses: it waits in the queue for its retry.
    h.refuse.store(true, Ordering::SeqCst);
    h.wait(Duration::from_secs(30 * 60 + 1)).await;
    assert!(matches!(h.ack(id).await, AckOutcome::Acknowledged(..)));
    h.refuse.store(false, Ordering::SeqCst);
    h.wait(Duration::from_secs(60)).await;
    assert_eq!(
        h.titles(),
        ["DOWN · api · healthmon"],
        "no reminder after the ack"
    );
    let cancelled = h
        .journal
        .ops()
        .into_iter()
        .any(|op| matches!(op, AlertOp::Attempt(a) if a.state == "cancelled"));
    assert!(
        cancelled,
        "the reminder's outbox row is closed, not left pending"
    );
    h.up("api").await;
    assert_eq!(
        h.titles().last().unwrap(),
        "RESOLVED · api · healthmon",
        "the end is still told"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refusing_notifier_loses_nothing_and_is_retried_with_back_off() {
    let mut h = Harness::start(setup(&format!("{ONE_NOTIFIER}{}", checks(&["api"], "")))).await;
    h.refuse.store(true, Ordering::SeqCst);
    h.down("api").await;
    h.wait(Duration::from_secs(60)).await;
    assert!(h.delivered().is_empty());
    let attempts: Vec<u32> = h
        .journal
        .ops()
        .into_iter()
        .filter_map(|op| match op {
            AlertOp::Attempt(a) => Some(a.attempts),
            _ => None,
        })
        .collect();
    // Tried at 10 s, then 5 s, 10 s, 20 s later: four attempts within the minute.
    assert_eq!(attempts, [1, 2, 3, 4]);
    h.refuse.store(false, Ordering::SeqCst);
    h.wait(Duration::from_secs(60)).await;
    assert_eq!(
        h.titles(),
        ["DOWN · api · healthmon"],
        "sent once it is back, once"
    );
    h.stop().await;
}

/// A reading in which the SLO's check was watched all along and down for `down[i]` seconds of
/// each of the spans 5 m, 30 m, 1 h, 6 h, and `window_down` seconds of its window.
fn slo_reading(at: Millis, down: [f64; 4], window_down: f64) -> Readings {
    let spans = [300.0, 1800.0, 3600.0, 21_600.0];
    Readings {
        at_ms: at,
        slos: vec![Some(SloReading {
            spans: [0, 1, 2, 3].map(|i| (spans[i], down[i])),
            window_downtime_seconds: window_down,
        })],
        availability: vec![],
        month: vec![],
    }
}

#[tokio::test(start_paused = true)]
async fn burn_rates_fire_the_fast_and_the_slow_slo_alerts_and_the_budget_is_published() {
    let config = format!(
        "{ONE_NOTIFIER}{}[[slo]]\ncheck = \"api\"\nobjective = 99.9\nwindow = \"30d\"\n",
        checks(&["api"], "")
    );
    let h = Harness::start(setup(&config)).await;
    // 2 % of the 43.2-minute budget in the last hour, all of it within the last 5 minutes.
    h.readings
        .send(slo_reading(
            h.clock.now_ms(),
            [51.84, 51.84, 51.84, 51.84],
            51.84,
        ))
        .await
        .unwrap();
    h.wait(Duration::from_secs(11)).await;
    assert_eq!(h.titles(), ["CRITICAL · api SLO · healthmon"]);
    let alert = &h.delivered()[0].message.alerts[0];
    assert_eq!(
        (alert.kind, alert.rule.as_deref()),
        (AlertKind::Slo, Some("api"))
    );
    assert!(
        alert.message.as_deref().unwrap().starts_with("fast burn"),
        "{alert:?}"
    );
    let snap = h.snapshot_now();
    let budget = snap.slos[0].error_budget.as_ref().unwrap();
    assert_eq!(budget.total_minutes, 43.2);
    assert_eq!(budget.remaining_percent, 98.0);
    assert_eq!(snap.slos[0].burning, Some("fast"));

    // The burning stops: the short span clears, the alert resolves.
    h.readings
        .send(slo_reading(
            h.clock.now_ms(),
            [0.0, 51.84, 51.84, 51.84],
            51.84,
        ))
        .await
        .unwrap();
    h.wait(Duration::from_secs(11)).await;
    assert_eq!(h.titles().last().unwrap(), "RESOLVED · api SLO · healthmon");

    // A slow trickle: 160 s over six hours, 20 s of it in the last half hour.
    h.readings
        .send(slo_reading(
            h.clock.now_ms(),
            [0.0, 20.0, 40.0, 160.0],
            200.0,
        ))
        .await
        .unwrap();
    h.wait(Duration::from_secs(11)).await;
    assert_eq!(h.titles().last().unwrap(), "WARNING · api SLO · healthmon");
    assert_eq!(h.snapshot_now().slos[0].burning, Some("slow"));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stop_between_the_end_of_an_outage_and_its_all_clear_still_sends_the_all_clear() {
    let config = setup(&format!("{ONE_NOTIFIER}{}", checks(&["api"], "")));
    let mut h = Harness::start(config.clone()).await;
    h.down("api").await;
    h.wait(Duration::from_secs(11)).await;
    h.up("api").await;
    // Gone before the group wait sent the resolution, without a clean stop's flush: only
    // what was journaled survives.
    let journal = h.journal.clone();
    h.task.take().unwrap().abort();
    h.outbox.take().unwrap().stop(Duration::ZERO).await;
    assert_eq!(h.titles(), ["DOWN · api · healthmon"]);

    let resume = resume_from(&journal, vec![]);
    let h = Harness::resume(config, resume, journal, T0 + 60_000).await;
    h.wait(Duration::from_secs(11)).await;
    assert_eq!(h.titles(), ["RESOLVED · api · healthmon"]);
    h.stop().await;
}
