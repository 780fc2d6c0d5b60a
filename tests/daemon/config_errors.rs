use crate::helpers::*;

fn run_with(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("monitor.toml");
    std::fs::write(&path, config).unwrap();
    let (code, _, stderr) = run_cli(&["run", "-c", path.to_str().unwrap()]);
    (code, stderr)
}

#[test]
fn bad_configs_exit_3_naming_the_key_or_line() {
    let cases = [
        ("[[check]]\nname = \"a\"\nkind = \"pgsql\"", "check[0].kind: unknown kind `pgsql`"),
        ("[[check]]\nname = \"a\"\nkind = \"memory\"\ninterval = \"10 seconds\"", "check[0].interval: expected a duration"),
        ("[[check]]\nname = \"a\"\nkind = \"memory\"\n[[check]]\nname = \"a\"\nkind = \"load\"", "check[1].name: duplicate name `a`"),
        ("[[check]]\nname = \"ready\"\nkind = \"memory\"", "check[0].name: `ready` is reserved"),
        ("[[check]]\nname = \"a\"\nkind = \"tcp\"\nurl = \"tcp://${HEALTHMON_TEST_UNSET_VAR}:80\"", "check[0].url: environment variable HEALTHMON_TEST_UNSET_VAR is not set"),
        ("[service]\nname = \"x\"\n[[check]\nname = \"a\"", "line 3, column"),
    ];
    for (config, expected) in cases {
        let (code, stderr) = run_with(config);
        assert_eq!(code, 3, "exit code for\n{config}\nstderr: {stderr}");
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in:\n{stderr}"
        );
    }
}

#[test]
fn a_missing_config_file_exits_3_and_says_which_file() {
    let (code, _, stderr) = run_cli(&["validate", "-c", "/no/such/monitor.toml"]);
    assert_eq!(code, 3);
    assert!(stderr.contains("/no/such/monitor.toml"), "{stderr}");
}

#[test]
fn validate_prints_what_would_run() {
    let config = TestConfig::new("[[check]]\nname = \"root\"\nkind = \"disk\"\npath = \"/\"\ncritical = true\n[[check]]\nname = \"api\"\nkind = \"http\"\nurl = \"https://user:hunter2@example.com/health\"\ncron = \"*/5 * * * *\"\n");
    let (code, stdout, _) = run_cli(&["validate", "-c", config.path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("is valid"), "{stdout}");
    assert!(
        stdout.contains("root")
            && stdout.contains("every 30s")
            && stdout.contains("cron 0 */5 * * * *"),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://user:***@example.com/health"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2"),
        "the password must not be printed: {stdout}"
    );
}

#[test]
fn validate_warns_about_a_timeout_longer_than_the_interval_and_still_exits_0() {
    let config = TestConfig::new(
        "[[check]]\nname = \"slow\"\nkind = \"memory\"\ninterval = \"5s\"\ntimeout = \"30s\"\n",
    );
    let (code, stdout, _) = run_cli(&["validate", "-c", config.path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("warning   check[0].timeout: 30s is longer than the check's interval (5s)"),
        "{stdout}"
    );
}

#[test]
fn the_bundled_monitor_toml_is_valid() {
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/monitor.toml");
    let (code, stdout, stderr) = run_cli(&["validate", "-c", bundled]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn every_commented_example_in_the_bundled_monitor_toml_is_valid() {
    let bundled =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/monitor.toml")).unwrap();
    // Uncomment each `# [[check]]` block (lines starting "# # " stay comments).
    let mut examples = String::new();
    let mut in_block = false;
    for line in bundled.lines() {
        if line == "# [[check]]" {
            in_block = true;
        } else if !line.starts_with("# ") {
            in_block = false;
        }
        if in_block && !line.starts_with("# # ") {
            examples.push_str(&line[2..]);
            examples.push('\n');
        }
    }
    let kinds: std::collections::BTreeSet<&str> = examples
        .lines()
        .filter_map(|l| l.strip_prefix("kind = \""))
        .map(|k| k.split('"').next().unwrap())
        .collect();
    for kind in [
        "http", "tcp", "dns", "tls", "postgres", "mysql", "redis", "amqp", "mqtt", "nats", "smtp",
        "command", "push", "disk",
    ] {
        assert!(
            kinds.contains(kind),
            "monitor.toml has no commented example of `{kind}`"
        );
    }
    let config = TestConfig::new(&examples);
    let out = std::process::Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&config.path)
        .envs([
            ("API_TOKEN", "t"),
            ("API_PASSWORD", "p"),
            ("PG_PASSWORD", "p"),
            ("MYSQL_PASSWORD", "p"),
            ("REDIS_PASSWORD", "p"),
            ("RABBITMQ_PASSWORD", "p"),
            ("MQTT_PASSWORD", "p"),
            ("SMTP_PASSWORD", "p"),
            ("BACKUP_PUSH_TOKEN", "0123456789abcdef"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{examples}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_database_that_cannot_be_created_stops_the_start_naming_storage_path() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the database's directory should be: fails even as root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let db = blocker.join("healthmon.db");
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"{}\"\n[[check]]\nname = \"mem\"\nkind = \"memory\"\n",
        db.display()
    );
    let (code, stderr) = run_with(&config);
    assert_eq!(code, 1, "{stderr}");
    let expected = format!(
        "storage.path: cannot create the directory {} for the database",
        blocker.display()
    );
    assert!(
        stderr.contains(&expected),
        "expected `{expected}` in:\n{stderr}"
    );
    // The cause is said once, not once per layer of the error chain.
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
}

#[test]
fn validate_into_a_closed_pipe_ends_quietly() {
    // As in `healthmon validate | head -1`: the reader is gone before the output is written.
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/monitor.toml");
    let mut child = std::process::Command::new(BIN)
        .args(["validate", "-c", bundled])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
