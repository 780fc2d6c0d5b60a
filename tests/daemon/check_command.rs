use crate::helpers::*;

fn command_check(name: &str, script: &str, critical: bool) -> String {
    format!("[[check]]\nname = \"{name}\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"{script}\"]\ncritical = {critical}\n")
}

fn check(config: &str, extra: &[&str]) -> (i32, String) {
    let config = TestConfig::new(config);
    let mut args = vec!["check", "-c", config.path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run_cli(&args);
    (code, format!("{stdout}{stderr}"))
}

#[test]
fn check_exits_with_the_nagios_code_of_the_overall_status() {
    let healthy = command_check("ok", "echo fine", true);
    let degraded = format!(
        "{healthy}{}",
        command_check("slow", "echo slow; exit 1", false)
    );
    let unhealthy = format!(
        "{healthy}{}",
        command_check("db", "echo down; exit 2", true)
    );
    let non_critical_down = format!("{healthy}{}", command_check("cache", "exit 2", false));

    let (code, out) = check(&healthy, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: 1 checks, 1 healthy"), "{out}");
    assert_eq!(check(&degraded, &[]).0, 1);
    let (code, out) = check(&unhealthy, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("CRITICAL") && out.contains("down"), "{out}");
    assert_eq!(
        check(&non_critical_down, &[]).0,
        1,
        "a non-critical failure only degrades"
    );
    assert_eq!(
        check(&non_critical_down, &["--critical-only"]).0,
        0,
        "--critical-only skips it"
    );
}

#[test]
fn check_json_reports_each_result() {
    let config = format!(
        "{}{}",
        command_check("ok", "echo fine", true),
        command_check("slow", "echo slow; exit 1", false)
    );
    let (code, out) = check(&config, &["--json"]);
    assert_eq!(code, 1);
    let body: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["ok"]["status"], "healthy");
    assert_eq!(body["checks"]["slow"]["message"], "slow");
    assert_eq!(body["checks"]["slow"]["observed"]["exit_code"], 1);
}

#[test]
fn check_with_a_bad_config_exits_3() {
    assert_eq!(check("[[check]]\nname = \"a\"\nkind = \"nope\"", &[]).0, 3);
}
