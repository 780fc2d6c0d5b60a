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
    // Uncomment each `# [[check]]`, `# [[alert]]`, `# [[notifier]]` and `# [[maintenance]]`
    // block (lines starting "# # " stay comments).
    let mut examples = String::new();
    let mut in_block = false;
    for line in bundled.lines() {
        if [
            "# [[check]]",
            "# [[alert]]",
            "# [[notifier]]",
            "# [[maintenance]]",
        ]
        .contains(&line)
        {
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
        "command", "push", "disk", "email", "webhook",
    ] {
        assert!(
            kinds.contains(kind),
            "monitor.toml has no commented example of `{kind}`"
        );
    }
    // The examples refer to the bundled config's checks (`store`) and notifiers.
    assert!(examples.contains("[[alert]]") && examples.contains("[[maintenance]]"));
    let config = TestConfig::new(&format!(
        "{examples}[[check]]\nname = \"store\"\nkind = \"memory\"\n"
    ));
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
            ("HOOK_TOKEN", "t0ken"),
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

#[test]
fn bad_alerting_configs_exit_3_naming_the_key() {
    let notifier =
        "[[notifier]]\nname = \"oncall\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n";
    let check = "[[check]]\nname = \"api\"\nkind = \"memory\"\n";
    let cases = [
        (format!("{check}[[alert]]\nname = \"a\"\ncheck = \"api\"\nmetric = \"response_time_ms\"\nwarn = 1\n[[alert]]\nname = \"b\"\ncheck = \"api\"\nmetric = \"response_time_ms\"\nwarn = 1\nfor = \"soon\"\n"), "alert[1].for: expected a duration"),
        ("[[notifier]]\nkind = \"webhook\"\nurl = \"ftp://example.com/\"\n".to_string(), "notifier[0].url: expected an http:// or https:// URL"),
        ("[[notifier]]\nkind = \"pager\"\n".to_string(), "notifier[0].kind: unknown kind `pager`; expected one of email, webhook"),
        (format!("{notifier}[[check]]\nname = \"api\"\nkind = \"memory\"\nnotify = [\"pager\"]\n"), "check[0].notify[0]: no notifier named `pager`; expected one of oncall"),
        (format!("{notifier}{check}[[alert]]\nname = \"a\"\ncheck = \"api\"\nmetric = \"error_rate\"\nwarn = 5\nnotify = [\"oncall\", \"sms\"]\n"), "alert[0].notify[1]: no notifier named `sms`"),
        (format!("{check}[[alert]]\nname = \"a\"\ncheck = \"web\"\nmetric = \"response_time_ms\"\nwarn = 1\n"), "alert[0].check: no check named `web`"),
        (format!("{check}[[alert]]\nname = \"a\"\ncheck = \"api\"\nmetric = \"error_rate\"\nwarn = 5\n"), "alert[0].window: is required for metric `error_rate`"),
        (format!("{check}[[slo]]\ncheck = \"api\"\nobjective = 100\n"), "slo[0].objective: expected a percentage above 0 and below 100"),
        (format!("{check}[[maintenance]]\nname = \"m\"\nstart = \"2026-12-05T02:00:00\"\nend = \"2026-12-05T03:00:00\"\ntz = \"Mars/Olympus\"\n"), "maintenance[0].tz: expected an IANA time zone"),
        (format!("{check}[alerting]\ngroup_wait = \"a while\"\n"), "alerting.group_wait: expected a duration"),
        ("[[check]]\nname = \"a\"\nkind = \"memory\"\ndepends_on = [\"b\"]\n[[check]]\nname = \"b\"\nkind = \"memory\"\ndepends_on = [\"a\"]\n".to_string(), "check[0].depends_on: depends on itself through a → b → a"),
    ];
    for (config, expected) in cases {
        let (code, stderr) = run_with(&config);
        assert_eq!(code, 3, "exit code for\n{config}\nstderr: {stderr}");
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in:\n{stderr}"
        );
    }
}

#[test]
fn validate_describes_the_alerting_setup_without_its_secrets() {
    let config = TestConfig::new(
        "[[notifier]]\nname = \"oncall\"\nkind = \"email\"\nurl = \"smtp://bob:Canary-Pa55@127.0.0.1:2525?tls=none\"\nfrom = \"healthmon@example.com\"\nto = [\"a@example.com\", \"b@example.com\"]\n\
         [[notifier]]\nname = \"hooks\"\nkind = \"webhook\"\nurl = \"https://hooks.example.com/in?token=Canary-T0ken\"\nheaders = { Authorization = \"Bearer Canary-Bearer\" }\n\
         [[check]]\nname = \"network\"\nkind = \"memory\"\n[[check]]\nname = \"api\"\nkind = \"memory\"\ndepends_on = [\"network\"]\nnotify = [\"oncall\"]\n\
         [[alert]]\nname = \"api-slow\"\ncheck = \"api\"\nmetric = \"response_time_ms\"\nwarn = 500\ncrit = 1000\nfor = \"5m\"\n\
         [[slo]]\ncheck = \"api\"\nobjective = 99.9\n\
         [[maintenance]]\nname = \"upgrade\"\nchecks = [\"api\"]\nstart = \"2026-12-05T02:00:00\"\nend = \"2026-12-05T03:00:00\"\ntz = \"Europe/Berlin\"\n",
    );
    let (code, stdout, stderr) = run_cli(&["validate", "-c", config.path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for expected in [
        "notifier  oncall (email) smtp://bob:***@127.0.0.1:2525?tls=none → a@example.com, b@example.com",
        "notifier  hooks (webhook) https://hooks.example.com/in?token=***",
        "alert     api-slow: response_time_ms of api, warning ≥ 500, critical ≥ 1000, for 5m",
        "slo       api: 99.9 % of api over 30d (error budget 43.2 min)",
        "maintenance upgrade: 2026-12-05 02:00–03:00 Europe/Berlin for api",
        "depends   api on network",
    ] {
        assert!(stdout.contains(expected), "expected `{expected}` in:\n{stdout}");
    }
    assert!(!stdout.contains("Canary"), "{stdout}");
}
