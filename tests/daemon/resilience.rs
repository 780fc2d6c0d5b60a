use crate::helpers::*;
use std::time::Duration;

fn timestamps(app: &TestApp, check: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(&app.config.db).unwrap();
    let mut stmt = conn
        .prepare("SELECT h.ts_ms FROM health_log h JOIN checks c ON c.id = h.check_id WHERE c.name = ?1 ORDER BY h.ts_ms")
        .unwrap();
    stmt.query_map([check], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn a_silent_server_is_cut_at_the_timeout_while_other_checks_keep_their_schedule() {
    let (silent, _server) = silent_server().await;
    let target = TargetServer::start().await;
    let mut config = format!(
        "[[check]]\nname = \"hang\"\nkind = \"http\"\nurl = \"http://{silent}/\"\ninterval = \"1s\"\ntimeout = \"2s\"\nfailure_threshold = 100\n"
    );
    for name in ["a", "b", "c"] {
        config.push_str(&format!(
            "[[check]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"{}\"\ninterval = \"1s\"\n",
            target.url()
        ));
    }
    let app = spawn_app(TestConfig::new(&config)).await;
    app.wait_for_first_results().await;
    tokio::time::sleep(Duration::from_secs(6)).await;

    let (_, body) = app.health().await;
    let hang = &body["checks"]["hang"];
    assert_eq!(hang["status"], "unhealthy", "{hang}");
    assert!(
        hang["message"].as_str().unwrap().contains("2s"),
        "the message names the timeout: {hang}"
    );
    let took = hang["response_time_ms"].as_f64().unwrap();
    assert!(
        (1900.0..3000.0).contains(&took),
        "cut at the 2 s timeout, took {took} ms"
    );

    // The hanging check ran about every 2 s; the others every second, on time.
    let hung = timestamps(&app, "hang").len();
    assert!((2..=5).contains(&hung), "hang ran {hung} times");
    for name in ["a", "b", "c"] {
        let ts = timestamps(&app, name);
        assert!(ts.len() >= 6, "{name} ran only {} times in 6+ s", ts.len());
        let gaps: Vec<i64> = ts.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|g| (700..=1300).contains(g)),
            "{name} kept a 1 s schedule: gaps {gaps:?}"
        );
    }
}

fn processes_matching(pattern: &str) -> usize {
    let out = std::process::Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test]
async fn a_hanging_command_is_killed_with_its_children_at_its_timeout() {
    let marker = format!("hang-marker-{}", std::process::id());
    let config = format!(
        "[[check]]\nname = \"stuck\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"sleep 30; echo {marker}\"]\ninterval = \"1s\"\ntimeout = \"1s\"\n"
    );
    let mut app = spawn_app(TestConfig::new(&config)).await;
    app.wait_for_first_results().await;
    let (_, body) = app.health().await;
    assert_eq!(body["checks"]["stuck"]["message"], "timed out after 1s");

    // Three more timeouts: only the probe running right now may be alive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alive = processes_matching(&marker);
    assert!(alive <= 1, "{alive} timed-out commands are still running");
    assert!(app.terminate().success());
    assert_eq!(
        processes_matching(&marker),
        0,
        "a command outlived the daemon"
    );
}
