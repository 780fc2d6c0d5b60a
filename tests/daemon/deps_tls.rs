//! `tls` and `http` on https against a TLS server with a certificate the test generates.

use crate::helpers::*;
use crate::services::*;

fn tls_check(port: u16, ca: &std::path::Path, extra: &str) -> String {
    format!("[[check]]\nname = \"cert\"\nkind = \"tls\"\nurl = \"tls://localhost:{port}\"\nca_file = \"{}\"\n{extra}", ca.display())
}

#[tokio::test]
async fn a_certificate_expiring_in_five_days_fails_by_default_and_degrades_with_a_lower_crit() {
    let cert = TestCert::new(5);
    let (port, _server) = tls_server(&cert).await;
    let (_, body) = check_now(&tls_check(port, cert.ca(), "")).await;
    let c = &body["checks"]["cert"];
    assert_eq!(
        c["status"], "unhealthy",
        "5 days is below the default crit of 7: {body}"
    );
    let days = c["observed"]["days_left"].as_f64().unwrap();
    assert!((4.8..=5.0).contains(&days), "{c}");
    assert!(
        c["message"].as_str().unwrap().contains("below crit 7"),
        "{c}"
    );

    let (_, body) = check_now(&tls_check(port, cert.ca(), "warn = 14\ncrit = 3\n")).await;
    assert_eq!(body["checks"]["cert"]["status"], "degraded", "{body}");

    let long = TestCert::new(90);
    let (port, _server) = tls_server(&long).await;
    let (code, body) = check_now(&tls_check(port, long.ca(), "")).await;
    assert_eq!(code, 0, "{body}");
}

#[tokio::test]
async fn the_hostname_and_the_issuer_are_verified() {
    let cert = TestCert::new(90);
    let (port, _server) = tls_server(&cert).await;
    let (_, body) = check_now(&tls_check(
        port,
        cert.ca(),
        "server_name = \"example.com\"\n",
    ))
    .await;
    assert_eq!(body["checks"]["cert"]["status"], "unhealthy");
    assert!(
        body["checks"]["cert"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid for name \"example.com\""),
        "{body}"
    );
    // Against the system's roots, a private CA is unknown.
    let config =
        format!("[[check]]\nname = \"cert\"\nkind = \"tls\"\nurl = \"tls://localhost:{port}\"\n");
    let (_, body) = check_now(&config).await;
    assert_eq!(body["checks"]["cert"]["status"], "unhealthy", "{body}");
}

#[tokio::test]
async fn an_https_check_reports_the_days_left_too() {
    let cert = TestCert::new(5);
    let (port, _server) = tls_server(&cert).await;
    let config = format!(
        "[[check]]\nname = \"site\"\nkind = \"http\"\nurl = \"https://localhost:{port}/\"\nca_file = \"{}\"\ncert_crit_days = 3\n",
        cert.ca().display()
    );
    let (_, body) = check_now(&config).await;
    let site = &body["checks"]["site"];
    assert_eq!(
        site["status"], "degraded",
        "5 days is below the default cert_warn_days of 14: {body}"
    );
    assert!(
        site["observed"]["days_left"].as_f64().unwrap() < 5.1,
        "{site}"
    );
    assert_eq!(site["observed"]["status_code"], 200);
}

#[tokio::test]
async fn an_http_check_presents_its_client_certificate_for_mutual_tls() {
    let cert = TestCert::new(90);
    let (port, _server) = mtls_server(&cert).await;
    let base = format!("[[check]]\nname = \"mtls\"\nkind = \"http\"\nurl = \"https://localhost:{port}/\"\nca_file = \"{}\"\n", cert.ca().display());
    let (_, body) = check_now(&base).await;
    assert_eq!(
        body["checks"]["mtls"]["status"], "unhealthy",
        "refused without a client certificate: {body}"
    );
    let with_cert = format!(
        "{base}client_cert = \"{}\"\nclient_key = \"{}\"\n",
        cert.client_cert_path.display(),
        cert.client_key_path.display()
    );
    let (code, body) = check_now(&with_cert).await;
    assert_eq!(code, 0, "{body}");
    assert_eq!(body["checks"]["mtls"]["observed"]["status_code"], 200);
}
