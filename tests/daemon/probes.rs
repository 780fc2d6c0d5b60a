use crate::helpers::*;
use std::time::Duration;

fn http_check(name: &str, url: &str, critical: bool) -> String {
    format!(
        "[[check]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"{url}\"\ncritical = {critical}\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 2\nmax_backoff = \"4s\"\n"
    )
}

#[tokio::test]
async fn health_turns_503_when_a_critical_dependency_stops_and_recovers_through_the_breaker() {
    let mut target = TargetServer::start().await;
    let app = spawn_app(TestConfig::new(&http_check("web", &target.url(), true))).await;
    app.wait_for_first_results().await;

    let (code, body) = app.health().await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("healthy")),
        "{body}"
    );
    assert_eq!(body["checks"]["web"]["circuit"], "closed");

    target.stop().await;
    // Within failure_threshold × interval plus a second.
    let app_ref = &app;
    wait_until(
        Duration::from_secs(3),
        "/health to report the outage",
        || async move {
            let (live, _) = app_ref.get_json("/health/live").await;
            assert_eq!(live, 200, "/health/live must stay 200 during an outage");
            app_ref.health().await.0 == 503
        },
    )
    .await;
    let (_, body) = app.health().await;
    assert_eq!(body["status"], "unhealthy");
    let message = body["checks"]["web"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("refused"),
        "message should say why: {message}"
    );

    wait_until(
        Duration::from_secs(5),
        "the breaker to open",
        || async move { app_ref.health().await.1["checks"]["web"]["circuit"] == "open" },
    )
    .await;

    // While open, scheduled runs are skipped rather than probed.
    wait_until(
        Duration::from_secs(10),
        "the open breaker to skip a probe",
        || async move {
            let metrics = app_ref.get("/metrics").await.text().await.unwrap();
            metrics.lines().any(|l| {
                l.starts_with("healthmon_check_skipped_total{")
                    && l.contains("check=\"web\"")
                    && !l.ends_with(" 0")
            })
        },
    )
    .await;

    target.restart().await;
    wait_until(
        Duration::from_secs(10),
        "recovery after the back-off",
        || async move {
            let (live, _) = app_ref.get_json("/health/live").await;
            assert_eq!(live, 200);
            let (code, body) = app_ref.health().await;
            code == 200 && body["checks"]["web"]["circuit"] == "closed"
        },
    )
    .await;
}

#[tokio::test]
async fn a_failing_non_critical_check_degrades_but_stays_ready() {
    let target = TargetServer::start().await;
    let (dead, server) = silent_server().await;
    server.abort();
    let _ = server.await;
    let config = format!(
        "{}[[check]]\nname = \"cache\"\nkind = \"tcp\"\nurl = \"tcp://{dead}\"\ninterval = \"1s\"\n",
        http_check("web", &target.url(), true)
    );
    let app = spawn_app(TestConfig::new(&config)).await;
    app.wait_for_first_results().await;

    let (code, body) = app.health().await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["cache"]["status"], "unhealthy");
    let (code, ready) = app.get_json("/health/ready").await;
    assert_eq!(
        (code, ready["ready"].as_bool()),
        (200, Some(true)),
        "{ready}"
    );
    assert!(
        ready["checks"].get("cache").is_none(),
        "ready lists critical checks only"
    );
}

#[tokio::test]
async fn startup_is_503_until_every_check_has_a_first_result() {
    let config = "[[check]]\nname = \"slow\"\nkind = \"command\"\ncommand = [\"sleep\", \"2\"]\ntimeout = \"10s\"\ninterval = \"30s\"\ncritical = true\n";
    let app = spawn_app(TestConfig::new(config)).await;

    let (code, body) = app.get_json("/health/startup").await;
    assert_eq!((code, &body["started"]), (503, &serde_json::json!(false)));
    let (code, body) = app.get_json("/health/ready").await;
    assert_eq!(code, 503, "not ready before the first result: {body}");
    assert_eq!(app.health().await.1["checks"]["slow"]["status"], "unknown");

    let app_ref = &app;
    wait_until(
        Duration::from_secs(10),
        "startup to complete",
        || async move { app_ref.get_json("/health/startup").await.0 == 200 },
    )
    .await;
    assert_eq!(app.get_json("/health/startup").await.1["started"], true);
}

#[tokio::test]
async fn every_path_answers_with_a_trailing_slash_and_under_api_v1() {
    let target = TargetServer::start().await;
    let app = spawn_app(TestConfig::new(&http_check("web", &target.url(), true))).await;
    app.wait_for_first_results().await;
    for path in [
        "/health",
        "/health/live",
        "/health/ready",
        "/health/startup",
        "/health/web",
        "/status",
        "/health/detailed",
    ] {
        for variant in [
            path.to_string(),
            format!("{path}/"),
            format!("/api/v1{path}"),
            format!("/api/v1{path}/"),
        ] {
            let r = app.get(&variant).await;
            assert_eq!(r.status().as_u16(), 200, "{variant}");
            assert_eq!(r.headers()["content-type"], "application/json", "{variant}");
            assert_eq!(r.headers()["cache-control"], "no-cache", "{variant}");
        }
    }
    assert_eq!(app.get("/health/nope").await.status().as_u16(), 404);
    assert_eq!(app.get("/no/such/path").await.status().as_u16(), 404);
}

