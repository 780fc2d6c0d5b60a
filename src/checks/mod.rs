//! Check kinds: the [`Check`] trait, what a probe returns, and the registry of kinds.
//!
//! Each kind lives in one file (`http.rs`, `disk.rs`, ...) holding its config struct (whose
//! field names are the `monitor.toml` keys), its validation, the [`Check`] impl and its unit
//! tests. Adding a kind means adding that file and one line to [`KINDS`].

use crate::keys::KeyError;
use crate::redact::SecretUrl;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub mod amqp;
pub mod cert;
pub mod command;
pub mod cpu;
pub mod disk;
pub mod dns;
pub mod fs;
pub mod http;
pub mod load;
pub mod memory;
pub mod mqtt;
pub mod mysql;
pub mod nats;
pub mod postgres;
pub mod push;
pub mod redis;
pub mod smtp;
pub mod sql;
pub mod sqlite;
pub mod tcp;
pub mod threshold;
pub mod tls;

/// Every kind, by the name written as `kind = "..."` in `monitor.toml`.
pub static KINDS: &[Kind] = &[
    Kind::of::<http::HttpConfig>(),
    Kind::of::<tcp::TcpConfig>(),
    Kind::of::<dns::DnsConfig>(),
    Kind::of::<tls::TlsConfig>(),
    Kind::of::<postgres::PostgresConfig>(),
    Kind::of::<mysql::MysqlConfig>(),
    Kind::of::<redis::RedisConfig>(),
    Kind::of::<amqp::AmqpConfig>(),
    Kind::of::<mqtt::MqttConfig>(),
    Kind::of::<nats::NatsConfig>(),
    Kind::of::<smtp::SmtpConfig>(),
    Kind::of::<disk::DiskConfig>(),
    Kind::of::<memory::MemoryConfig>(),
    Kind::of::<cpu::CpuConfig>(),
    Kind::of::<load::LoadConfig>(),
    Kind::of::<fs::FsConfig>(),
    Kind::of::<sqlite::SqliteConfig>(),
    Kind::of::<command::CommandConfig>(),
    Kind::of::<push::PushConfig>(),
];

/// The health of one check, or of the whole service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    /// No result yet. A probe never returns this.
    Unknown,
    Degraded,
    Unhealthy,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Unknown => "unknown",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "healthy" => Status::Healthy,
            "unknown" => Status::Unknown,
            "degraded" => Status::Degraded,
            "unhealthy" => Status::Unhealthy,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Measured values a probe reports, such as `{"percent_used": 83.1}`.
pub type Observed = serde_json::Map<String, serde_json::Value>;

/// What one probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    /// A short explanation; for failures the error, already free of secrets.
    pub message: Option<String>,
    pub observed: Observed,
}

impl Outcome {
    pub fn healthy() -> Self {
        Outcome {
            status: Status::Healthy,
            message: None,
            observed: Observed::new(),
        }
    }

    pub fn degraded(message: impl Into<String>) -> Self {
        Outcome {
            status: Status::Degraded,
            message: Some(message.into()),
            observed: Observed::new(),
        }
    }

    pub fn unhealthy(message: impl Into<String>) -> Self {
        Outcome {
            status: Status::Unhealthy,
            message: Some(message.into()),
            observed: Observed::new(),
        }
    }

    /// Records a measured value under `key`.
    pub fn observe(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.observed.insert(key.to_string(), value.into());
        self
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Raises the status to `status`, with `message`, when that is worse than the current one.
    pub fn worsen(&mut self, status: Status, message: impl Into<String>) {
        if status > self.status {
            self.status = status;
            self.message = Some(message.into());
        }
    }
}

/// One kind of probe, built once from its config and run on every scheduled tick.
#[async_trait]
pub trait Check: Send + Sync + fmt::Debug {
    /// Runs one probe and says what it found.
    ///
    /// A failure is an [`Outcome`] with status `Unhealthy`, never a panic or an error that ends
    /// the caller. The runner enforces the check's `timeout` by dropping this future, so it may
    /// be cancelled at any await point; implementations still hand the timeout to their drivers
    /// (see [`BuildContext::timeout`]) so that a driver's own, clearer error usually wins.
    /// Blocking work belongs in `spawn_blocking`.
    async fn probe(&self) -> Outcome;

    /// What the check watches, as shown by `validate` and the API: a URL (redacted), a path or
    /// a command line.
    fn target(&self) -> String;

