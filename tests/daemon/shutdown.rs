use crate::helpers::*;
use std::time::Duration;

#[tokio::test]
async fn sigterm_stores_every_result_the_daemon_produced() {
    let mut config = String::new();
    for i in 0..20 {
        config.push_str(&format!(
            "[[check]]\nname = \"mem-{i}\"\nkind = \"memory\"\ninterval = \"1s\"\n"
        ));
    }
    // One probe is always in flight somewhere: a command that takes 400 ms every second.
    config.push_str("[[check]]\nname = \"busy\"\nkind = \"command\"\ncommand = [\"sleep\", \"0.4\"]\ninterval = \"1s\"\n");
    let mut app = spawn_app(TestConfig::new(&config)).await;
    app.wait_for_first_results().await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let status = app.terminate();
    assert!(
        status.success(),
        "clean stop exits 0, got {status:?}\n{}",
        app.log()
    );
    let log = app.log();
    let stopped = log
        .lines()
        .find(|l| l.contains("Stopped."))
        .unwrap_or_else(|| panic!("no stop report:\n{log}"));
    let produced: i64 = field(stopped, "results_produced").unwrap().parse().unwrap();
    let stored: i64 = field(stopped, "results_stored").unwrap().parse().unwrap();
    assert!(
        produced >= 21 * 3,
        "20 checks at 1 s for 3+ s: produced {produced}"
    );
    assert_eq!(stored, produced, "{stopped}");
    assert_eq!(
        app.stored_results(None),
        produced,
        "every produced result is in the database"
    );
}
