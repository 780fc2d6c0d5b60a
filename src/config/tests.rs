use super::*;

fn env(name: &str) -> Option<String> {
    (name == "TOKEN").then(|| "t0ken".to_string())
}

fn parse_str(text: &str) -> Result<Config, ConfigErrors> {
    parse(text, Path::new("monitor.toml"), &env)
}

fn first_error(text: &str) -> String {
    match parse_str(text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e.0[0].to_string(),
    }
}

#[test]
fn an_empty_file_is_a_valid_config_with_defaults() {
    let c = parse_str("").unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.storage.retention, Duration::from_secs(90 * 86_400));
    assert!(c.checks.is_empty());
}

#[test]
fn defaults_apply_to_checks_and_checks_override_them() {
    let c = parse_str(
        r#"
        [defaults]
        interval = "10s"
        timeout = "2s"
        warn = 70
        [[check]]
        name = "root"
        kind = "disk"
        path = "/"
        [[check]]
        name = "mem"
        kind = "memory"
        interval = "1m"
        warn = 50
        [[check]]
        name = "web"
        kind = "tcp"
        url = "tcp://127.0.0.1:80"
        cron = "*/5 * * * *"
        "#,
    )
    .unwrap();
    assert_eq!(
        c.checks[0].schedule,
        Schedule::Every(Duration::from_secs(10))
    );
    assert_eq!(c.checks[0].timeout, Duration::from_secs(2));
    assert_eq!(c.checks[0].check.thresholds()["warn"], 70.0);
    assert_eq!(
        c.checks[1].schedule,
        Schedule::Every(Duration::from_secs(60))
    );
    assert_eq!(c.checks[1].check.thresholds()["warn"], 50.0);
    // `warn` from [defaults] means nothing to tcp and is ignored; its own cron wins over the default interval.
    assert_eq!(c.checks[2].schedule, Schedule::Cron("0 */5 * * * *".into()));
}

#[test]
fn environment_variables_expand_and_tokens_stay_secret() {
    let c = parse_str("[server]\ntoken = \"${TOKEN}\"\nlisten = \"${LISTEN:-127.0.0.1:9999}\"")
        .unwrap();
    assert_eq!(c.server.token.as_ref().unwrap().expose(), "t0ken");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9999");
    assert!(!format!("{c:?}").contains("t0ken"));
}

#[test]
fn bad_configs_name_the_key_and_what_was_expected() {
    let cases = [
        ("[[check]]\nname = \"a\"\nkind = \"htp\"", "check[0].kind: unknown kind `htp`; expected one of http,"),
        ("[[check]]\nname = \"a\"\nkind = \"disk\"\npath = \"/\"\ntimeout = \"5 sec\"", "check[0].timeout: expected a duration"),
        ("[[check]]\nname = \"a\"\nkind = \"disk\"\npath = \"/\"\ninterval = \"1500ms\"", "check[0].interval: expected a whole number of seconds"),
        ("[[check]]\nname = \"live\"\nkind = \"memory\"", "check[0].name: `live` is reserved"),
        ("[[check]]\nname = \"DB\"\nkind = \"memory\"", "check[0].name: expected 1 to 64 characters"),
        ("[[check]]\nname = \"a\"\nkind = \"tcp\"\nurl = \"tcp://${NOPE}:1\"", "check[0].url: environment variable NOPE is not set"),
        ("[[check]]\nname = \"a\"\nkind = \"disk\"\npath = \"/\"\nwarn = 95\ncrit = 90", "check[0].warn: expected warn (95) to be at most crit (90)"),
        ("[[check]]\nname = \"a\"\nkind = \"disk\"", "check[0].path: is required but missing"),
        ("[[check]]\nname = \"a\"\nkind = \"disk\"\npath = \"/\"\nmethod = \"GET\"", "check[0].method: unknown key for kind `disk`"),
        ("[[check]]\nname = \"a\"\nkind = \"memory\"\ncron = \"61 * * * *\"", "check[0].cron: expected a valid cron expression"),
        ("[[check]]\nname = \"a\"\nkind = \"memory\"\nfailure_threshold = 0", "check[0].failure_threshold: expected at least 1"),
        ("[server]\nlisten = \"localhost\"", "server.listen: expected an IP address and port"),
        ("[storage]\nretention = \"forever\"", "storage.retention: expected a duration"),
        ("[servr]\nlisten = \"127.0.0.1:1\"", "servr: unknown section"),
        ("[defaults]\nintervall = \"5s\"", "defaults.intervall: not a key any check accepts"),
        ("[[check]]\nkind = \"memory\"", "check[0].name: is required but missing"),
        ("[[check]]\nname = \"a\"\nkind = \"command\"\ncommand = []", "check[0].command: expected an argv list"),
        ("[[check]]\nname = \"a\"\nkind = \"http\"\nurl = \"ftp://x\"", "check[0].url: expected an http:// or https:// URL"),
        ("[[check]]\nname = \"a\"\nkind = \"http\"\nurl = \"http://x\"\nexpect_status = [\"9xx\"]", "check[0].expect_status[0]: expected a status code"),
    ];
    for (text, expected) in cases {
        let err = first_error(text);
        assert!(
            err.starts_with(expected),
            "for\n{text}\nexpected `{expected}`, got `{err}`"
        );
    }
}

