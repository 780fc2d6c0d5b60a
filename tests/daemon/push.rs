//! `push` checks: heartbeats over HTTP from the jobs being watched.

use crate::helpers::*;
use std::time::Duration;

const TOKEN: &str = "nightly-backup-8c1e4f2a";

#[tokio::test]
async fn a_push_check_fails_when_heartbeats_stop_and_recovers_when_they_resume() {
    let config = format!(
        "[[check]]\nname = \"backup\"\nkind = \"push\"\ntoken = \"{TOKEN}\"\ninterval = \"2s\"\ngrace = \"1s\"\ncritical = true\n"
    );
    let app = spawn_app(TestConfig::new(&config)).await;
    let push = |query: &'static str| {
        let url = app.url(&format!("/api/v1/push/{TOKEN}{query}"));
        let client = app.client.clone();
        async move { client.post(url).send().await.unwrap() }
    };
    let app_ref = &app;

    for _ in 0..4 {
        let r = push("").await;
        assert_eq!(r.status().as_u16(), 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_until(
        Duration::from_secs(5),
        "a healthy push check",
        || async move { app_ref.health().await.1["checks"]["backup"]["status"] == "healthy" },
    )
    .await;

    // A wrong token is 404 and changes nothing.
    let wrong = app
        .client
        .post(app.url("/api/v1/push/nightly-backup-00000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 404);

    // Silence: unhealthy once interval + grace have passed (and the next evaluation ran).
    wait_until(
        Duration::from_secs(8),
        "the missed heartbeat to be noticed",
        || async move { app_ref.health().await.0 == 503 },
    )
    .await;
    let (_, body) = app.health().await;
    assert!(
        body["checks"]["backup"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no heartbeat for"),
        "{body}"
    );
    let (_, one) = app.get_json("/health/backup").await;
    assert!(one["observed"]["last_heartbeat"].is_string(), "{one}");
    // No breaker stands between a push check and the heartbeat that ends its outage.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        app.health().await.1["checks"]["backup"]["circuit"],
        "closed"
    );

    // The job reports in again.
    push("").await;
    wait_until(
        Duration::from_secs(5),
        "recovery after a heartbeat",
        || async move { app_ref.health().await.0 == 200 },
    )
    .await;

    // The job reports a failure.
    let r = push("?status=fail&message=disk%20full").await;
    assert_eq!(r.status().as_u16(), 200);
    wait_until(
        Duration::from_secs(5),
        "the reported failure",
        || async move {
            app_ref.health().await.1["checks"]["backup"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("disk full"))
        },
    )
    .await;
    assert_eq!(push("?status=maybe").await.status().as_u16(), 400);
}

#[test]
fn push_tokens_must_be_long_and_unique() {
    let short = "[[check]]\nname = \"a\"\nkind = \"push\"\ntoken = \"short\"\n";
    assert!(check_once_err(short).contains("check[0].token: expected at least 16 characters"));
    let dup = format!("[[check]]\nname = \"a\"\nkind = \"push\"\ntoken = \"{TOKEN}\"\n[[check]]\nname = \"b\"\nkind = \"push\"\ntoken = \"{TOKEN}\"\n");
    assert!(check_once_err(&dup).contains("check[1].token: already used"));
}

fn check_once_err(config: &str) -> String {
    let config = TestConfig::new(config);
    let (code, _, stderr) = run_cli(&["validate", "-c", config.path.to_str().unwrap()]);
    assert_eq!(code, 3);
    stderr
}
