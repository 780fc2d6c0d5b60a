//! Every network kind fails clearly, and within its timeout, against a refused port and a
//! server that accepts but never answers.

use crate::helpers::*;
use crate::services::*;

fn checks_against(addr: &str, port: u16) -> String {
    let kinds = [
        ("http", format!("http://{addr}/")),
        ("postgres", format!("postgres://postgres@{addr}/test")),
        ("mysql", format!("mysql://root@{addr}/test")),
        ("redis", format!("redis://{addr}/0")),
        ("amqp", format!("amqp://guest:guest@{addr}/%2f")),
        ("mqtt", format!("mqtt://{addr}")),
        ("nats", format!("nats://{addr}")),
        ("smtp", format!("smtp://{addr}")),
        ("tls", format!("tls://localhost:{port}")),
    ];
    kinds
        .iter()
        .map(|(kind, url)| format!("[[check]]\nname = \"{kind}\"\nkind = \"{kind}\"\nurl = \"{url}\"\ntimeout = \"1s\"\n"))
        .collect()
}

#[test]
fn a_refused_port_is_unhealthy_at_once_for_every_kind() {
    let port = free_port();
    let (_, body) = check_once(&checks_against(&format!("127.0.0.1:{port}"), port));
    for (name, check) in body["checks"].as_object().unwrap() {
        assert_eq!(check["status"], "unhealthy", "{name}: {check}");
        let message = check["message"].as_str().unwrap().to_lowercase();
        assert!(
            message.contains("refused"),
            "{name} should say the connection was refused: {message}"
        );
        assert!(
            check["response_time_ms"].as_f64().unwrap() < 1000.0,
            "{name}: {check}"
        );
    }
}

#[tokio::test]
async fn a_silent_server_is_cut_at_the_timeout_for_every_kind() {
    let (addr, _server) = silent_server().await;
    let (_, body) = tokio::task::spawn_blocking(move || {
        check_once(&checks_against(&addr.to_string(), addr.port()))
    })
    .await
    .unwrap();
    for (name, check) in body["checks"].as_object().unwrap() {
        assert_eq!(check["status"], "unhealthy", "{name}: {check}");
        let took = check["response_time_ms"].as_f64().unwrap();
        assert!(
            (900.0..1500.0).contains(&took),
            "{name} should give up at its 1 s timeout, took {took} ms: {check}"
        );
        let message = check["message"].as_str().unwrap().to_lowercase();
        assert!(
            ["timed out", "timeout", "within 1s"]
                .iter()
                .any(|w| message.contains(w)),
            "{name} should say it timed out: {message}"
        );
    }
}