#[test]
fn duplicate_names_are_reported_against_the_first_use() {
    let err = first_error(
        "[[check]]\nname = \"a\"\nkind = \"memory\"\n[[check]]\nname = \"a\"\nkind = \"memory\"",
    );
    assert_eq!(
        err,
        "check[1].name: duplicate name `a`, already used by check[0]"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = parse_str("[[check]]\nname = \"A\"\nkind = \"memory\"\ntimeout = \"x\"\n[[check]]\nname = \"b\"\nkind = \"nope\"")
        .unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors}");
}

#[test]
fn broken_toml_reports_line_and_column() {
    let err = first_error("[service]\nname = \"x\"\n[[check]\nname = 1");
    assert!(err.contains("line 3, column"), "{err}");
}

#[test]
fn urls_with_passwords_are_redacted_in_targets_and_errors() {
    let c = parse_str(
        "[[check]]\nname = \"a\"\nkind = \"http\"\nurl = \"https://u:hunter2@example.com/x\"",
    )
    .unwrap();
    assert_eq!(c.checks[0].target, "GET https://u:***@example.com/x");
    assert!(c.checks[0].secrets.contains("hunter2"));
    assert!(
        !format!("{:?}", c.checks[0]).contains("hunter2"),
        "Debug of a check never shows its secrets"
    );
    let err =
        first_error("[[check]]\nname = \"a\"\nkind = \"tcp\"\nurl = \"redis://u:hunter2@host:1\"");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_push_check_is_evaluated_more_often_than_its_heartbeat_period() {
    let c = parse_str("[[check]]\nname = \"backup\"\nkind = \"push\"\ntoken = \"0123456789abcdef\"\ninterval = \"1d\"\n").unwrap();
    assert_eq!(
        c.checks[0].schedule,
        Schedule::Every(Duration::from_secs(30))
    );
    assert!(
        !c.checks[0].check.uses_breaker(),
        "a passive check has no dependency to protect"
    );
    assert_eq!(c.checks[0].check.thresholds()["expected_every"], "1d");
}

#[test]
fn the_default_timeout_is_5s_but_never_longer_than_the_interval() {
    let c = parse_str(
        "[[check]]\nname = \"a\"\nkind = \"memory\"\ninterval = \"1s\"\n[[check]]\nname = \"b\"\nkind = \"memory\"\n[[check]]\nname = \"c\"\nkind = \"memory\"\ninterval = \"3s\"\ntimeout = \"2s\"\n",
    )
    .unwrap();
    let timeouts: Vec<Duration> = c.checks.iter().map(|d| d.timeout).collect();
    assert_eq!(
        timeouts,
        [
            Duration::from_secs(1),
            Duration::from_secs(5),
            Duration::from_secs(2)
        ]
    );
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn a_timeout_longer_than_the_interval_is_accepted_with_a_warning() {
    let c = parse_str(
        "[[check]]\nname = \"a\"\nkind = \"memory\"\n[[check]]\nname = \"slow\"\nkind = \"memory\"\ninterval = \"5s\"\ntimeout = \"30s\"\n",
    )
    .unwrap();
    let warnings = c.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("check[1].timeout: 30s is longer than the check's interval (5s)"),
        "{}",
        warnings[0]
    );
}
