//! `mqtt` against Mosquitto and `nats` against NATS with JetStream.

use crate::helpers::*;
use crate::services::*;

#[test]
fn mqtt_publishes_and_receives_its_own_message() {
    let (code, body) = check_once(&format!(
        "[[check]]\nname = \"devices\"\nkind = \"mqtt\"\nurl = \"{}\"\n",
        mqtt_url()
    ));
    assert_eq!(code, 0, "{body}");
    assert!(
        body["checks"]["devices"]["observed"]["round_trip_ms"]
            .as_f64()
            .unwrap()
            > 0.0,
        "{body}"
    );
}

#[test]
fn nats_does_a_round_trip_through_the_server() {
    let (code, body) = check_once(&format!(
        "[[check]]\nname = \"bus\"\nkind = \"nats\"\nurl = \"{}\"\n",
        nats_url()
    ));
    assert_eq!(code, 0, "{body}");
    assert!(
        body["checks"]["bus"]["observed"]["round_trip_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(body["checks"]["bus"]["observed"]["server_version"].is_string());
}

#[tokio::test]
async fn a_jetstream_consumer_falling_behind_degrades() {
    use async_nats::jetstream::{self, consumer, stream};
    let client = async_nats::connect(nats_url())
        .await
        .expect("NATS (run scripts/services)");
    let js = jetstream::new(client);
    let name = format!("HM_TEST_{}", std::process::id());
    let subject = format!("hmtest.{}", std::process::id());
    let stream = js
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("worker".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    for _ in 0..5 {
        js.publish(subject.clone(), "job".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let config = format!(
        "[[check]]\nname = \"bus\"\nkind = \"nats\"\nurl = \"{}\"\nstream = \"{name}\"\nconsumer = \"worker\"\nwarn = 2\ncrit = 10\n",
        nats_url()
    );
    let (_, body) = check_once(&config);
    let _ = js.delete_stream(&name).await;
    let bus = &body["checks"]["bus"];
    assert_eq!(bus["status"], "degraded", "{body}");
    assert_eq!(bus["observed"]["pending"], 5);
    assert!(
        bus["message"]
            .as_str()
            .unwrap()
            .contains("5 messages behind"),
        "{bus}"
    );
}