#[tokio::test]
async fn status_and_detailed_show_summary_availability_and_system() {
    let target = TargetServer::start().await;
    let app = spawn_app(TestConfig::new(&http_check("web", &target.url(), true))).await;
    app.wait_for_first_results().await;

    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["api_version"], "v1");
    assert_eq!(status["environment"], "test");
    assert_eq!(status["summary"]["total"], 1);
    assert_eq!(status["summary"]["healthy"], 1);
    assert_eq!(status["summary"]["health_percentage"], 100.0);
    assert!(status["memory"]["used_mb"].as_f64().unwrap() > 0.0);

    // The first result is committed within the writer's batch window.
    let app_ref = &app;
    wait_until(
        Duration::from_secs(5),
        "availability to have data",
        || async move {
            app_ref.get_json("/health/detailed").await.1["checks"]["web"]["availability"]["1h"]
                ["percent"]
                .is_number()
        },
    )
    .await;
    let (_, detailed) = app.get_json("/health/detailed").await;
    let web = &detailed["checks"]["web"];
    assert_eq!(web["availability"]["1h"]["percent"], 100.0, "{web}");
    for w in ["1h", "24h", "7d", "30d"] {
        assert!(web["availability"][w].is_object(), "window {w}: {web}");
    }
    assert_eq!(web["thresholds"]["failure_threshold"], 2);
    assert_eq!(web["breaker"]["state"], "closed");
    assert!(detailed["system"]["memory"]["percent_used"].is_number());
    assert!(detailed["system"]["load"]["load1"].is_number());

    let (_, one) = app.get_json("/health/web").await;
    assert_eq!(one["availability"]["24h"], 100.0, "{one}");
    assert_eq!(one["observed"]["status_code"], 200);
}

#[tokio::test]
async fn the_token_guards_details_and_history_but_not_probes() {
    let target = TargetServer::start().await;
    let config = TestConfig::with_server(
        &http_check("web", &target.url(), true),
        "token = \"s3cr3t-token\"",
    );
    let app = spawn_app(config).await;
    app.wait_for_first_results().await;

    for path in [
        "/health",
        "/health/live",
        "/health/ready",
        "/status",
        "/metrics",
    ] {
        assert_eq!(
            app.get(path).await.status().as_u16(),
            200,
            "{path} must stay open"
        );
    }
    for path in [
        "/health/detailed",
        "/api/v1/checks/web/history",
        "/api/v1/availability",
        "/api/v1/incidents",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status().as_u16(), 401, "{path}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let wrong = app
            .client
            .get(app.url(path))
            .bearer_auth("guess")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{path} with a wrong token");
        let right = app
            .client
            .get(app.url(path))
            .bearer_auth("s3cr3t-token")
            .send()
            .await
            .unwrap();
        assert_eq!(right.status().as_u16(), 200, "{path} with the token");
    }
    let page = app.get("/").await.text().await.unwrap();
    assert!(
        page.contains("Messages and targets are hidden"),
        "the page hides errors without the token"
    );
}

#[tokio::test]
async fn history_metrics_and_the_status_page_reflect_the_results() {
    let target = TargetServer::start().await;
    let app = spawn_app(TestConfig::new(&http_check("web", &target.url(), true))).await;
    let app_ref = &app;
    wait_until(
        Duration::from_secs(10),
        "two stored results",
        || async move {
            app_ref.get_json("/api/v1/checks/web/history").await.1["results"]
                .as_array()
                .is_some_and(|r| r.len() >= 2)
        },
    )
    .await;
    let (_, history) = app.get_json("/api/v1/checks/web/history?limit=1").await;
    let results = history["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["status"], "healthy");
    assert!(results[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        app.get("/api/v1/checks/web/history?from=yesterday")
            .await
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        app.get("/api/v1/checks/nope/history")
            .await
            .status()
            .as_u16(),
        404
    );

    let (_, availability) = app.get_json("/api/v1/availability?window=1h").await;
    assert_eq!(
        availability["checks"]["web"]["percent"], 100.0,
        "{availability}"
    );
    assert!(
        availability["checks"]["web"]["latency"]["p50_ms"].is_number(),
        "{availability}"
    );

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("healthmon_check_up{check=\"web\",kind=\"http\"} 1"),
        "{text}"
    );
    assert!(text.contains("healthmon_results_stored_total"), "{text}");

    let page = app.get("/").await;
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("web") && html.contains("healthy"), "{html}");
}

#[tokio::test]
async fn health_speaks_the_ietf_health_json_draft_when_asked() {
    let target = TargetServer::start().await;
    let app = spawn_app(TestConfig::new(&http_check("web", &target.url(), true))).await;
    app.wait_for_first_results().await;
    let r = app
        .client
        .get(app.url("/health"))
        .header("accept", "application/health+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/health+json");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "pass");
    assert_eq!(
        body["checks"]["web:responseTime"][0]["componentType"],
        "http"
    );
}
