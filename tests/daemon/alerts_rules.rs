//! Noise control and rules through the real daemon and a real SMTP server: a group of failing
//! checks is one email, a child of a down parent says nothing, a flapping check says so once,
//! a threshold rule holds for its `for` and changes level as one alert, and maintenance
//! silences an outage (and its cost in availability) but never the end of an earlier alert.

use crate::helpers::*;
use crate::services::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// `[alerting]` with `alerting` and an email notifier `oncall` on the sink at `port`.
fn alerting(alerting: &str, port: u16) -> String {
    format!(
        "[alerting]\nreminder = \"0s\"\n{alerting}\n\
         [[notifier]]\nname = \"oncall\"\nkind = \"email\"\nurl = \"smtp://127.0.0.1:{port}?tls=none\"\n\
         from = \"healthmon@example.com\"\nto = [\"oncall@example.com\"]\n"
    )
}

/// An HTTP check probed every second, confirmed down after two failures.
fn http_check(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[check]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"{url}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\
         failure_threshold = 2\nmax_backoff = \"1s\"\ncritical = true\n{extra}\n"
    )
}

/// A command check probed every second that runs `script` with `sh -c`, where `$F` is `file`.
fn command_check(name: &str, file: &Path, script: &str, extra: &str) -> String {
    format!(
        "[[check]]\nname = \"{name}\"\nkind = \"command\"\ncommand = [\"/bin/sh\", \"-c\", \"F={}; {script}\"]\n\
         interval = \"1s\"\ntimeout = \"900ms\"\nmax_backoff = \"1s\"\n{extra}\n",
        file.display()
    )
}

fn set(file: &Path, value: &str) {
    std::fs::write(file, value).unwrap();
}

/// Sleeps until `at`.
async fn until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}

async fn alerts(app: &TestApp) -> Vec<Value> {
    let (code, body) = app.get_json("/api/v1/alerts").await;
    assert_eq!(code, 200, "{body}");
    body["alerts"].as_array().unwrap().clone()
}

