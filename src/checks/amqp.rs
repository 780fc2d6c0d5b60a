//! `amqp`: RabbitMQ (or any AMQP 0-9-1 broker). Connect, open a channel, and for each of
//! `queues` read its depth and consumers with a passive declare: degraded/unhealthy past
//! `warn`/`crit` messages, unhealthy below `min_consumers` (a queue nobody works on is the
//! outage a port check never sees).

use super::threshold::Thresholds;
use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome, Status};
use crate::redact::SecretUrl;
use async_trait::async_trait;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:port/vhost` (the default vhost `/` is `%2f`).
    pub url: String,
    /// Queues to inspect; none means only connecting and opening a channel.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Messages waiting above which the check is degraded.
    pub warn: Option<f64>,
    /// Messages waiting above which the check is unhealthy.
    pub crit: Option<f64>,
    /// Fewer consumers than this on a queue is unhealthy.
    pub min_consumers: Option<u32>,
}

impl CheckConfig for AmqpConfig {
    const KIND: &'static str = "amqp";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        if !matches!(url.expose().scheme(), "amqp" | "amqps") {
            return Err(FieldError::new(
                "url",
                format!("expected an amqp:// URL, got `{url}`"),
            ));
        }
        let depth = match (self.warn, self.crit) {
            (None, None) => None,
            (w, c) => Some(Thresholds::above(
                w.unwrap_or(f64::MAX),
                c.unwrap_or(f64::MAX),
            )?),
        };
        if self.queues.is_empty() && (depth.is_some() || self.min_consumers.is_some()) {
            return Err(FieldError::new(
                "queues",
                "warn, crit and min_consumers apply to queues; list them in `queues`",
            ));
        }
        Ok(Arc::new(AmqpCheck {
            url,
            queues: self.queues,
            depth,
            min_consumers: self.min_consumers,
        }))
    }
}

#[derive(Debug)]
pub struct AmqpCheck {
    url: SecretUrl,
    queues: Vec<String>,
    depth: Option<Thresholds>,
    min_consumers: Option<u32>,
}

impl AmqpCheck {
    async fn inspect(&self, conn: &Connection) -> Result<Outcome, lapin::Error> {
        let mut outcome = Outcome::healthy();
        let mut per_queue = serde_json::Map::new();
        let mut deepest: Option<u64> = None;
        let mut problems: Vec<(Status, String)> = Vec::new();
        for name in &self.queues {
            // A passive declare of a missing queue closes the channel, so each gets its own.
            let channel = conn.create_channel().await?;
            let options = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let queue = match channel
                .queue_declare(name.as_str().into(), options, FieldTable::default())
                .await
            {
                Ok(q) => q,
                Err(e) => {
                    problems.push((Status::Unhealthy, format!("queue {name}: {e}")));
                    continue;
                }
            };
            let (messages, consumers) = (u64::from(queue.message_count()), queue.consumer_count());
            let _ = channel.close(200, "bye".into()).await;
            per_queue.insert(
                name.clone(),
                serde_json::json!({ "messages": messages, "consumers": consumers }),
            );
            deepest = Some(deepest.map_or(messages, |d| d.max(messages)));
            if let Some(t) = &self.depth {
                let status = t.classify(messages as f64);
                if status != Status::Healthy {
                    problems.push((
                        status,
                        format!(
                            "queue {name} holds {messages} messages ({})",
                            t.describe(messages as f64).unwrap_or_default()
                        ),
                    ));
                }
            }
            if let Some(min) = self.min_consumers {
                if consumers < min {
                    problems.push((
                        Status::Unhealthy,
                        format!("queue {name} has {consumers} consumers (min_consumers {min})"),
                    ));
                }
            }
        }
        if let Some(depth) = deepest {
            outcome = outcome.observe("queue_depth", depth);
        }
        if !per_queue.is_empty() {
            outcome = outcome.observe("queues", serde_json::Value::Object(per_queue));
        }
        outcome.message = Some(match self.queues.len() {
            0 => "connected, channel open".to_string(),
            n => format!("connected, {n} queue(s) inspected"),
        });
        if let Some(worst) = problems.iter().map(|(s, _)| *s).max() {
            outcome.status = worst;
            outcome.message = Some(
                problems
                    .iter()
                    .filter(|(s, _)| *s == worst)
                    .map(|(_, m)| m.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        Ok(outcome)
    }
}

#[async_trait]
impl Check for AmqpCheck {
    async fn probe(&self) -> Outcome {
        let props = ConnectionProperties::default().with_connection_name("healthmon".into());
        let conn = match Connection::connect(self.url.expose().as_str(), props).await {
            Ok(c) => c,
            Err(e) => return Outcome::unhealthy(self.url.scrub(&format!("connect failed: {e}"))),
        };
        let outcome = match self.inspect(&conn).await {
            Ok(o) => o,
            Err(e) => Outcome::unhealthy(self.url.scrub(&format!("channel failed: {e}"))),
        };
        let _ = conn.close(200, "bye".into()).await;
        outcome
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }

    fn thresholds(&self) -> Observed {
        let mut m = self.depth.map(|t| t.to_json()).unwrap_or_default();
        if let Some(min) = self.min_consumers {
            m.insert("min_consumers".into(), min.into());
        }
        m
    }
}
