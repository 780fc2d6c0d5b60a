//! `healthmon probe`: the HEALTHCHECK command of a container image.

use crate::helpers::*;
use crate::services::free_port;
use std::time::{Duration, Instant};

#[tokio::test]
async fn probe_exits_0_once_the_daemon_is_ready_and_1_otherwise_without_showing_a_password() {
    let app = spawn_app(TestConfig::new(
        "[[check]]\nname = \"db\"\nkind = \"command\"\ncommand = [\"true\"]\ncritical = true\n",
    ))
    .await;
    let base = format!("http://{}", app.addr);

    // The base URL means /health/ready, which is 200 once the critical check has reported.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (code, stdout) = loop {
        let (code, stdout, _) = run_cli(&["probe", &base]);
        if code == 0 || Instant::now() > deadline {
            break (code, stdout);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(stdout.trim(), format!("200 {base}/health/ready"));

    let (code, stdout, _) = run_cli(&["probe", &format!("{base}/health/no-such-check")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.starts_with("404 "), "{stdout}");

    let port = free_port();
    let (code, stdout, stderr) =
        run_cli(&["probe", &format!("http://ops:sekret@127.0.0.1:{port}/")]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("unreachable") && stdout.contains("refused"),
        "{stdout}"
    );
    assert!(
        !format!("{stdout}{stderr}").contains("sekret"),
        "{stdout}{stderr}"
    );
}
