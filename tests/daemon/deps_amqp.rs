//! `amqp` against the machine's RabbitMQ.

use crate::helpers::*;
use crate::services::*;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

async fn connect() -> Connection {
    Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ (run scripts/services)")
}

/// A connection and a channel on which `queue` is declared.
async fn declare(queue: &str) -> (Connection, lapin::Channel) {
    let conn = connect().await;
    let channel = conn.create_channel().await.unwrap();
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    (conn, channel)
}

fn config(queue: &str, extra: &str) -> String {
    format!("[[check]]\nname = \"broker\"\nkind = \"amqp\"\nurl = \"{}\"\nqueues = [\"{queue}\"]\n{extra}", amqp_url())
}

#[tokio::test]
async fn a_queue_filled_past_crit_is_unhealthy_and_healthy_once_drained() {
    let queue = format!("healthmon-test-depth-{}", std::process::id());
    let (_conn, channel) = declare(&queue).await;
    channel.confirm_select(Default::default()).await.unwrap();
    for _ in 0..25 {
        channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                b"task",
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let (_, body) = check_once(&config(&queue, "warn = 5\ncrit = 20\n"));
    let broker = &body["checks"]["broker"];
    assert_eq!(broker["status"], "unhealthy", "{body}");
    assert_eq!(broker["observed"]["queue_depth"], 25);
    assert!(
        broker["message"]
            .as_str()
            .unwrap()
            .contains("holds 25 messages (above crit 20)"),
        "{broker}"
    );

    channel
        .queue_purge(queue.as_str().into(), Default::default())
        .await
        .unwrap();
    let (_, body) = check_once(&config(&queue, "warn = 5\ncrit = 20\n"));
    assert_eq!(body["checks"]["broker"]["status"], "healthy", "{body}");
    assert_eq!(body["checks"]["broker"]["observed"]["queue_depth"], 0);
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_queue_without_its_workers_is_unhealthy() {
    let queue = format!("healthmon-test-workers-{}", std::process::id());
    let (_conn, channel) = declare(&queue).await;
    let (_, body) = check_once(&config(&queue, "min_consumers = 1\n"));
    assert_eq!(body["checks"]["broker"]["status"], "unhealthy", "{body}");
    assert!(
        body["checks"]["broker"]["message"]
            .as_str()
            .unwrap()
            .contains("0 consumers (min_consumers 1)"),
        "{body}"
    );

    let _consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "worker".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let (_, body) = check_once(&config(&queue, "min_consumers = 1\n"));
    assert_eq!(body["checks"]["broker"]["status"], "healthy", "{body}");
    assert_eq!(
        body["checks"]["broker"]["observed"]["queues"][&queue]["consumers"],
        1
    );
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
}

#[test]
fn a_missing_queue_and_wrong_credentials_are_unhealthy() {
    let (_, body) = check_once(&config("healthmon-no-such-queue", ""));
    assert!(
        body["checks"]["broker"]["message"]
            .as_str()
            .unwrap()
            .contains("NOT_FOUND"),
        "{body}"
    );
    let config = "[[check]]\nname = \"broker\"\nkind = \"amqp\"\nurl = \"amqp://guest:Canary-Pa55word@127.0.0.1:5672/%2f\"\n";
    let (_, body) = check_once(config);
    assert_eq!(body["checks"]["broker"]["status"], "unhealthy");
    assert!(
        body["checks"]["broker"]["message"]
            .as_str()
            .unwrap()
            .contains("ACCESS_REFUSED"),
        "{body}"
    );
    assert!(!body.to_string().contains("Canary-Pa55word"), "{body}");
}
