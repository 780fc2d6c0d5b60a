//! Alert emails through a real SMTP server (aiosmtpd, keeping what it accepts): who gets what,
//! once, in one thread; a restart in between; a server refusing mail; acknowledgements.

use crate::helpers::*;
use crate::services::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

/// `[alerting]` for quick tests, an email notifier `oncall` on `port`, and an HTTP check `api`
/// of `target` probed every second (`failure_threshold = 2`, the breaker retrying every second
/// or two).
fn config(alerting: &str, port: u16, target: &str) -> String {
    format!(
        "[alerting]\n{alerting}\n\
         [[notifier]]\nname = \"oncall\"\nkind = \"email\"\nurl = \"smtp://127.0.0.1:{port}?tls=none\"\n\
         from = \"healthmon <healthmon@example.com>\"\nto = [\"oncall@example.com\", \"lead@example.com\"]\n\
         [[check]]\nname = \"api\"\nkind = \"http\"\nurl = \"{target}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\
         failure_threshold = 2\nmax_backoff = \"1s\"\ncritical = true\n"
    )
}

fn seconds(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

/// `42 s`, `1 min 3 s` (the email's Duration row) in seconds.
fn stated_seconds(text: &str) -> f64 {
    let mut total = 0.0;
    let words: Vec<&str> = text.split_whitespace().collect();
    for pair in words.windows(2) {
        if let Ok(n) = pair[0].parse::<f64>() {
            total += n * match pair[1] {
                "s" => 1.0,
                "min" => 60.0,
                "h" => 3600.0,
                other => panic!("unknown unit {other} in `{text}`"),
            };
        }
    }
    total
}

async fn alerts(app: &TestApp) -> Vec<Value> {
    let (code, body) = app.get_json("/api/v1/alerts").await;
    assert_eq!(code, 200, "{body}");
    body["alerts"].as_array().unwrap().clone()
}

fn mailbox_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn refuse(dir: &Path, on: bool) {
    let flag = dir.join("refuse");
    if on {
        std::fs::write(flag, "").unwrap();
    } else {
        let _ = std::fs::remove_file(flag);
    }
}

#[tokio::test]
async fn a_down_check_is_mailed_once_to_both_recipients_and_its_end_in_the_same_thread() {
    let dir = mailbox_dir();
    let smtp = smtp_sink(dir.path());
    let mailbox = Mailbox::new(dir.path());
    let mut target = TargetServer::start().await;
    let config = config(
        "group_wait = \"2s\"\nreminder = \"0s\"",
        smtp.port,
        &target.url(),
    );
    let app = spawn_app(TestConfig::new(&config)).await;
    app.wait_for_first_results().await;

    // Stopped just before a probe, so the first failed probe follows the stop at once.
    app.before_next_probe("api", SECOND, Duration::from_millis(300))
        .await;
    let stopped = Instant::now();
    target.stop().await;

    let mails = mailbox.wait_for(1, Duration::from_secs(10)).await;
    let down = &mails[0];
    assert_eq!(down.subject(), "DOWN · api · test");
    assert_eq!(down.mail_from, "healthmon@example.com");
    assert_eq!(
        down.rcpt_tos,
        ["oncall@example.com", "lead@example.com"],
        "one message to both recipients"
    );
    assert_eq!(down.to(), ["oncall@example.com", "lead@example.com"]);
    assert!(down.message_id().starts_with('<') && down.message_id().ends_with('>'));
    assert_eq!(down.in_reply_to(), None);
    assert_eq!(down.row("Check"), Some("api"));
    assert_eq!(down.row("Level"), Some("critical"));
    assert!(
        down.row("First error")
            .is_some_and(|e| e.contains("Connection refused")),
        "{}",
        down.text
    );

    // Restarted mid-outage: nothing is said again.
    let app = app.restart().await;
    app.wait_for_first_results().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        mailbox.subjects(),
        ["DOWN · api · test"],
        "the restart repeats nothing"
    );
    assert!(
        app.previous_log().contains("Notification queued."),
        "the first run logged its one notification:\n{}",
        app.previous_log()
    );
    assert!(!app.log().contains("Notification queued"), "{}", app.log());

    // Restarted just before a trial probe of the open breaker, so it sees the end at once.
    app.before_next_probe("api", SECOND, Duration::from_millis(300))
        .await;
    target.restart().await;
    let outage = stopped.elapsed().as_secs_f64();

    let mails = mailbox.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        mailbox.subjects(),
        ["DOWN · api · test", "RESOLVED · api · test"],
        "exactly one resolution"
    );
    let end = &mails[1];
    assert_eq!(end.rcpt_tos, ["oncall@example.com", "lead@example.com"]);
    assert_eq!(
        end.in_reply_to(),
        Some(down.message_id()),
        "in the alert's thread"
    );
    assert!(
        end.references().contains(&down.message_id()),
        "{:?}",
        end.headers
    );
    assert_ne!(end.message_id(), down.message_id());
    // The stop and the restart came just before probes, so what the daemon saw is the outage
    // to within scheduling noise; the email rounds to whole seconds.
    let stated = stated_seconds(end.row("Duration").expect("a Duration row"));
    assert!(
        (stated - outage).abs() <= 0.75,
        "the email says {stated} s, the outage lasted {outage:.2} s:\n{}",
        end.text
    );

    let alerts = alerts(&app).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["state"], "resolved");
    let lasted = seconds(&alert["duration_seconds"]);
    assert!(
        (lasted - outage).abs() <= 0.25,
        "/api/v1/alerts says {lasted} s, the outage lasted {outage:.2} s"
    );
    let (_, incidents) = app.get_json("/api/v1/incidents?check=api").await;
    let incidents = incidents["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let incident = seconds(&incidents[0]["duration_seconds"]);
    assert!(
        (incident - lasted).abs() < 0.01,
        "the alert lasts as long as the incident: {incident} s and {lasted} s"
    );

    // The month's availability so far, as the store has it when the email was written.
    let stated: f64 = end
        .row("Availability")
        .and_then(|a| a.strip_suffix(" % this month so far"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no availability in:\n{}", end.text));
    // The Date header has whole seconds: the email was written within the second after it,
    // and availability only grows while the check stays up.
    let written = end.date();
    let month = written.format("%Y-%m-01T00:00:00Z");
    let mut bounds = Vec::new();
    for until in [written.timestamp(), written.timestamp() + 1] {
        let (_, availability) = app
            .get_json(&format!("/api/v1/availability?from={month}&to={until}"))
            .await;
        bounds.push(seconds(&availability["checks"]["api"]["percent"]));
    }
    assert!(
        stated < 100.0 && stated >= bounds[0] - 0.1 && stated <= bounds[1] + 0.1,
        "the email says {stated} %, the store {} % to {} % over the second it was written",
        bounds[0],
        bounds[1]
    );
}

/// The first notification of the only alert, once it satisfies `ready`.
async fn notification_when(app: &TestApp, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts = alerts(app).await;
        if let Some(n) = alerts.first().map(|a| &a["notifications"][0]) {
            if ready(n) {
                return n.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {alerts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_mail_server_refusing_or_gone_loses_nothing_and_the_failure_shows_meanwhile() {
    let dir = mailbox_dir();
    let smtp = smtp_sink(dir.path());
    let port = smtp.port;
    let mailbox = Mailbox::new(dir.path());
    refuse(dir.path(), true);
    let mut target = TargetServer::start().await;
    let config = config(
        "group_wait = \"1s\"\nreminder = \"0s\"",
        port,
        &target.url(),
    );
    let app = spawn_app(TestConfig::new(&config)).await;
    app.wait_for_first_results().await;
    target.stop().await;

    // Refused with 451: kept, retried 5 s later, and visible everywhere meanwhile.
    let n = notification_when(&app, "a first refused attempt", |n| {
        n["attempts"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(n["state"], "pending", "{n}");
    assert_eq!(n["event"], "firing", "{n}");
    assert!(n["error"].as_str().unwrap().contains("451"), "{n}");
    let metrics = app.metrics().await;
    let failed = "healthmon_notifications_failed_total{notifier=\"oncall\"";
    assert!(metric(&metrics, failed).unwrap() >= 1.0, "{metrics}");
    assert!(
        metric(&metrics, "healthmon_outbox_depth").unwrap() >= 1.0,
        "{metrics}"
    );
    let (_, detailed) = app.get_json("/health/detailed").await;
    let oncall = &detailed["alerting"]["notifiers"]["oncall"];
    assert!(
        oncall["last_error"].as_str().unwrap().contains("451"),
        "{}",
        detailed["alerting"]
    );
    assert_eq!(oncall["pending"], 1, "{}", detailed["alerting"]);
    assert_eq!(detailed["alerting"]["outbox_depth"], 1);
    assert!(mailbox.mails().is_empty());

    // The server goes away altogether before the second attempt.
    drop(smtp);
    refuse(dir.path(), false);
    let n = notification_when(&app, "a second attempt, with no server", |n| {
        n["attempts"].as_u64() >= Some(2)
    })
    .await;
    assert_eq!(n["state"], "pending", "{n}");
    assert!(
        n["error"].as_str().unwrap().contains("Connection refused"),
        "{n}"
    );
    let metrics = app.metrics().await;
    assert!(metric(&metrics, failed).unwrap() >= 2.0, "{metrics}");
    assert!(metric(&metrics, "healthmon_outbox_depth").unwrap() >= 1.0);

    // Back, accepting: the third attempt (10 s after the second) delivers it, once.
    let _smtp = smtp_sink_on(dir.path(), port);
    let mails = mailbox.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mails[0].subject(), "DOWN · api · test");
    assert_eq!(
        mails[0].rcpt_tos,
        ["oncall@example.com", "lead@example.com"]
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mailbox.mails().len(), 1, "{:?}", mailbox.subjects());
    let n = notification_when(&app, "the notification to be sent", |n| {
        n["state"] == "sent"
    })
    .await;
    assert_eq!(n["attempts"], 3, "{n}");
    assert!(n["sent_at"].is_string(), "{n}");
    let metrics = app.metrics().await;
    assert_eq!(metric(&metrics, "healthmon_outbox_depth"), Some(0.0));
    assert_eq!(metric(&metrics, failed), Some(2.0));
}

#[tokio::test]
async fn an_acknowledged_alert_is_reminded_no_more_but_its_end_is_still_mailed() {
    const TOKEN: &str = "ack-token-5d1e";
    let dir = mailbox_dir();
    let smtp = smtp_sink(dir.path());
    let mailbox = Mailbox::new(dir.path());
    let mut target = TargetServer::start().await;
    let body = config(
        "group_wait = \"1s\"\nreminder = \"2s\"\nreminder_backoff = 1",
        smtp.port,
        &target.url(),
    );
    let app = spawn_app(TestConfig::with_server(
        &body,
        &format!("token = \"{TOKEN}\""),
    ))
    .await;
    app.wait_for_first_results().await;
    target.stop().await;

    // The alert, then a reminder every 2 s.
    let mails = mailbox.wait_for(3, Duration::from_secs(15)).await;
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject()).collect();
    assert_eq!(
        subjects,
        [
            "DOWN · api · test",
            "STILL DOWN · api · test",
            "STILL DOWN · api · test"
        ]
    );
    assert_eq!(mails[1].row("Reminder"), Some("1"));
    assert_eq!(mails[2].row("Reminder"), Some("2"));
    for reminder in &mails[1..] {
        assert_eq!(reminder.in_reply_to(), Some(mails[0].message_id()));
    }

    // Acknowledged right after a reminder, well before the next is due.
    assert_eq!(app.get("/api/v1/alerts").await.status(), 401);
    let (_, list) = app.get_json_as("/api/v1/alerts", TOKEN).await;
    let id = list["alerts"][0]["id"].as_i64().expect("an alert id");
    assert_eq!(list["alerts"][0]["state"], "firing");
    let path = format!("/api/v1/alerts/{id}/ack");
    assert_eq!(app.post(&path, None).await.status(), 401);
    let acked = app.post(&path, Some(TOKEN)).await;
    assert_eq!(acked.status(), 200);
    let acked: Value = acked.json().await.unwrap();
    assert_eq!(acked["state"], "acknowledged", "{acked}");
    let before = mailbox.mails().len();
    let (_, list) = app.get_json_as("/api/v1/alerts", TOKEN).await;
    assert_eq!(list["alerts"][0]["state"], "acknowledged", "{list}");
    assert!(list["alerts"][0]["acknowledged_at"].is_string(), "{list}");

    // Three reminder periods: nothing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        mailbox.mails().len(),
        before,
        "no reminder after the acknowledgement: {:?}",
        mailbox.subjects()
    );

    target.restart().await;
    let mails = mailbox.wait_for(before + 1, Duration::from_secs(10)).await;
    let end = mails.last().unwrap();
    assert_eq!(end.subject(), "RESOLVED · api · test");
    assert_eq!(end.in_reply_to(), Some(mails[0].message_id()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        mailbox.mails().len(),
        before + 1,
        "{:?}",
        mailbox.subjects()
    );
    let (_, list) = app.get_json_as("/api/v1/alerts", TOKEN).await;
    assert_eq!(list["alerts"][0]["state"], "resolved", "{list}");
}
