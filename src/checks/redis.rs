//! `redis`: `PING`, then a real write/read round trip (`SET` with a short TTL and `GET` of a
//! key unique to the check), `used_memory` against `maxmemory`, and optionally the length of a
//! list used as a queue (`queue = "celery"` → `observed.queue_depth`, `warn`/`crit`).

use super::threshold::{round1, Thresholds};
use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::redact::SecretUrl;
use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]` (or `rediss://` for TLS).
    pub url: String,
    /// A list whose length is reported as `observed.queue_depth` (a Celery queue, say).
    pub queue: Option<String>,
    /// Queue length above which the check is degraded.
    pub warn: Option<f64>,
    /// Queue length above which the check is unhealthy.
    pub crit: Option<f64>,
    /// Memory used, percent of `maxmemory`, above which the check is degraded.
    pub memory_warn: Option<f64>,
    /// ... and above which it is unhealthy.
    pub memory_crit: Option<f64>,
}

impl CheckConfig for RedisConfig {
    const KIND: &'static str = "redis";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        if !matches!(url.expose().scheme(), "redis" | "rediss") {
            return Err(FieldError::new(
                "url",
                format!("expected a redis:// URL, got `{url}`"),
            ));
        }
        let client = Client::open(url.expose().as_str()).map_err(|e| {
            FieldError::new("url", url.scrub(&format!("expected a Redis URL: {e}")))
        })?;
        let queue = match (&self.queue, self.warn, self.crit) {
            (None, None, None) => None,
            (None, _, _) => {
                return Err(FieldError::new(
                    "warn",
                    "warn and crit apply to a `queue`; name one",
                ))
            }
            (Some(_), warn, crit) => Some(Thresholds::above(
                warn.unwrap_or(f64::MAX),
                crit.unwrap_or(f64::MAX),
            )?),
        };
        let memory = match (self.memory_warn, self.memory_crit) {
            (None, None) => None,
            (w, c) => Some(
                Thresholds::percent(w.unwrap_or(100.0), c.unwrap_or(100.0))
                    .map_err(|e| FieldError::new("memory_warn", e.message))?,
            ),
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(ctx.timeout))
            .set_response_timeout(Some(ctx.timeout));
        Ok(Arc::new(RedisCheck {
            url,
            client,
            config,
            key: format!("healthmon:probe:{}", ctx.name),
            ttl: (ctx.timeout * 2).max(Duration::from_secs(10)),
            queue: self.queue.zip(queue),
            memory,
        }))
    }
}

pub struct RedisCheck {
    url: SecretUrl,
    client: Client,
    config: AsyncConnectionConfig,
    key: String,
    ttl: Duration,
    queue: Option<(String, Thresholds)>,
    memory: Option<Thresholds>,
}

impl std::fmt::Debug for RedisCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheck")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `INFO` output as key → value.
fn parse_info(text: &str) -> HashMap<&str, &str> {
    text.lines()
        .filter_map(|l| l.trim().split_once(':'))
        .collect()
}

impl RedisCheck {
    async fn inspect(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<Outcome> {
        let pong: String = redis::cmd("PING").query_async(conn).await?;
        if pong != "PONG" {
            return Ok(Outcome::unhealthy(format!("PING answered `{pong}`")));
        }
        let token = rand::random::<u64>().to_string();
        let () = redis::cmd("SET")
            .arg(&self.key)
            .arg(&token)
            .arg("PX")
            .arg(self.ttl.as_millis() as u64)
            .query_async(conn)
            .await?;
        let read: Option<String> = redis::cmd("GET").arg(&self.key).query_async(conn).await?;
        if read.as_deref() != Some(token.as_str()) {
            return Ok(Outcome::unhealthy(format!(
                "GET {} did not return what SET wrote",
                self.key
            )));
        }
        let server: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
        let memory: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
        let (server, memory) = (parse_info(&server), parse_info(&memory));
        let version = server
            .get("redis_version")
            .copied()
            .unwrap_or("?")
            .to_string();
        let used: u64 = memory
            .get("used_memory")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let max: u64 = memory
            .get("maxmemory")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut outcome = Outcome::healthy()
            .with_message(format!(
                "Redis {version}, {} used",
                crate::system::human_bytes(used)
            ))
            .observe("server_version", version)
            .observe("used_memory", used)
            .observe("maxmemory", max);
        if max > 0 {
            let percent = round1(100.0 * used as f64 / max as f64);
            outcome = outcome.observe("memory_percent", percent);
            if let Some(t) = &self.memory {
                outcome.worsen(
                    t.classify(percent),
                    format!(
                        "{percent}% of maxmemory used ({})",
                        t.describe(percent).unwrap_or_default()
                    ),
                );
            }
        }
        if let Some((queue, t)) = &self.queue {
            let depth: u64 = redis::cmd("LLEN").arg(queue).query_async(conn).await?;
            outcome = outcome.observe("queue_depth", depth);
            let d = depth as f64;
            outcome.worsen(
                t.classify(d),
                format!(
                    "queue {queue} holds {depth} messages ({})",
                    t.describe(d).unwrap_or_default()
                ),
            );
        }
        Ok(outcome)
    }
}

#[async_trait]
impl Check for RedisCheck {
    async fn probe(&self) -> Outcome {
        let mut conn = match self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
        {
            Ok(c) => c,
            Err(e) => return Outcome::unhealthy(self.url.scrub(&format!("connect failed: {e}"))),
        };
        match self.inspect(&mut conn).await {
            Ok(o) => o,
            Err(e) => Outcome::unhealthy(self.url.scrub(&format!("command failed: {e}"))),
        }
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }

    fn thresholds(&self) -> Observed {
        let mut m = Observed::new();
        if let Some((_, t)) = &self.queue {
            m.insert("queue".into(), serde_json::Value::Object(t.to_json()));
        }
        if let Some(t) = &self.memory {
            m.insert(
                "memory_percent".into(),
                serde_json::Value::Object(t.to_json()),
            );
        }
        m
    }
}
