//! `redis` against the machine's Redis, including stopping and restarting it.

use crate::helpers::*;
use crate::services::*;
use std::time::Duration;

async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_does_a_write_read_round_trip_and_reports_memory() {
    let _shared = REDIS.read().await;
    let config = format!(
        "[[check]]\nname = \"cache\"\nkind = \"redis\"\nurl = \"{}\"\n",
        redis_url()
    );
    let (code, body) = check_once(&config);
    let cache = &body["checks"]["cache"];
    assert_eq!(code, 0, "{body}");
    assert!(cache["observed"]["used_memory"].as_u64().unwrap() > 0);
    assert!(cache["observed"]["server_version"].is_string());
    // The probe's key is unique to the check and expires on its own.
    let mut conn = redis_conn().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg("healthmon:probe:cache")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 10_000,
        "the probe key must have a short TTL, got {ttl}"
    );
}

#[tokio::test]
async fn a_celery_queue_past_its_limits_degrades_then_fails() {
    let _shared = REDIS.read().await;
    let queue = format!("healthmon-test-queue-{}", std::process::id());
    let mut conn = redis_conn().await;
    let config = |warn: u32, crit: u32| {
        format!("[[check]]\nname = \"celery\"\nkind = \"redis\"\nurl = \"{}\"\nqueue = \"{queue}\"\nwarn = {warn}\ncrit = {crit}\n", redis_url())
    };
    let () = redis::cmd("RPUSH")
        .arg(&queue)
        .arg(vec!["task"; 12])
        .query_async(&mut conn)
        .await
        .unwrap();
    let (_, body) = check_once(&config(10, 100));
    assert_eq!(body["checks"]["celery"]["status"], "degraded", "{body}");
    assert_eq!(body["checks"]["celery"]["observed"]["queue_depth"], 12);
    let (_, body) = check_once(&config(5, 10));
    assert_eq!(body["checks"]["celery"]["status"], "unhealthy", "{body}");
    let () = redis::cmd("DEL")
        .arg(&queue)
        .query_async(&mut conn)
        .await
        .unwrap();
    let (_, body) = check_once(&config(5, 10));
    assert_eq!(body["checks"]["celery"]["status"], "healthy", "{body}");
    assert_eq!(body["checks"]["celery"]["observed"]["queue_depth"], 0);
}

#[tokio::test]
async fn a_wrong_password_is_unhealthy_without_showing_it() {
    let _shared = REDIS.read().await;
    let config = "[[check]]\nname = \"cache\"\nkind = \"redis\"\nurl = \"redis://:Canary-Pa55word@127.0.0.1:6379/0\"\n";
    let (_, body) = check_once(config);
    assert_eq!(body["checks"]["cache"]["status"], "unhealthy", "{body}");
    assert!(!body.to_string().contains("Canary-Pa55word"), "{body}");
}

#[tokio::test]
async fn a_stopped_redis_is_seen_down_and_up_again_after_it_restarts() {
    let _exclusive = REDIS.write().await;
    let config = format!(
        "[[check]]\nname = \"cache\"\nkind = \"redis\"\nurl = \"{}\"\ncritical = true\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 2\nmax_backoff = \"2s\"\n",
        redis_url()
    );
    let app = spawn_app(TestConfig::new(&config)).await;
    app.wait_for_first_results().await;
    assert_eq!(app.health().await.0, 200);

    let stopped = StoppedRedis::stop();
    let app_ref = &app;
    // failure_threshold × interval, plus a second.
    wait_until(
        Duration::from_secs(3),
        "Redis to be seen down",
        || async move { app_ref.health().await.0 == 503 },
    )
    .await;
    let (_, body) = app.health().await;
    assert!(
        body["checks"]["cache"]["message"]
            .as_str()
            .unwrap()
            .contains("connect failed"),
        "{body}"
    );
    // A confirmed outage (failure_threshold failures) opens the breaker and an incident.
    wait_until(
        Duration::from_secs(3),
        "the outage to be confirmed",
        || async move { app_ref.health().await.1["checks"]["cache"]["circuit"] == "open" },
    )
    .await;

    stopped.start();
    wait_until(
        Duration::from_secs(10),
        "Redis to be seen up again",
        || async move { app_ref.health().await.0 == 200 },
    )
    .await;
    // The outage is on record as a closed incident.
    wait_until(
        Duration::from_secs(5),
        "the incident to be recorded and closed",
        || async move {
            let (_, incidents) = app_ref.get_json("/api/v1/incidents?check=cache").await;
            incidents["incidents"][0]["ended_at"].is_string()
        },
    )
    .await;
}
