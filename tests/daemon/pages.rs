//! The status page, check pages, badges and the incidents feed, as a browser and a feed
//! reader see them: headless Chromium (Debian's, installed by `scripts/services`) renders the
//! page of a running daemon, and a history written through the store's own write path gives
//! the 90-day bars known days.

use crate::helpers::*;
use healthmon::store::alerts::AlertOp;
use healthmon::store::writer::Op;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `chromium --headless` with the flags the issue names, its own profile, and `extra`.
fn chromium(extra: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium is installed by scripts/services; run it first");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn artifact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir.join(name)
}

/// The `data-status` of the element with `id` in `dom`.
fn status_of(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[at..];
    let value = rest.split("data-status=\"").nth(1)?;
    Some(value.split('"').next()?.to_string())
}

#[tokio::test]
async fn a_browser_shows_the_failing_check_and_runs_no_script_from_a_message() {
    // A message that would, if any of it ran, set the title and send a heartbeat to the
    // `tripwire` push check (an image from our own origin is allowed by the CSP, so only
    // escaping stands between it and the daemon).
    let evil = r#"<script>document.title='p'+'wned';new Image().src='/api/v1/push/tripwire-token-0123'</script><img src=x onerror="document.title='p'+'wned';new Image().src='/api/v1/push/tripwire-token-0123'">"#;
    let config = TestConfig::new(&format!(
        r#"
[[check]]
name = "ok"
kind = "command"
command = ["true"]
interval = "1s"

[[check]]
name = "broken"
kind = "tcp"
url = "tcp://127.0.0.1:1"
interval = "1s"
critical = true
group = "backends"

[[check]]
name = "evil"
kind = "command"
command = ["printf", "%s\n", {evil:?}]
interval = "1s"
group = "backends"

[[check]]
name = "tripwire"
kind = "push"
token = "tripwire-token-0123"
interval = "1h"
"#
    ));
    let app = spawn_app(config).await;
    app.wait_for_first_results().await;
    let url = app.url("/");

    let dom = chromium(&["--dump-dom"], &url);
    assert_eq!(
        status_of(&dom, "check-broken").as_deref(),
        Some("unhealthy"),
        "{dom}"
    );
    for name in ["ok", "evil", "tripwire"] {
        assert_eq!(
            status_of(&dom, &format!("check-{name}")).as_deref(),
            Some("healthy"),
            "{name}"
        );
    }
    assert_eq!(status_of(&dom, "banner").as_deref(), Some("unhealthy"));
    // The message is there, as text.
    assert!(
        dom.contains("&lt;script&gt;document.title='p'+'wned'"),
        "{dom}"
    );
    assert!(!dom.contains("<title>pwned</title>"));
    let screenshot = artifact("status-page.png");
    chromium(
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,1400",
        ],
        &url,
    );
    assert!(std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0) > 10_000);
    let dom = chromium(&["--dump-dom"], &app.url("/checks/evil"));
    assert!(!dom.contains("<title>pwned</title>"));
    assert!(dom.contains("&lt;img src=x onerror="), "{dom}");

    // No heartbeat reached the tripwire from any of the three page loads.
    let (_, detailed) = app.get_json("/health/detailed").await;
    let message = detailed["checks"]["tripwire"]["message"]
        .as_str()
        .unwrap_or("");
    assert!(
        message.contains("waiting for the first heartbeat"),
        "{message}"
    );
    // The group of the failing critical check is unhealthy as a whole.
    let (code, group) = app.get_json("/health/backends").await;
    assert_eq!(code, 503, "{group}");
    assert_eq!(group["status"], "unhealthy");
    assert_eq!(group["checks"].as_object().map(|c| c.len()), Some(2));
    assert_eq!(app.get("/health/no-such-thing").await.status(), 404);
    let page = app.get("/").await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'nonce-") && csp.contains("default-src 'none'"),
        "{csp}"
    );
}

/// Writes three days of results of `api` (one a minute) ending a second ago, down for two
/// hours two days ago, with a maintenance window over all of yesterday (UTC).
fn write_history(db: &Path) -> (i64, i64) {
    let end = now_ms() - 1000;
    let start = end - 3 * DAY;
    let today = end.div_euclid(DAY) * DAY;
    let outage = (
        today - 2 * DAY + 3 * 3_600_000,
        today - 2 * DAY + 5 * 3_600_000,
    );
    let maintenance = Op::Alert(Box::new(AlertOp::Maintenance {
        name: "upgrade".into(),
        check: Some(0),
        start_ms: today - DAY,
        end_ms: today,
    }));
    History {
        check: "api",
        kind: "command",
        start,
        end,
        step_ms: 60_000,
        error: "exit 2",
    }
    .write(db, |t| t >= outage.0 && t < outage.1, vec![maintenance]);
    (start, today)
}

