//! `mqtt`: connect, subscribe to a topic unique to this probe, publish to it and receive the
//! message back: the broker really routes. The round trip is `observed.round_trip_ms`.

use super::{BuildContext, Check, CheckConfig, FieldError, Outcome};
use crate::redact::SecretUrl;
use async_trait::async_trait;
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
pub struct MqttConfig {
    /// `mqtt://[user:password@]host:port`.
    pub url: String,
    /// Topic prefix for the probe message; a unique suffix is added each time.
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
}

fn default_prefix() -> String {
    "healthmon/probe".into()
}

impl CheckConfig for MqttConfig {
    const KIND: &'static str = "mqtt";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        if url.expose().scheme() != "mqtt" {
            return Err(FieldError::new(
                "url",
                format!("expected mqtt://host:port, got `{url}`"),
            ));
        }
        let Some(host) = url
            .expose()
            .host_str()
            .map(|h| h.trim_matches(['[', ']']).to_string())
        else {
            return Err(FieldError::new(
                "url",
                format!("expected mqtt://host:port, got `{url}`"),
            ));
        };
        if self.topic_prefix.contains(['#', '+']) || self.topic_prefix.is_empty() {
            return Err(FieldError::new(
                "topic_prefix",
                "expected a topic without wildcards (# or +)",
            ));
        }
        let port = url.expose().port().unwrap_or(1883);
        Ok(Arc::new(MqttCheck {
            host,
            port,
            url,
            topic_prefix: self.topic_prefix,
            name: ctx.name.to_string(),
        }))
    }
}

#[derive(Debug)]
pub struct MqttCheck {
    url: SecretUrl,
    host: String,
    port: u16,
    topic_prefix: String,
    name: String,
}

/// Polls until `wanted` returns true for an event; errors end the wait.
async fn poll_until(
    events: &mut EventLoop,
    mut wanted: impl FnMut(&Packet) -> bool,
) -> Result<(), ConnectionError> {
    loop {
        if let Event::Incoming(packet) = events.poll().await? {
            if wanted(&packet) {
                return Ok(());
            }
        }
    }
}

impl MqttCheck {
    async fn round_trip(
        &self,
        client: &AsyncClient,
        events: &mut EventLoop,
    ) -> Result<Outcome, String> {
        let fail =
            |step: &str, e: &dyn std::fmt::Display| self.url.scrub(&format!("{step} failed: {e}"));
        poll_until(events, |p| matches!(p, Packet::ConnAck(_)))
            .await
            .map_err(|e| fail("connect", &e))?;
        let nonce = format!("{:016x}", rand::random::<u64>());
        let topic = format!("{}/{}/{nonce}", self.topic_prefix, self.name);
        client
            .subscribe(topic.as_str(), QoS::AtLeastOnce)
            .await
            .map_err(|e| fail("subscribe", &e))?;
        let mut refused = false;
        poll_until(events, |p| match p {
            Packet::SubAck(ack) => {
                refused = ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure));
                true
            }
            _ => false,
        })
        .await
        .map_err(|e| fail("subscribe", &e))?;
        if refused {
            return Ok(Outcome::unhealthy(format!(
                "the broker refused the subscription to {topic}"
            )));
        }
        let sent = Instant::now();
        client
            .publish(
                topic.as_str(),
                QoS::AtLeastOnce,
                false,
                nonce.clone().into_bytes(),
            )
            .await
            .map_err(|e| fail("publish", &e))?;
        poll_until(events, |p| matches!(p, Packet::Publish(m) if m.topic == topic && m.payload.as_ref() == nonce.as_bytes()))
            .await
            .map_err(|e| fail("receive", &e))?;
        let rtt = sent.elapsed().as_secs_f64() * 1000.0;
        let rtt = (rtt * 1000.0).round() / 1000.0;
        Ok(Outcome::healthy()
            .with_message(format!("published and received back in {rtt} ms"))
            .observe("round_trip_ms", rtt))
    }
}

#[async_trait]
impl Check for MqttCheck {
    async fn probe(&self) -> Outcome {
        let id = format!(
            "healthmon-{:012x}",
            rand::random::<u64>() & 0xffff_ffff_ffff
        );
        let mut options = MqttOptions::new(id, self.host.clone(), self.port);
        options
            .set_keep_alive(Duration::from_secs(10))
            .set_clean_session(true);
        let url = self.url.expose();
        if !url.username().is_empty() {
            let user = percent_encoding::percent_decode_str(url.username())
                .decode_utf8_lossy()
                .into_owned();
            let pass = percent_encoding::percent_decode_str(url.password().unwrap_or(""))
                .decode_utf8_lossy()
                .into_owned();
            options.set_credentials(user, pass);
        }
        let (client, mut events) = AsyncClient::new(options, 10);
        let outcome = match self.round_trip(&client, &mut events).await {
            Ok(o) => o,
            Err(message) => Outcome::unhealthy(message),
        };
        // Say goodbye so the broker does not log an unexpected disconnect.
        if client.disconnect().await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_millis(200), events.poll()).await;
        }
        outcome
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }
}
