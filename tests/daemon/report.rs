//! `healthmon report` and `GET /report` over a history written through the store, whose
//! figures are known: two outages, a maintenance window, two days with the daemon stopped
//! and a check added in the middle of the month.

use crate::helpers::{run_cli, spawn_app, History, TestConfig};
use chrono::{Datelike, TimeZone, Utc};
use healthmon::store::alerts::{AlertOp, AlertRow};
use healthmon::store::writer::Op;
use serde_json::Value;

const H: i64 = 3_600_000;
const DAY: i64 = 24 * H;

/// The previous calendar month in UTC: whole, in the past, inside the 90-day retention.
fn last_month() -> (String, i64, i64) {
    let now = Utc::now();
    let this = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .unwrap();
    let (y, m) = if now.month() == 1 {
        (now.year() - 1, 12)
    } else {
        (now.year(), now.month() - 1)
    };
    let start = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap();
    (
        format!("{y:04}-{m:02}"),
        start.timestamp_millis(),
        this.timestamp_millis(),
    )
}

/// What the report must say of a check.
#[derive(Debug, PartialEq)]
struct Known {
    percent: Option<f64>,
    observed_s: f64,
    downtime_s: f64,
    maintenance_s: f64,
    no_data_s: f64,
    incidents: u64,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `api`: 9 days watched, 2 days stopped, the rest of the month watched; down 1 h on day 3
/// and 30 min on day 20; 6 h of maintenance on day 25. `web`: from day 16 on, never down.
fn write_history(db: &std::path::Path, start: i64, end: i64) -> (Known, Known) {
    let first_outage = (start + 2 * DAY + 10 * H, start + 2 * DAY + 11 * H);
    let second_outage = (start + 19 * DAY + 8 * H, start + 19 * DAY + 8 * H + H / 2);
    let api = |from, to, ops| {
        History {
            check: "api",
            kind: "command",
            start: from,
            end: to,
            step_ms: 60_000,
            error: "exit 2: <b>connection refused</b>",
        }
        .write(
            db,
            |t| {
                (t >= first_outage.0 && t < first_outage.1)
                    || (t >= second_outage.0 && t < second_outage.1)
            },
            ops,
        )
    };
    // The state alert of the first outage, as the engine stores it.
    let alert = Op::Alert(Box::new(AlertOp::Alert(AlertRow {
        id: 1,
        key: "state:api".into(),
        kind: "state".into(),
        check: "api".into(),
        rule: None,
        level: "critical".into(),
        state: "resolved".into(),
        started_ms: first_outage.0,
        resolved_ms: Some(first_outage.1),
        acknowledged_ms: None,
        value: None,
        message: Some("api is down".into()),
        detail: "{}".into(),
        updated_ms: first_outage.1,
    })));
    api(start, start + 9 * DAY, vec![alert]);
    let maintenance = Op::Alert(Box::new(AlertOp::Maintenance {
        name: "upgrade".into(),
        check: Some(0),
        start_ms: start + 24 * DAY,
        end_ms: start + 24 * DAY + 6 * H,
    }));
    api(start + 11 * DAY, end, vec![maintenance]);
    History {
        check: "web",
        kind: "command",
        start: start + 15 * DAY,
        end,
        step_ms: 60_000,
        error: "",
    }
    .write(db, |_| false, Vec::new());
    let month_s = (end - start) as f64 / 1000.0;
    let api_observed = month_s - 2.0 * 86_400.0 - 6.0 * 3600.0;
    let web_observed = month_s - 15.0 * 86_400.0;
    (
        Known {
            percent: Some(round3(100.0 * (api_observed - 5400.0) / api_observed)),
            observed_s: api_observed,
            downtime_s: 5400.0,
            maintenance_s: 21_600.0,
            no_data_s: 2.0 * 86_400.0,
            incidents: 2,
        },
        Known {
            percent: Some(100.0),
            observed_s: web_observed,
            downtime_s: 0.0,
            maintenance_s: 0.0,
            no_data_s: 15.0 * 86_400.0,
            incidents: 0,
        },
    )
}

fn known_of(item: &Value) -> Known {
    Known {
        percent: item["percent"].as_f64(),
        observed_s: item["observed_seconds"].as_f64().unwrap(),
        downtime_s: item["downtime_seconds"].as_f64().unwrap(),
        maintenance_s: item["maintenance_seconds"].as_f64().unwrap(),
        no_data_s: item["no_data_seconds"].as_f64().unwrap(),
        incidents: item["incidents"].as_u64().unwrap(),
    }
}

fn report(config: &TestConfig, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["report", "-c", config.path.to_str().unwrap()];
    all.extend_from_slice(args);
    run_cli(&all)
}

/// `H:MM:SS` as the text and HTML reports write durations.
fn clock(seconds: f64) -> String {
    let s = seconds as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn percent_text(p: Option<f64>) -> String {
    match p {
        Some(p) if p >= 100.0 => "100 %".into(),
        Some(p) => format!("{p:.3} %"),
        None => "no data".into(),
    }
}

/// The text of the `<td class="CLASS">` in the HTML report's row of `check`.
fn html_cell(html: &str, check: &str, class: &str) -> String {
    let row = &html[html
        .find(&format!("id=\"row-{check}\""))
        .unwrap_or_else(|| panic!("no row of {check}"))..];
    let row = &row[..row.find("</tr>").unwrap()];
    let cell = &row[row
        .find(&format!("{class}\""))
        .unwrap_or_else(|| panic!("no {class} cell in {row}"))..];
    let cell = &cell[cell.find('>').unwrap() + 1..];
    cell[..cell.find("</td>").unwrap()].to_string()
}

fn assert_html(html: &str, name: &str, k: &Known) {
    assert_eq!(
        html_cell(html, name, "availability"),
        percent_text(k.percent),
        "{name}"
    );
    assert_eq!(
        html_cell(html, name, "downtime"),
        clock(k.downtime_s),
        "{name}"
    );
    assert_eq!(
        html_cell(html, name, "incidents"),
        k.incidents.to_string(),
        "{name}"
    );
}

#[tokio::test]
async fn the_report_gives_the_known_figures_in_every_format_and_agrees_with_the_api() {
    let config = TestConfig::new(
        "[[check]]\nname = \"api\"\nkind = \"command\"\ncommand = [\"true\"]\ninterval = \"1h\"\n\
         [[check]]\nname = \"web\"\nkind = \"command\"\ncommand = [\"true\"]\ninterval = \"1h\"\n",
    );
    let (month, start, end) = last_month();
    let (api, web) = write_history(&config.db, start, end);
    let since = healthmon::time::rfc3339_ms(start).unwrap();
    let until = healthmon::time::rfc3339_ms(end).unwrap();

    // JSON: the documented shape, worst first.
    let (code, out, err) = report(&config, &["--month", &month, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "nothing on stderr when it is not a terminal");
    let json: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["period"]["label"], month.as_str());
    assert_eq!(json["period"]["from"], since.as_str());
    assert_eq!(json["period"]["to"], until.as_str());
    assert_eq!(json["period"]["complete"], true);
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks[0]["name"], "api", "the worst first");
    assert_eq!(known_of(&checks[0]), api);
    assert_eq!(known_of(&checks[1]), web);
    let incidents = checks[0]["incident_list"].as_array().unwrap();
    assert_eq!(incidents.len(), 2);
    assert_eq!(
        incidents[0]["started_at"],
        healthmon::time::rfc3339_ms(start + 2 * DAY + 10 * H)
            .unwrap()
            .as_str()
    );
    assert_eq!(incidents[0]["duration_seconds"], 3600.0);
    assert_eq!(
        incidents[0]["first_error"],
        "exit 2: <b>connection refused</b>"
    );
    assert_eq!(json["summary"]["incidents"], 2);
    assert_eq!(checks[0]["alerts_fired"], 1);
    assert_eq!(checks[0]["alert_list"][0]["level"], "critical");
    assert_eq!(checks[1]["alerts_fired"], 0);
    assert_eq!(json["summary"]["worst"], "api");
    assert!(json["counting"].as_str().unwrap().contains("no data"));

    // CSV: one row per check under a header.
    let (code, out, err) = report(&config, &["--month", &month, "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2);
    let col = |row: &Vec<&str>, name: &str| -> f64 {
        row[header.iter().position(|h| *h == name).unwrap()]
            .parse()
            .unwrap()
    };
    for (row, k) in rows.iter().zip([&api, &web]) {
        assert_eq!(
            col(row, "availability_percent"),
            k.percent.unwrap(),
            "{row:?}"
        );
        assert_eq!(col(row, "downtime_seconds"), k.downtime_s);
        assert_eq!(col(row, "observed_seconds"), k.observed_s);
        assert_eq!(col(row, "no_data_seconds"), k.no_data_s);
        assert_eq!(col(row, "maintenance_seconds"), k.maintenance_s);
        assert_eq!(col(row, "incidents"), k.incidents as f64);
        assert_eq!(col(row, "alerts_fired"), (k.incidents > 0) as u8 as f64);
    }

    // Text: an aligned table, then the incidents and how it counts.
    let (code, out, err) = report(&config, &["--month", &month]);
    assert_eq!(code, 0, "{err}");
    let table: Vec<&str> = out.lines().collect();
    let header_at = table.iter().position(|l| l.starts_with("CHECK")).unwrap();
    let cells = |line: &str| -> Vec<String> {
        line.replace(" %", "%")
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    for (line, (name, k)) in table[header_at + 1..]
        .iter()
        .zip([("api", &api), ("web", &web)])
    {
        let c = cells(line);
        assert_eq!(c[0], name, "{line}");
        assert_eq!(c[2], percent_text(k.percent).replace(" %", "%"), "{line}");
        assert_eq!(c[3], clock(k.downtime_s), "{line}");
        assert_eq!(c[4], k.incidents.to_string(), "{line}");
        assert_eq!(c[5], clock(k.maintenance_s), "{line}");
        assert_eq!(c[6], clock(k.no_data_s), "{line}");
    }
    // The columns line up: each header starts where its column's right-aligned cells end.
    let avail_end = table[header_at].find("AVAILABILITY").unwrap() + "AVAILABILITY".len();
    assert!(table[header_at + 1][..avail_end].ends_with('%'), "{out}");
    assert!(out.contains("exit 2: <b>connection refused</b>"), "{out}");
    assert!(out.contains("neither up nor down"), "{out}");

    // HTML: one file, no script, nothing fetched from elsewhere.
    let file = config.path.with_file_name("report.html");
    let (code, out, err) = report(
        &config,
        &[
            "--month",
            &month,
            "--format",
            "html",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let html = std::fs::read_to_string(&file).unwrap();
    assert_html(&html, "api", &api);
    assert_html(&html, "web", &web);
    assert!(!html.contains("<script"), "a mailed report has no script");
    let escaped = [
        "&lt;b&gt;connection refused",
        "&#60;b&#62;connection refused",
    ];
    assert!(
        escaped.iter().any(|e| html.contains(e)),
        "the message is escaped"
    );
    assert!(!html.contains("<b>connection"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(!html.contains("href=\"/"), "no link needs the daemon");
    assert!(
        html.contains("class=\"d-maint\""),
        "the maintenance day is in its colour"
    );

    // The daemon: the API's availability over the same span, and the same report as a page,
    // while a report reads beside it.
    let app = spawn_app(config).await;
    let (code, body) = app
        .get_json(&format!("/api/v1/availability?from={since}&to={until}"))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(known_of(&body["checks"]["api"]), api);
    assert_eq!(known_of(&body["checks"]["web"]), web);
    let page = app.get(&format!("/report?month={month}")).await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let page = page.text().await.unwrap();
    assert_html(&page, "api", &api);
    assert_html(&page, "web", &web);
    let (code, out, err) = report(
        &app.config,
        &[
            "--since", &since, "--until", &until, "--format", "json", "--check", "web",
        ],
    );
    assert_eq!((code, err.as_str()), (0, ""));
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["checks"].as_array().unwrap().len(), 1);
    assert_eq!(known_of(&json["checks"][0]), web);
    assert_eq!(app.get("/report?hours=24").await.status(), 200);
    let bad = app
        .get(&format!("/report?since={until}&until={since}"))
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("must be before until"));
    let long = app.get("/report?hours=87600").await;
    assert_eq!(long.status(), 400, "a page's period is bounded");
}

#[test]
fn bad_input_exits_3_with_a_message_that_names_it() {
    let config =
        TestConfig::new("[[check]]\nname = \"api\"\nkind = \"command\"\ncommand = [\"true\"]\n");
    let (code, _, err) = report(&config, &["--format", "yaml"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("'yaml'") && err.contains("text, json, html, csv"),
        "{err}"
    );
    let (code, _, err) = report(
        &config,
        &[
            "--since",
            "2026-03-02T00:00:00Z",
            "--until",
            "2026-03-01T00:00:00Z",
        ],
    );
    assert_eq!(code, 3);
    assert_eq!(
        err.trim(),
        "healthmon: --since (2026-03-02T00:00:00Z) must be before --until (2026-03-01T00:00:00Z)"
    );
    let (code, _, err) = report(&config, &["--month", "2026-3"]);
    assert_eq!(code, 3);
    assert!(err.contains("--month: expected YYYY-MM"), "{err}");
    let (code, _, err) = report(&config, &["--tz", "Berlin"]);
    assert_eq!(code, 3);
    assert!(err.contains("unknown time zone `Berlin`"), "{err}");
    let (code, _, err) = report(&config, &["--check", "nope"]);
    assert_eq!(code, 3);
    assert!(err.contains("no check named `nope`"), "{err}");
    let (code, _, err) = report(&config, &[]);
    assert_eq!(code, 3, "no store yet");
    assert!(err.contains("no health log at"), "{err}");
}

/// A config of one check, `api`, with its last hour stored.
fn one_check_with_an_hour_of_history() -> TestConfig {
    let config =
        TestConfig::new("[[check]]\nname = \"api\"\nkind = \"command\"\ncommand = [\"true\"]\n");
    let now = Utc::now().timestamp_millis();
    History {
        check: "api",
        kind: "command",
        start: now - H,
        end: now,
        step_ms: 60_000,
        error: "",
    }
    .write(&config.db, |_| false, Vec::new());
    config
}

#[test]
fn a_month_across_a_daylight_saving_change_has_its_true_number_of_hours() {
    let config = one_check_with_an_hour_of_history();
    for (month, zone, hours, from) in [
        (
            "2026-03",
            "America/New_York",
            743.0,
            "2026-03-01T05:00:00.000Z",
        ),
        (
            "2026-11",
            "America/New_York",
            721.0,
            "2026-11-01T04:00:00.000Z",
        ),
        (
            "2026-10",
            "Europe/Berlin",
            745.0,
            "2026-09-30T22:00:00.000Z",
        ),
    ] {
        let (code, out, err) = report(
            &config,
            &["--month", month, "--tz", zone, "--format", "json"],
        );
        assert_eq!(code, 0, "{err}");
        let json: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["period"]["hours"], hours, "{month} in {zone}");
        assert_eq!(json["period"]["from"], from, "{month} in {zone}");
        assert_eq!(json["period"]["time_zone"], zone);
        assert_eq!(json["checks"][0]["window_seconds"], hours * 3600.0);
    }
}

/// Runs `healthmon report ARGS` with stderr on a pseudo-terminal (util-linux `script`) and
/// returns what the terminal showed.
fn report_on_a_terminal(config: &TestConfig, args: &str) -> String {
    let out = std::process::Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} report -c {} {args} -o {}",
            crate::helpers::BIN,
            config.path.display(),
            config.path.with_file_name("out.txt").display()
        ))
        .arg("/dev/null")
        .output()
        .expect("run script (util-linux)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_sees_a_progress_bar_for_a_large_history_only() {
    let config = one_check_with_an_hour_of_history();
    // One check over 100 days is 100 check-days: large; over a day it is not.
    let large = report_on_a_terminal(&config, "--hours 2400");
    assert!(large.contains("Reading the health log"), "{large:?}");
    assert!(large.contains("/1 checks"), "{large:?}");
    let small = report_on_a_terminal(&config, "--hours 24");
    assert_eq!(small, "", "no bar for a small report");
}

#[test]
fn output_to_a_fifo_is_written_in_place_not_renamed_over() {
    use std::os::unix::fs::FileTypeExt;
    let config = one_check_with_an_hour_of_history();
    let fifo = config.path.with_file_name("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let (code, _, err) = report(&config, &["--format", "csv", "-o", fifo.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(reader.join().unwrap().starts_with("check,kind,"));
    let kind = std::fs::metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO is still a FIFO");
    let file = config.path.with_file_name("r.csv");
    let (code, _, _) = report(&config, &["--format", "csv", "-o", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .starts_with("check,kind,"));
}

#[test]
fn a_report_reads_while_another_connection_holds_the_write_lock() {
    let config = one_check_with_an_hour_of_history();
    // What a stalled writer does: an exclusive transaction with a write in it, left open.
    let lock = rusqlite::Connection::open(&config.db).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE; DELETE FROM health_log;")
        .unwrap();
    let (code, out, err) = report(&config, &["--hours", "2", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    // It sees the last commit, not the open transaction (waiting for the lock would have
    // ended in "database is locked" and exit 1).
    assert!(
        json["checks"][0]["latency"]["probes"].as_u64().unwrap() > 0,
        "{out}"
    );
    lock.execute_batch("ROLLBACK").unwrap();
}
