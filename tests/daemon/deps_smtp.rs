//! `smtp` against aiosmtpd (Debian's python3-aiosmtpd), started per test.

use crate::helpers::*;
use crate::services::*;

fn smtp_check(url: &str, extra: &str) -> String {
    format!("[[check]]\nname = \"mail\"\nkind = \"smtp\"\nurl = \"{url}\"\n{extra}")
}

#[test]
fn a_plain_smtp_conversation_is_healthy() {
    let server = smtp_server(None, None);
    let (code, body) = check_once(&smtp_check(
        &format!("smtp://127.0.0.1:{}", server.port),
        "",
    ));
    let mail = &body["checks"]["mail"];
    assert_eq!(code, 0, "{body}");
    assert_eq!(mail["observed"]["server"], "healthmon-test-smtp");
    assert_eq!(mail["observed"]["tls"], false);
}

#[test]
fn starttls_is_used_when_asked_and_the_certificate_is_verified() {
    let cert = TestCert::new(90);
    let server = smtp_server(Some(&cert), None);
    let url = format!("smtp://localhost:{}?tls=starttls", server.port);
    let (code, body) = check_once(&smtp_check(
        &url,
        &format!("ca_file = \"{}\"\n", cert.ca().display()),
    ));
    assert_eq!(code, 0, "{body}");
    assert_eq!(body["checks"]["mail"]["observed"]["tls"], true);
    assert_eq!(body["checks"]["mail"]["observed"]["starttls_offered"], true);
    // Without the private CA the server is not trusted.
    let (_, body) = check_once(&smtp_check(&url, ""));
    assert_eq!(body["checks"]["mail"]["status"], "unhealthy", "{body}");
}

#[test]
fn auth_succeeds_with_the_right_password_and_fails_without_showing_the_wrong_one() {
    let server = smtp_server(None, Some(("monitor", "right-password")));
    let good = format!("smtp://monitor:right-password@127.0.0.1:{}", server.port);
    let (code, body) = check_once(&smtp_check(&good, ""));
    assert_eq!(code, 0, "{body}");
    assert_eq!(body["checks"]["mail"]["observed"]["authenticated"], true);

    let bad = format!("smtp://monitor:Canary-Pa55word@127.0.0.1:{}", server.port);
    let (_, body) = check_once(&smtp_check(&bad, ""));
    let mail = &body["checks"]["mail"];
    assert_eq!(mail["status"], "unhealthy", "{body}");
    assert!(
        mail["message"].as_str().unwrap().contains("535"),
        "the server's refusal is shown: {mail}"
    );
    assert!(!body.to_string().contains("Canary-Pa55word"), "{body}");
}