#[tokio::test]
async fn twenty_checks_failing_within_the_group_wait_send_one_email_naming_all_twenty() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(dir.path());
    let mailbox = Mailbox::new(dir.path());
    let mut target = TargetServer::start().await;
    let names: Vec<String> = (0..20).map(|i| format!("web-{i:02}")).collect();
    let mut body = alerting("group_wait = \"4s\"", smtp.port);
    for name in &names {
        body += &http_check(name, &target.url(), "");
    }
    let app = spawn_app(TestConfig::new(&body)).await;
    app.wait_for_first_results().await;
    target.stop().await;

    let mails = mailbox.wait_for(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(mailbox.mails().len(), 1, "{:?}", mailbox.subjects());
    let down = &mails[0];
    assert_eq!(down.subject(), "DOWN · 20 checks · test");
    let named: BTreeSet<&str> = down.rows("Check").into_iter().collect();
    let expected: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(named, expected, "{}", down.text);

    // They come back together: one all-clear, in the same thread.
    target.restart().await;
    let mails = mailbox.wait_for(2, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(mailbox.mails().len(), 2, "{:?}", mailbox.subjects());
    assert_eq!(mails[1].subject(), "RESOLVED · 20 checks · test");
    assert_eq!(mails[1].in_reply_to(), Some(down.message_id()));
    let resolved: BTreeSet<&str> = mails[1].rows("Check").into_iter().collect();
    assert_eq!(resolved, expected);
}

#[tokio::test]
async fn a_child_whose_parent_is_down_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(dir.path());
    let mailbox = Mailbox::new(dir.path());
    let mut network = TargetServer::start().await;
    let mut api = TargetServer::start().await;
    let body = format!(
        "{}{}{}",
        alerting("group_wait = \"1s\"", smtp.port),
        http_check("network", &network.url(), ""),
        http_check("api", &api.url(), "depends_on = [\"network\"]"),
    );
    let app = spawn_app(TestConfig::new(&body)).await;
    app.wait_for_first_results().await;
    network.stop().await;
    api.stop().await;

    mailbox.wait_for(1, Duration::from_secs(15)).await;
    // Both are confirmed down; only the parent is told.
    wait_until(Duration::from_secs(15), "both checks unhealthy", || async {
        let (_, d) = app.get_json("/health/detailed").await;
        d["checks"]["network"]["status"] == "unhealthy"
            && d["checks"]["api"]["status"] == "unhealthy"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(mailbox.subjects(), ["DOWN · network · test"]);
    let held: Vec<Value> = alerts(&app)
        .await
        .into_iter()
        .filter(|a| a["check"] == "api")
        .collect();
    assert!(
        held.iter()
            .all(|a| a["notifications"].as_array().is_none_or(Vec::is_empty)),
        "the child's alert is held back, not sent: {held:?}"
    );

    // Both come back: the parent's all-clear, and nothing about the child nobody was told of.
    network.restart().await;
    api.restart().await;
    mailbox.wait_for(2, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        mailbox.subjects(),
        ["DOWN · network · test", "RESOLVED · network · test"]
    );
}

#[tokio::test]
async fn a_flapping_check_sends_one_flapping_notice_and_one_final_state() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(dir.path());
    let mailbox = Mailbox::new(dir.path());
    let state = dir.path().join("exit-code");
    set(&state, "0");
    let body = format!(
        "{}{}",
        // A group wait longer than any one outage of the flapping, even on a busy machine.
        alerting("group_wait = \"8s\"", smtp.port),
        command_check(
            "api",
            &state,
            "exit $(cat $F)",
            "failure_threshold = 1\nsuccess_threshold = 1\ncritical = true"
        ),
    );
    let app = spawn_app(TestConfig::new(&body)).await;
    app.wait_for_first_results().await;

    // A state change at nearly every probe for 14 s: without flapping detection, a dozen
    // outages, each told and resolved.
    let start = Instant::now();
    for i in 1..=14 {
        set(&state, if i % 2 == 1 { "2" } else { "0" });
        until(start + Duration::from_secs(i)).await;
    }
    // It settles, failing, long enough for the weighted change rate to fall under the low mark.
    set(&state, "2");
    let mails = mailbox.wait_for(2, Duration::from_secs(45)).await;
    assert_eq!(
        mailbox.subjects(),
        ["FLAPPING · api · test", "STABLE · api · test"],
        "one notice, then the state it settled in"
    );
    assert_eq!(
        mails[1].row("Check status"),
        Some("unhealthy"),
        "the final state says where it settled:\n{}",
        mails[1].text
    );
    assert_eq!(mails[1].in_reply_to(), Some(mails[0].message_id()));

    // Its recovery is told too, once.
    set(&state, "0");
    let mails = mailbox.wait_for(3, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mailbox.mails().len(), 3, "{:?}", mailbox.subjects());
    assert_eq!(mails[2].subject(), "RESOLVED · api · test");
}

#[tokio::test]
async fn a_threshold_rule_holds_for_its_for_and_changes_level_as_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(dir.path());
    let mailbox = Mailbox::new(dir.path());
    let value = dir.path().join("value");
    set(&value, "10");
    let body = format!(
        "{}{}[[alert]]\nname = \"hot\"\ncheck = \"api\"\nmetric = \"temperature\"\nwarn = 50\ncrit = 90\n\
         for = \"3s\"\nclear_for = \"2s\"\n",
        alerting("group_wait = \"0s\"", smtp.port),
        command_check(
            "api",
            &value,
            "echo \\\"OK | temperature=$(cat $F)\\\"",
            ""
        ),
    );
    let app = spawn_app(TestConfig::new(&body)).await;
    app.wait_for_first_results().await;
    let (_, api) = app.get_json("/health/api").await;
    assert_eq!(api["observed"]["temperature"], 10.0, "{api}");

    // A one-second spike: nothing.
    set(&value, "95");
    tokio::time::sleep(Duration::from_secs(1)).await;
    set(&value, "10");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(mailbox.mails().is_empty(), "{:?}", mailbox.subjects());
    assert!(alerts(&app).await.is_empty());

    // Five seconds of warning: fired once it held for three.
    set(&value, "60");
    let held = Instant::now();
    let mails = mailbox.wait_for(1, Duration::from_secs(10)).await;
    let fired = held.elapsed();
    assert!(
        fired >= Duration::from_secs(3),
        "fired after {fired:?}, before the 3 s hold"
    );
    assert_eq!(mails[0].subject(), "WARNING · hot (api) · test");
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(fired)).await;

    // Critical, then warning again, then clear: the same alert throughout.
    set(&value, "95");
    mailbox.wait_for(2, Duration::from_secs(10)).await;
    set(&value, "60");
    mailbox.wait_for(3, Duration::from_secs(10)).await;
    set(&value, "10");
    let mails = mailbox.wait_for(4, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        mailbox.subjects(),
        [
            "WARNING · hot (api) · test",
            "CRITICAL · hot (api) · test",
            "WARNING · hot (api) · test",
            "RESOLVED · hot (api) · test"
        ]
    );
    for later in &mails[1..] {
        assert_eq!(
            later.in_reply_to(),
            Some(mails[0].message_id()),
            "one thread"
        );
    }
    let alerts = alerts(&app).await;
    assert_eq!(alerts.len(), 1, "one alert whose level changed: {alerts:?}");
    assert_eq!(alerts[0]["kind"], "threshold");
    assert_eq!(alerts[0]["rule"], "hot");
    assert_eq!(alerts[0]["state"], "resolved");
}