/// The class and title of each day of `check`'s bar on the status page, oldest first (a
/// group of days that read alike gives each of them its class and shared title).
fn days_of(page: &str, check: &str) -> Vec<(String, String)> {
    let at = page
        .find(&format!("id=\"check-{check}\""))
        .expect("the check's row");
    let bars = &page[at..];
    let bars = &bars[..bars.find("</svg>").expect("its bars")];
    let mut days = Vec::new();
    for g in bars.split("<g class=\"").skip(1) {
        let class = g.split('"').next().unwrap_or("");
        let run: usize = g
            .split("data-days=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse().ok())
            .expect("data-days");
        let title = g
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or("");
        for _ in 0..run {
            days.push((class.to_string(), title.to_string()));
        }
    }
    days
}

#[tokio::test]
async fn the_90_day_bar_shows_no_data_before_the_check_existed_and_maintenance_in_its_colour() {
    let config = TestConfig::new(
        "[[check]]\nname = \"api\"\nkind = \"command\"\ncommand = [\"true\"]\ninterval = \"1h\"\n",
    );
    let (start, today) = write_history(&config.db);
    let app = spawn_app(config).await;
    app.wait_for_first_results().await;
    let page = app.get("/").await.text().await.unwrap();
    let days = days_of(&page, "api");
    assert_eq!(days.len(), 90);
    let date = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    let first = start.div_euclid(DAY) * DAY;
    let index = |day: i64| (89 - (today - day) / DAY) as usize;
    for (i, (class, title)) in days.iter().enumerate().take(index(first)) {
        assert_eq!(class, "d-nodata", "day {i}: {title}");
        assert!(title.ends_with(": no data"), "{title}");
    }
    let (class, title) = &days[index(today - DAY)];
    assert_eq!(class, "d-maint", "{title}");
    assert!(
        title.starts_with(&format!("{}: maintenance", date(today - DAY))),
        "{title}"
    );
    let (class, title) = &days[index(today - 2 * DAY)];
    assert_eq!(class, "d-major", "{title}");
    assert!(title.contains("2 h down, 1 incident"), "{title}");
    assert_eq!(days[89].0, "d-up", "{:?}", days[89]);

    // The check's page and badge agree with the bar.
    let check = app.get("/checks/api").await;
    assert_eq!(check.status(), 200);
    let check = check.text().await.unwrap();
    assert!(
        check.contains("class=\"incident-row\""),
        "an incident listed"
    );
    assert!(
        check.contains("class=\"incident\""),
        "the incident shaded in the chart"
    );
    let badge = app.get("/badge/api.svg?window=7d").await;
    assert_eq!(badge.headers()["content-type"], "image/svg+xml");
    assert!(badge.text().await.unwrap().contains("api 7d: "));
    assert_eq!(app.get("/badge/nope.svg").await.status(), 404);
    let missing = app.get("/checks/nope").await;
    assert_eq!(missing.status(), 404);
    assert!(missing.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(missing
        .text()
        .await
        .unwrap()
        .contains("no check named `nope`"));
    let feed = app.get("/feed.atom").await.text().await.unwrap();
    assert!(
        feed.contains("<title>api was down for 2 h</title>"),
        "{feed}"
    );
}

#[tokio::test]
async fn with_a_token_the_pages_hide_messages_and_targets_unless_it_is_given() {
    let config = TestConfig::with_server(
        "[[check]]\nname = \"db\"\nkind = \"tcp\"\nurl = \"tcp://127.0.0.1:1\"\ninterval = \"1s\"\n",
        "token = \"s3cret-token\"",
    );
    let app = spawn_app(config).await;
    app.wait_for_first_results().await;
    for path in ["/", "/checks/db"] {
        let anonymous = app.get(path).await.text().await.unwrap();
        assert!(!anonymous.contains("Connection refused"), "{path}");
        assert!(!anonymous.contains("127.0.0.1:1"), "{path}");
        assert!(anonymous.contains("hidden"), "{path}");
        let with_query = app.get(&format!("{path}?token=s3cret-token")).await;
        assert!(
            with_query
                .text()
                .await
                .unwrap()
                .contains("Connection refused"),
            "{path}"
        );
        let with_header = app
            .client
            .get(app.url(path))
            .bearer_auth("s3cret-token")
            .send()
            .await
            .unwrap();
        assert!(
            with_header
                .text()
                .await
                .unwrap()
                .contains("Connection refused"),
            "{path}"
        );
    }
    // The report lists the incident's first error only to a viewer with the token.
    wait_until(
        Duration::from_secs(20),
        "the incident in the report",
        || async {
            app.get("/report?hours=1&token=s3cret-token")
                .await
                .text()
                .await
                .unwrap()
                .contains("Connection refused")
        },
    )
    .await;
    let anonymous = app.get("/report?hours=1").await.text().await.unwrap();
    assert!(!anonymous.contains("Connection refused"), "{anonymous}");
    assert!(anonymous.contains("Error messages are hidden"));
}
