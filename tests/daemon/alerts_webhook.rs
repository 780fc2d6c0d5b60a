//! The webhook notifier against a local receiver: the documented body and headers, a refusal
//! retried with the same notification id, and its secrets kept out of everything shown.

use crate::helpers::*;
use crate::services::*;
use std::time::Duration;

const TOKEN: &str = "hook-secret-9f3a";
const PASSWORD: &str = "url-pw-71c2";

#[tokio::test]
async fn a_webhook_gets_the_versioned_body_with_its_headers_and_a_refusal_is_retried() {
    let hook = WebhookReceiver::start().await;
    hook.echo_headers();
    let mut target = TargetServer::start().await;
    // The password in the URL and the header's value are secrets.
    let url = hook
        .url()
        .replacen("http://", &format!("http://healthmon:{PASSWORD}@"), 1);
    let body = format!(
        "[alerting]\ngroup_wait = \"1s\"\nreminder = \"0s\"\n\
         [[notifier]]\nname = \"hooks\"\nkind = \"webhook\"\nurl = \"{url}\"\n\
         headers = {{ Authorization = \"Bearer {TOKEN}\", X-Team = \"payments\" }}\ntimeout = \"2s\"\n\
         [[check]]\nname = \"api\"\nkind = \"http\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\
         failure_threshold = 2\nmax_backoff = \"1s\"\ncritical = true\n",
        target.url()
    );
    let app = spawn_app(TestConfig::new(&body)).await;
    app.wait_for_first_results().await;
    target.stop().await;

    let hooks = hook.wait_for(1, Duration::from_secs(10)).await;
    let firing = &hooks[0];
    assert_eq!(firing.header("content-type"), Some("application/json"));
    assert_eq!(
        firing.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(firing.header("x-team"), Some("payments"));
    assert_eq!(firing.header("x-healthmon-event"), Some("firing"));
    let b = &firing.body;
    assert_eq!(b["version"], 1);
    assert_eq!(b["event"], "firing");
    assert_eq!(b["service"]["name"], "test");
    assert_eq!(
        firing.header("x-healthmon-notification"),
        Some(&*b["id"].to_string())
    );
    assert!(b["created_at"].as_str().unwrap().ends_with('Z'), "{b}");
    let alert = &b["alerts"][0];
    assert_eq!(alert["kind"], "state");
    assert_eq!(alert["check"], "api");
    assert_eq!(alert["level"], "critical");
    assert_eq!(alert["state"], "firing");
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{b}"
    );

    // The receiver fails with 500 (quoting our headers back): the resolution is retried, with
    // the same id, until it takes it.
    hook.answer(500);
    target.restart().await;
    let hooks = hook.wait_for(2, Duration::from_secs(10)).await;
    let refused = &hooks[1];
    assert_eq!(refused.body["event"], "resolved");
    assert_eq!(refused.answered, 500);
    wait_until(
        Duration::from_secs(5),
        "the failure in /metrics",
        || async {
            metric(
                &app.metrics().await,
                "healthmon_notifications_failed_total{notifier=\"hooks\"",
            ) == Some(1.0)
        },
    )
    .await;
    // The refusal's text quoted our headers back; once the attempt is stored, the API shows
    // it with the token scrubbed.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let error = loop {
        let (_, list) = app.get_json("/api/v1/alerts").await;
        let found = list["alerts"][0]["notifications"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["event"] == "resolved")
            .and_then(|n| n["error"].as_str())
            .map(str::to_string);
        if let Some(found) = found {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no stored error on the refused resolution: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        error.starts_with("500 Internal Server Error: refused; you sent"),
        "{error}"
    );
    assert!(error.contains("\"authorization\": \"***\""), "{error}");
    hook.answer(200);
    let hooks = hook.wait_for(3, Duration::from_secs(15)).await;
    let retried = &hooks[2];
    assert_eq!(retried.answered, 200);
    assert_eq!(
        retried.body, refused.body,
        "a retry sends exactly the same body"
    );
    assert_eq!(
        retried.header("x-healthmon-notification"),
        refused.header("x-healthmon-notification")
    );
    let resolved = &retried.body["alerts"][0];
    assert_eq!(resolved["state"], "resolved");
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    assert!(
        resolved["duration_seconds"].as_f64().unwrap() > 1.0,
        "{resolved}"
    );
    assert!(resolved["availability_month_percent"].as_f64().unwrap() < 100.0);

    // Neither secret is anywhere a user can see.
    let (_, alerts) = app.get_json("/api/v1/alerts").await;
    let (_, detailed) = app.get_json("/health/detailed").await;
    let metrics = app.metrics().await;
    let (code, validate, _) = run_cli(&["validate", "-c", app.config.path.to_str().unwrap()]);
    assert_eq!(code, 0, "{validate}");
    for (what, text) in [
        ("the refusal", error),
        ("/api/v1/alerts", alerts.to_string()),
        ("/health/detailed", detailed.to_string()),
        ("/metrics", metrics),
        ("the log", app.log()),
        ("validate", validate),
    ] {
        for secret in [TOKEN, PASSWORD] {
            assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        }
    }
}
