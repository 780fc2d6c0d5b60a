//! `nats`: connect, then a publish/subscribe round trip through the server on a subject unique
//! to the probe (`observed.round_trip_ms`); optionally a JetStream consumer's lag
//! (`stream` + `consumer` → `observed.pending`, `warn`/`crit`).

use super::threshold::Thresholds;
use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::redact::SecretUrl;
use async_nats::ConnectOptions;
use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
pub struct NatsConfig {
    /// `nats://[user:password@]host:port` (or `nats://token@host:port`).
    pub url: String,
    /// A JetStream stream whose consumer's lag to report.
    pub stream: Option<String>,
    /// The durable consumer on `stream`.
    pub consumer: Option<String>,
    /// Pending messages above which the check is degraded.
    pub warn: Option<f64>,
    /// Pending messages above which the check is unhealthy.
    pub crit: Option<f64>,
}

impl CheckConfig for NatsConfig {
    const KIND: &'static str = "nats";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        if !matches!(url.expose().scheme(), "nats" | "tls") {
            return Err(FieldError::new(
                "url",
                format!("expected a nats:// URL, got `{url}`"),
            ));
        }
        let jetstream = match (self.stream, self.consumer) {
            (Some(s), Some(c)) => Some((s, c)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(FieldError::new(
                    "consumer",
                    "expected the durable consumer whose lag to report",
                ))
            }
            (None, Some(_)) => {
                return Err(FieldError::new(
                    "stream",
                    "expected the stream the consumer belongs to",
                ))
            }
        };
        let lag = match (self.warn, self.crit) {
            (None, None) => None,
            _ if jetstream.is_none() => {
                return Err(FieldError::new(
                    "warn",
                    "warn and crit apply to a JetStream consumer; set stream and consumer",
                ))
            }
            (w, c) => Some(Thresholds::above(
                w.unwrap_or(f64::MAX),
                c.unwrap_or(f64::MAX),
            )?),
        };
        Ok(Arc::new(NatsCheck {
            url,
            jetstream,
            lag,
            name: ctx.name.to_string(),
            timeout: ctx.timeout,
        }))
    }
}

#[derive(Debug)]
pub struct NatsCheck {
    url: SecretUrl,
    jetstream: Option<(String, String)>,
    lag: Option<Thresholds>,
    name: String,
    timeout: Duration,
}

impl NatsCheck {
    fn options(&self) -> (String, ConnectOptions) {
        let mut url = self.url.expose().clone();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let options = match (url.username(), url.password()) {
            ("", _) => ConnectOptions::new(),
            (user, Some(pass)) => {
                ConnectOptions::with_user_and_password(decode(user), decode(pass))
            }
            (token, None) => ConnectOptions::with_token(decode(token)),
        };
        // Credentials travel in the options, not the address.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let options = options
            .connection_timeout(self.timeout)
            .name("healthmon")
            .max_reconnects(Some(1));
        (url.to_string(), options)
    }

    async fn inspect(&self, client: &async_nats::Client) -> Result<Outcome, String> {
        let scrub =
            |step: &str, e: &dyn std::fmt::Display| self.url.scrub(&format!("{step} failed: {e}"));
        let subject = format!("_HEALTHMON.{}.{:016x}", self.name, rand::random::<u64>());
        let mut sub = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| scrub("subscribe", &e))?;
        let sent = Instant::now();
        client
            .publish(subject, "ping".into())
            .await
            .map_err(|e| scrub("publish", &e))?;
        client.flush().await.map_err(|e| scrub("flush", &e))?;
        if sub.next().await.is_none() {
            return Ok(Outcome::unhealthy(
                "the subscription closed before the message came back",
            ));
        }
        let rtt = (sent.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let info = client.server_info();
        let mut outcome = Outcome::healthy()
            .with_message(format!("NATS {}, round trip {rtt} ms", info.version))
            .observe("round_trip_ms", rtt)
            .observe("server_version", info.version.clone());
        if let Some((stream, consumer)) = &self.jetstream {
            let js = async_nats::jetstream::new(client.clone());
            let s = js
                .get_stream(stream)
                .await
                .map_err(|e| scrub(&format!("stream {stream}"), &e))?;
            let info = s
                .consumer_info(consumer)
                .await
                .map_err(|e| scrub(&format!("consumer {consumer}"), &e))?;
            let pending = info.num_pending;
            outcome = outcome
                .observe("pending", pending)
                .observe("ack_pending", info.num_ack_pending as u64);
            if let Some(t) = &self.lag {
                let crossed = t.describe(pending as f64).unwrap_or_default();
                outcome.worsen(
                    t.classify(pending as f64),
                    format!(
                        "consumer {consumer} on {stream} is {pending} messages behind ({crossed})"
                    ),
                );
            }
        }
        Ok(outcome)
    }
}

#[async_trait]
impl Check for NatsCheck {
    async fn probe(&self) -> Outcome {
        let (address, options) = self.options();
        let client = match options.connect(address).await {
            Ok(c) => c,
            Err(e) => return Outcome::unhealthy(self.url.scrub(&format!("connect failed: {e}"))),
        };
        let outcome = self
            .inspect(&client)
            .await
            .unwrap_or_else(Outcome::unhealthy);
        let _ = client.drain().await;
        outcome
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }

    fn thresholds(&self) -> Observed {
        self.lag.map(|t| t.to_json()).unwrap_or_default()
    }
}