    /// The limits this check applies (`warn`, `crit`, `degraded_ms`), shown in `/health/detailed`.
    fn thresholds(&self) -> Observed {
        Observed::new()
    }

    /// Whether a circuit breaker guards this check. A passive check touches no dependency, so
    /// there is nothing to protect, and skipping its evaluations would only hide a recovery.
    fn uses_breaker(&self) -> bool {
        true
    }

    /// How often to evaluate the check when that differs from its configured interval (a
    /// passive check whose interval is the period it expects to hear from its job).
    fn evaluate_every(&self) -> Option<Duration> {
        None
    }
}

/// What a kind's config struct provides: its kind name and how it becomes a running check.
pub trait CheckConfig: DeserializeOwned + 'static {
    /// The `kind` string in `monitor.toml`, the file name, and the label in the API and metrics.
    const KIND: &'static str;

    /// Validates the settings and builds the check.
    ///
    /// # Errors
    /// A [`FieldError`] naming the key (relative to the check) and what was expected.
    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError>;
}

pub use crate::keys::FieldError;

/// What a kind may use while it is built.
pub struct BuildContext<'a> {
    /// The check's name.
    pub name: &'a str,
    /// The check's probe timeout, for drivers that take one.
    pub timeout: Duration,
    /// The check's nominal interval (for cron, the gap between two runs).
    pub interval: Duration,
    /// HTTP clients shared by checks with the same client settings (one pool per setting).
    pub http_clients: &'a http::Clients,
    /// Where push checks register their tokens.
    pub push_registry: &'a push::Registry,
    secrets: RefCell<Vec<String>>,
}

/// Resources shared by every check built from one config.
#[derive(Default)]
pub struct Shared {
    pub http_clients: http::Clients,
    pub push_registry: push::Registry,
}

impl<'a> BuildContext<'a> {
    pub fn new(name: &'a str, timeout: Duration, interval: Duration, shared: &'a Shared) -> Self {
        BuildContext {
            name,
            timeout,
            interval,
            http_clients: &shared.http_clients,
            push_registry: &shared.push_registry,
            secrets: RefCell::new(Vec::new()),
        }
    }

    /// Parses a target URL and records its secrets, which the runner then scrubs from every
    /// message this check produces.
    ///
    /// # Errors
    /// A message that shows only the redacted URL.
    pub fn url(&self, raw: &str) -> Result<SecretUrl, String> {
        let url = SecretUrl::parse(raw)?;
        self.secrets
            .borrow_mut()
            .extend(url.secrets().iter().cloned());
        Ok(url)
    }

    /// Records a secret that is not part of a URL (a header value, a password key).
    pub fn secret(&self, value: &str) {
        if value.len() >= 3 {
            self.secrets.borrow_mut().push(value.to_string());
        }
    }

    pub fn into_secrets(self) -> crate::redact::Secrets {
        crate::redact::Secrets::new(self.secrets.into_inner())
    }
}

/// Builds a check from its kind-specific keys; the `&str` is the check's key path.
type BuildFn = fn(toml::Table, &BuildContext, &str) -> Result<Arc<dyn Check>, KeyError>;

/// A registry entry: a kind's name, its config keys and its constructor.
pub struct Kind {
    pub name: &'static str,
    /// The keys the kind's config struct accepts.
    pub fields: fn() -> &'static [&'static str],
    build: BuildFn,
}

impl Kind {
    const fn of<C: CheckConfig>() -> Kind {
        Kind {
            name: C::KIND,
            fields: crate::keys::names::<C>,
            build: build_kind::<C>,
        }
    }

    /// Builds a check of this kind from its keys; `path` is the check's key path, e.g. `check[2]`.
    ///
    /// # Errors
    /// A [`KeyError`] whose key is the full path of the bad value.
    pub fn build(
        &self,
        table: toml::Table,
        ctx: &BuildContext,
        path: &str,
    ) -> Result<Arc<dyn Check>, KeyError> {
        (self.build)(table, ctx, path)
    }
}

/// Finds a kind by name.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The kind names, for "expected one of" messages.
pub fn kind_names() -> String {
    KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

fn build_kind<C: CheckConfig>(
    table: toml::Table,
    ctx: &BuildContext,
    path: &str,
) -> Result<Arc<dyn Check>, KeyError> {
    let config: C = crate::keys::deserialize(toml::Value::Table(table), path)?;
    config.build(ctx).map_err(|e| e.at(path))
}

/// Short text for an error chain, e.g. `connection refused`, for probe messages.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