#[tokio::test]
async fn maintenance_over_an_outage_sends_nothing_costs_nothing_and_ends_an_earlier_alert() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = smtp_sink(dir.path());
    let mailbox = Mailbox::new(dir.path());
    let mut db = TargetServer::start().await;
    let mut api = TargetServer::start().await;
    // A window for every check from 12 s to 24 s from now, in whole seconds.
    let now = chrono::Utc::now();
    let begin = Instant::now();
    let at = |s: i64| {
        (now + chrono::Duration::seconds(s))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let body = format!(
        "{}{}{}[[maintenance]]\nname = \"upgrade\"\nstart = \"{}\"\nend = \"{}\"\n",
        alerting("group_wait = \"1s\"", smtp.port),
        http_check("db", &db.url(), ""),
        http_check("api", &api.url(), ""),
        at(12),
        at(24),
    );
    let app = spawn_app(TestConfig::new(&body)).await;
    app.wait_for_first_results().await;

    // db fails before the window and is told.
    db.stop().await;
    mailbox.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mailbox.subjects(), ["DOWN · db · test"]);
    assert!(
        begin.elapsed() < Duration::from_secs(11),
        "the machine is too slow for this test's timeline"
    );

    // Inside the window: api fails and recovers, db recovers.
    until(begin + Duration::from_secs(14)).await;
    api.stop().await;
    until(begin + Duration::from_secs(19)).await;
    api.restart().await;
    db.restart().await;
    until(begin + Duration::from_secs(27)).await;
    assert_eq!(
        mailbox.subjects(),
        ["DOWN · db · test", "RESOLVED · db · test"],
        "nothing about api; db's all-clear although it came inside the window"
    );

    // api's outage happened, and is on record, but lay inside the window: 100 %.
    let (_, incidents) = app.get_json("/api/v1/incidents?check=api").await;
    assert_eq!(
        incidents["incidents"].as_array().unwrap().len(),
        1,
        "{incidents}"
    );
    let (_, availability) = app
        .get_json(&format!(
            "/api/v1/availability?from={}&to={}",
            at(0),
            at(27)
        ))
        .await;
    let api = &availability["checks"]["api"];
    assert_eq!(api["percent"], 100.0, "{api}");
    assert_eq!(api["downtime_seconds"], 0.0, "{api}");
    let maintenance = api["maintenance_seconds"].as_f64().unwrap();
    assert!((maintenance - 12.0).abs() < 0.5, "{api}");
    // db's outage began before the window: the part before it counts.
    let db = &availability["checks"]["db"];
    assert!(db["percent"].as_f64().unwrap() < 100.0, "{db}");
    assert!(db["downtime_seconds"].as_f64().unwrap() > 1.0, "{db}");
}
