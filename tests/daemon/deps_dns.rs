//! `dns` through the system resolver (/etc/hosts) and through dnsmasq started per test.

use crate::helpers::*;
use crate::services::*;

fn dns_check(url: &str, expect: Option<&str>) -> String {
    let expect = expect
        .map(|e| format!("expect = \"{e}\"\n"))
        .unwrap_or_default();
    format!("[[check]]\nname = \"dns\"\nkind = \"dns\"\nurl = \"{url}\"\n{expect}")
}

#[test]
fn the_system_resolver_finds_localhost() {
    let (code, body) = check_once(&dns_check("dns:///localhost?type=A", Some("127.0.0.1")));
    assert_eq!(code, 0, "{body}");
    assert_eq!(body["checks"]["dns"]["observed"]["records"][0], "127.0.0.1");
}

#[test]
fn a_resolver_in_the_url_answers_each_record_type() {
    let server = dns_server();
    let base = format!("dns://127.0.0.1:{}", server.port);
    let cases = [
        ("web.healthmon.test?type=A", "10.1.2.3"),
        ("healthmon.test?type=MX", "mail.healthmon.test"),
        ("healthmon.test?type=TXT", "v=spf1 -all"),
        ("www.healthmon.test?type=CNAME", "web.healthmon.test"),
    ];
    for (query, expected) in cases {
        let (code, body) = check_once(&dns_check(&format!("{base}/{query}"), Some(expected)));
        assert_eq!(code, 0, "{query}: {body}");
    }
    let (_, body) = check_once(&dns_check(
        &format!("{base}/web.healthmon.test?type=A"),
        Some("10.9.9.9"),
    ));
    assert_eq!(body["checks"]["dns"]["status"], "unhealthy");
    assert!(
        body["checks"]["dns"]["message"]
            .as_str()
            .unwrap()
            .contains("expected 10.9.9.9"),
        "{body}"
    );
    let (_, body) = check_once(&dns_check(
        &format!("{base}/nothing.healthmon.test?type=A"),
        None,
    ));
    assert_eq!(body["checks"]["dns"]["status"], "unhealthy", "{body}");
}
