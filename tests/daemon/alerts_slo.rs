//! Availability over a measured outage, `/metrics` checked by promtool and read by
//! prometheus_client against `/health/detailed`, and burn-rate alerts from a history the test
//! writes through the store's own write path.

use crate::helpers::*;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Sleeps until the wall clock's milliseconds within the second reach `phase`.
async fn sleep_to_phase(phase: i64) {
    let wait = (phase - now_ms()).rem_euclid(1000);
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
}

/// Every sample of a Prometheus text exposition, read by the Python `prometheus_client`
/// parser: `name{label="v",...}` → value.
fn parse_with_prometheus_client(text: &str) -> HashMap<String, f64> {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client (run scripts/services)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse /metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn promtool_check(text: &str) {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus; run scripts/services)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn availability_reports_a_measured_outage_and_metrics_agree_with_the_details() {
    let mut target = TargetServer::start().await;
    let config = format!(
        "[[check]]\nname = \"api\"\nkind = \"http\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nmax_backoff = \"1s\"\ncritical = true\n\
         [[check]]\nname = \"mem\"\nkind = \"memory\"\ninterval = \"1s\"\n\
         [[slo]]\ncheck = \"api\"\nobjective = 99.9\n\
         [[alert]]\nname = \"api-slow\"\ncheck = \"api\"\nmetric = \"response_time_ms\"\nwarn = 5000\n",
        target.url()
    );
    let app = spawn_app(TestConfig::new(&config)).await;
    app.wait_for_first_results().await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Probes of one check run at the same point of every second: stop and restart the
    // target 300 ms after one, so the first failed probe and the first good one fall the
    // same distance after each edge and the incident lasts as long as the outage.
    let (_, history) = app.get_json("/api/v1/checks/api/history?limit=1").await;
    let last =
        chrono::DateTime::parse_from_rfc3339(history["results"][0]["timestamp"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
    let phase = (last + 300).rem_euclid(1000);
    sleep_to_phase(phase).await;
    let stopped = Instant::now();
    target.stop().await;
    tokio::time::sleep(Duration::from_secs(12).saturating_sub(stopped.elapsed())).await;
    sleep_to_phase(phase).await;
    target.restart().await;
    let outage = stopped.elapsed().as_secs_f64();
    let app_ref = &app;
    wait_until(Duration::from_secs(10), "api to recover", || async move {
        app_ref.health().await.1["checks"]["api"]["status"] == "healthy"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;

    let (_, availability) = app.get_json("/api/v1/availability?window=1h").await;
    let api = &availability["checks"]["api"];
    let observed = api["observed_seconds"].as_f64().unwrap();
    let expected = 100.0 * (1.0 - outage / observed);
    let reported = api["percent"].as_f64().unwrap();
    assert!(
        (reported - expected).abs() < 1.0,
        "down {outage:.2} s of {observed:.1} s watched: expected {expected:.2} %, reported {reported} % ({api})"
    );
    assert!(
        (api["no_data_seconds"].as_f64().unwrap() - (3600.0 - observed)).abs() < 0.01,
        "the hour before the daemon started is no data, not uptime: {api}"
    );
    assert_eq!(api["incidents"], 1, "{api}");
    assert!(api["latency"]["p95_ms"].as_f64().is_some(), "{api}");

    // /metrics: valid for promtool, readable by prometheus_client, in agreement with
    // /health/detailed (read just after it; nothing fails in between).
    let (_, detailed) = app.get_json("/health/detailed").await;
    let response = app.get("/metrics").await;
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    promtool_check(&text);
    let samples = parse_with_prometheus_client(&text);
    let sample = |key: &str| {
        *samples.get(key).unwrap_or_else(|| {
            panic!(
                "no {key} in /metrics; have {:?}",
                samples.keys().take(80).collect::<Vec<_>>()
            )
        })
    };
    for (name, check) in detailed["checks"].as_object().unwrap() {
        let kind = check["kind"].as_str().unwrap();
        let status = check["status"].as_str().unwrap();
        assert_eq!(
            sample(&format!(
                "healthmon_check_status{{check=\"{name}\",kind=\"{kind}\",status=\"{status}\"}}"
            )),
            1.0,
            "{name} is {status} in both"
        );
        assert_eq!(
            sample(&format!(
                "healthmon_check_circuit_open{{check=\"{name}\",kind=\"{kind}\"}}"
            )),
            if check["circuit"] == "open" { 1.0 } else { 0.0 }
        );
    }
    let slo = &detailed["checks"]["api"]["slos"][0];
    let remaining = slo["error_budget"]["remaining_percent"].as_f64().unwrap();
    assert!(remaining < 100.0 && remaining > 0.0, "{slo}");
    let ratio = sample("healthmon_slo_error_budget_remaining_ratio{check=\"api\",slo=\"api\"}");
    assert!(
        (ratio * 100.0 - remaining).abs() < 0.01,
        "{ratio} vs {remaining}"
    );
    let firing = &detailed["alerting"]["firing"];
    assert_eq!(
        sample("healthmon_alerts_firing{level=\"critical\"}"),
        firing["critical"].as_f64().unwrap()
    );
    assert_eq!(
        sample("healthmon_outbox_depth{}"),
        detailed["alerting"]["outbox_depth"].as_f64().unwrap()
    );
    assert_eq!(sample("healthmon_store_failing{}"), 0.0);
    let stored = sample("healthmon_results_stored_total{}");
    let stored_before = detailed["store"]["results_stored"].as_f64().unwrap();
    assert!(
        stored >= stored_before && stored <= stored_before + 4.0,
        "read a moment apart: {stored} vs {stored_before}"
    );

    // The OpenMetrics form is there for a scraper that asks for it.
    let om = app
        .client
        .get(app.url("/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(om.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(om.text().await.unwrap().ends_with("# EOF\n"));
}

/// Writes `hours` of history for check `api` (a result every second) with the given outages
/// (start and length in seconds before now), through the store's own write path, as a
/// daemon run that stopped a second ago.
fn write_history(db: &std::path::Path, hours: i64, outages: &[(i64, i64)]) {
    let end = now_ms() - 1000;
    let history = History {
        check: "api",
        kind: "http",
        start: end - hours * 3_600_000,
        end,
        step_ms: 1000,
        error: "connection refused",
    };
    history.write(
        db,
        |t| {
            outages
                .iter()
                .any(|(ago, len)| t >= end - ago * 1000 && t < end - (ago - len) * 1000)
        },
        Vec::new(),
    );
}

async fn slo_alert(app: &TestApp) -> Option<Value> {
    let (_, body) = app.get_json("/api/v1/alerts?check=api").await;
    body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "slo")
        .cloned()
}

async fn daemon_over_history(outages: &[(i64, i64)], hours: i64) -> (TestApp, TargetServer) {
    let target = TargetServer::start().await;
    let config = TestConfig::new(&format!(
        "[[check]]\nname = \"api\"\nkind = \"http\"\nurl = \"{}\"\ninterval = \"10s\"\n[[slo]]\ncheck = \"api\"\nobjective = 99.9\nwindow = \"30d\"\n",
        target.url()
    ));
    write_history(&config.db, hours, outages);
    (spawn_app(config).await, target)
}

#[tokio::test]
async fn an_hour_that_burns_two_percent_of_the_budget_fires_the_fast_burn_alert() {
    // 2 % of 43.2 minutes is 51.84 s; 56 s down, ending 20 s ago.
    let (app, _target) = daemon_over_history(&[(76, 56)], 3).await;
    let app_ref = &app;
    wait_until(Duration::from_secs(20), "the SLO alert", || async move {
        slo_alert(app_ref).await.is_some()
    })
    .await;
    let alert = slo_alert(&app).await.unwrap();
    assert_eq!(alert["level"], "critical", "{alert}");
    assert_eq!(alert["state"], "firing", "{alert}");
    assert!(
        alert["message"].as_str().unwrap().starts_with("fast burn"),
        "{alert}"
    );
    let (_, detailed) = app.get_json("/health/detailed").await;
    let slo = &detailed["checks"]["api"]["slos"][0];
    assert_eq!(slo["burning"], "fast", "{slo}");
    let h1 = slo["burn_rates"]["h1"].as_f64().unwrap();
    assert!((14.4..17.0).contains(&h1), "{slo}");
    let used = slo["error_budget"]["used_minutes"].as_f64().unwrap();
    assert!((used - 56.0 / 60.0).abs() < 0.05, "{slo}");
}

#[tokio::test]
async fn a_slow_trickle_of_short_outages_fires_the_slow_burn_alert() {
    // Eight 20-second outages over six hours, the last ten minutes ago: 160 s in 6 h (7.4×),
    // 20 s in the last 30 min (11×), at most 40 s in any hour (under 14.4×).
    let outages: Vec<(i64, i64)> = (0..8).map(|i| (620 + i * 2400, 20)).collect();
    let (app, _target) = daemon_over_history(&outages, 7).await;
    let app_ref = &app;
    wait_until(Duration::from_secs(20), "the SLO alert", || async move {
        slo_alert(app_ref).await.is_some()
    })
    .await;
    let alert = slo_alert(&app).await.unwrap();
    assert_eq!(alert["level"], "warning", "{alert}");
    assert!(
        alert["message"].as_str().unwrap().starts_with("slow burn"),
        "{alert}"
    );
    let (_, detailed) = app.get_json("/health/detailed").await;
    assert_eq!(detailed["checks"]["api"]["slos"][0]["burning"], "slow");
}
