//! The store failing under the daemon: another process holding the database's write lock
//! (`BEGIN EXCLUSIVE`) across a confirmed outage. No incident change may be lost, and the
//! checks must not wait for the store.

use crate::helpers::*;
use std::time::{Duration, Instant};

/// Holds the write lock of the daemon's database from another connection.
struct Lock(rusqlite::Connection);

impl Lock {
    fn take(app: &TestApp) -> Lock {
        let conn = rusqlite::Connection::open(&app.config.db).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        Lock(conn)
    }

    fn release(self) {
        self.0.execute_batch("COMMIT").unwrap();
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[tokio::test]
async fn an_outage_that_opens_and_closes_while_the_database_is_locked_is_recorded_whole() {
    let mut target = TargetServer::start().await;
    let config = format!(
        "[[check]]\nname = \"api\"\nkind = \"http\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 2\nmax_backoff = \"1s\"\ncritical = true\n",
        target.url()
    );
    let app = spawn_app(TestConfig::new(&config)).await;
    app.wait_for_first_results().await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The lock outlasts several of the writer's 5 s waits; the outage is confirmed and ends
    // inside it.
    let lock = Lock::take(&app);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Measured from before the stop: a graceful stop takes up to 2 s, failing probes already.
    let down_at = Instant::now();
    target.stop().await;
    let app_ref = &app;
    wait_until(
        Duration::from_secs(10),
        "api to be unhealthy",
        || async move { app_ref.health().await.1["checks"]["api"]["status"] == "unhealthy" },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    target.restart().await;
    let outage = down_at.elapsed().as_secs_f64();
    wait_until(Duration::from_secs(10), "api to recover", || async move {
        app_ref.health().await.1["checks"]["api"]["status"] == "healthy"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;

    let (_, detailed) = app.get_json("/health/detailed").await;
    assert_eq!(
        detailed["store"]["status"], "failing",
        "{}",
        detailed["store"]
    );
    assert!(
        detailed["store"]["pending_changes"].as_u64().unwrap() >= 2,
        "the open and the close wait for the store: {}",
        detailed["store"]
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(metric(&metrics, "healthmon_store_failing"), 1.0);
    assert!(metric(&metrics, "healthmon_store_errors_total") >= 1.0);
    assert!(metric(&metrics, "healthmon_store_oldest_pending_change_seconds") >= 8.0);
    lock.release();

    wait_until(
        Duration::from_secs(15),
        "the store to catch up",
        || async move {
            let (_, d) = app_ref.get_json("/health/detailed").await;
            d["store"]["status"] == "ok" && d["store"]["pending_changes"] == 0
        },
    )
    .await;
    let (_, incidents) = app.get_json("/api/v1/incidents?check=api").await;
    let list = incidents["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{incidents}");
    assert!(
        list[0]["ended_at"].is_string(),
        "the close was kept: {incidents}"
    );
    let lasted = list[0]["duration_seconds"].as_f64().unwrap();
    assert!(
        (lasted - outage).abs() < 1.6,
        "the incident lasted {lasted} s, the outage {outage:.1} s"
    );
    let (_, availability) = app.get_json("/api/v1/availability?window=1h").await;
    let api = &availability["checks"]["api"];
    assert!(
        (api["downtime_seconds"].as_f64().unwrap() - lasted).abs() < 0.01,
        "{api}"
    );
    assert!(api["percent"].as_f64().unwrap() < 100.0, "{api}");
}

#[tokio::test]
async fn checks_keep_their_schedule_while_the_database_is_locked() {
    let mut config = String::new();
    for i in 0..20 {
        config.push_str(&format!(
            "[[check]]\nname = \"mem-{i}\"\nkind = \"memory\"\ninterval = \"1s\"\n"
        ));
    }
    let mut config = TestConfig::new(&config);
    // The store's own check, as the bundled monitor.toml has it.
    let store_check = format!(
        "[[check]]\nname = \"store\"\nkind = \"sqlite\"\npath = \"{}\"\nwritable = true\ninterval = \"2s\"\ntimeout = \"1s\"\n",
        config.db.display()
    );
    config.append(&store_check);
    let app = spawn_app(config).await;
    app.wait_for_first_results().await;
    let lock = Lock::take(&app);
    let started = Instant::now();
    let mut oldest_seen = 0.0_f64;
    while started.elapsed() < Duration::from_secs(12) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, health) = app.health().await;
        for (name, check) in health["checks"].as_object().unwrap() {
            if name == "store" {
                continue;
            }
            let at = chrono::DateTime::parse_from_rfc3339(check["last_checked"].as_str().unwrap())
                .unwrap();
            let age = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_milliseconds();
            oldest_seen = oldest_seen.max(age as f64 / 1000.0);
        }
    }
    assert!(
        oldest_seen < 2.5,
        "every check kept running while the store was locked; the stalest result was {oldest_seen} s old"
    );
    let (_, detailed) = app.get_json("/health/detailed").await;
    assert_eq!(detailed["store"]["status"], "failing");
    let store = &detailed["checks"]["store"];
    assert_eq!(store["status"], "unhealthy", "{store}");
    assert!(
        store["message"].as_str().unwrap().contains("locked"),
        "the store check says why: {store}"
    );
    assert_eq!(
        detailed["status"], "degraded",
        "the (non-critical) store check degrades the service; the others stay healthy"
    );
    lock.release();
    let app_ref = &app;
    wait_until(
        Duration::from_secs(15),
        "the results queued during the lock to be written after it",
        || async move {
            app_ref.get_json("/health/detailed").await.1["store"]["status"] == "ok"
                && app_ref.stored_results(None) >= 20 * 12
        },
    )
    .await;
}
