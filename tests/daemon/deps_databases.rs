//! `postgres` and `mysql` against the machine's PostgreSQL and MariaDB.

use crate::helpers::*;
use crate::services::*;

const CANARY: &str = "Canary-Pa55word";

fn with_password(url: &str, user: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_username(user).unwrap();
    u.set_password(Some(CANARY)).unwrap();
    u.to_string()
}

fn with_path(url: &str, path: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(path);
    u.to_string()
}

#[test]
fn postgres_runs_a_query_and_reports_version_and_connections() {
    let config = format!(
        "[[check]]\nname = \"db\"\nkind = \"postgres\"\nurl = \"{}\"\nquery = \"SELECT 40 + 2\"\nexpect = \"42\"\nwarn = 90\ncrit = 95\n",
        postgres_url()
    );
    let (code, body) = check_once(&config);
    let db = &body["checks"]["db"];
    assert_eq!(code, 0, "{body}");
    assert_eq!(db["status"], "healthy");
    assert_eq!(db["observed"]["query_result"], "42");
    assert!(
        db["observed"]["server_version"]
            .as_str()
            .unwrap()
            .starts_with(char::is_numeric),
        "{db}"
    );
    let percent = db["observed"]["connections_percent"].as_f64().unwrap();
    assert!(percent > 0.0 && percent < 90.0, "{db}");
    assert_eq!(db["observed"]["tls"], false);
}

#[test]
fn postgres_uses_tls_when_the_url_requires_it() {
    let url = format!("{}?sslmode=require", postgres_url());
    let config = format!(
        "[[check]]\nname = \"db\"\nkind = \"postgres\"\nurl = \"{url}\"\ntls_skip_verify = true\n"
    );
    let (_, body) = check_once(&config);
    assert_eq!(body["checks"]["db"]["status"], "healthy", "{body}");
    assert_eq!(
        body["checks"]["db"]["observed"]["tls"], true,
        "the session must be encrypted: {body}"
    );
    // Without trusting its self-signed certificate, the server is refused.
    let config = format!("[[check]]\nname = \"db\"\nkind = \"postgres\"\nurl = \"{url}\"\n");
    let (_, body) = check_once(&config);
    assert_eq!(body["checks"]["db"]["status"], "unhealthy", "{body}");
    assert!(
        body["checks"]["db"]["message"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{body}"
    );
}

#[test]
fn postgres_failures_say_why_and_never_show_the_password() {
    let cases = [
        (
            with_password(&postgres_url(), "nosuchuser"),
            "role \"nosuchuser\" does not exist",
        ),
        (
            with_path(&with_password(&postgres_url(), "postgres"), "/nosuchdb"),
            "database \"nosuchdb\" does not exist",
        ),
        (
            with_password(
                &format!("postgres://postgres@127.0.0.1:{}/test", free_port()),
                "postgres",
            ),
            "refused",
        ),
    ];
    for (url, expected) in cases {
        let config = format!(
            "[[check]]\nname = \"db\"\nkind = \"postgres\"\nurl = \"{url}\"\ntimeout = \"3s\"\n"
        );
        let (code, body) = check_once(&config);
        let db = &body["checks"]["db"];
        assert_eq!(
            (code, db["status"].as_str()),
            (1, Some("unhealthy")),
            "{body}"
        );
        let message = db["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "expected `{expected}` in `{message}`"
        );
        assert!(
            !body.to_string().contains(CANARY),
            "the password leaked: {body}"
        );
    }
    let config = format!(
        "[[check]]\nname = \"db\"\nkind = \"postgres\"\nurl = \"{}\"\nquery = \"SELECT 'DOWN'\"\nexpect = \"UP\"\n",
        postgres_url()
    );
    let (_, body) = check_once(&config);
    assert_eq!(
        body["checks"]["db"]["message"],
        "query returned `DOWN`, expected `UP`"
    );
}

#[test]
fn mysql_runs_a_query_and_reports_version_and_connections() {
    let config = format!(
        "[[check]]\nname = \"db\"\nkind = \"mysql\"\nurl = \"{}\"\nquery = \"SELECT 'ok'\"\nexpect = \"ok\"\n",
        mysql_url()
    );
    let (code, body) = check_once(&config);
    let db = &body["checks"]["db"];
    assert_eq!(code, 0, "{body}");
    assert_eq!(db["observed"]["query_result"], "ok");
    assert!(
        db["observed"]["server_version"]
            .as_str()
            .unwrap()
            .contains("MariaDB")
            || db["observed"]["server_version"].is_string()
    );
    assert!(db["observed"]["max_connections"].as_f64().unwrap() > 0.0);
    // Past `crit` percent of connections in use is unhealthy.
    let config = format!(
        "[[check]]\nname = \"db\"\nkind = \"mysql\"\nurl = \"{}\"\nwarn = 0\ncrit = 0\n",
        mysql_url()
    );
    let (code, body) = check_once(&config);
    assert_eq!(
        code, 1,
        "a non-critical unhealthy check degrades the whole: {body}"
    );
    assert!(
        body["checks"]["db"]["message"]
            .as_str()
            .unwrap()
            .contains("of connections in use (above crit 0)"),
        "{body}"
    );
}

#[test]
fn mysql_failures_say_why_and_never_show_the_password() {
    let cases = [
        (with_password(&mysql_url(), "root"), "Access denied"),
        (with_path(&mysql_url(), "/nosuchdb"), "Unknown database"),
        (
            format!("mysql://root:{CANARY}@127.0.0.1:{}/test", free_port()),
            "refused",
        ),
    ];
    for (url, expected) in cases {
        let config = format!(
            "[[check]]\nname = \"db\"\nkind = \"mysql\"\nurl = \"{url}\"\ntimeout = \"3s\"\n"
        );
        let (_, body) = check_once(&config);
        let db = &body["checks"]["db"];
        assert_eq!(db["status"], "unhealthy", "{body}");
        let message = db["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "expected `{expected}` in `{message}`"
        );
        assert!(
            !body.to_string().contains(CANARY),
            "the password leaked: {body}"
        );
    }
}
