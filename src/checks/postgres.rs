//! `postgres`: connect, `SELECT 1`, the server version, connections in use against
//! `max_connections` (`observed.connections_percent`, optional `warn`/`crit`), and an optional
//! `query` whose first column of the first row must equal `expect`. TLS when the URL says
//! `sslmode=require` (the certificate is verified, unlike libpq's `require`).

use super::cert::Trust;
use super::sql;
use super::threshold::{round1, Thresholds};
use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::redact::SecretUrl;
use async_trait::async_trait;
use serde::Deserialize;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

#[derive(Deserialize)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database?sslmode=require`.
    pub url: String,
    /// A query to run; its first column of the first row is compared with `expect`.
    pub query: Option<String>,
    /// The text the query must return.
    pub expect: Option<String>,
    /// Connections in use, percent of `max_connections`, above which the check is degraded.
    pub warn: Option<f64>,
    /// ... and above which it is unhealthy.
    pub crit: Option<f64>,
    /// Trust this PEM file instead of the system's roots (with `sslmode=require`).
    pub ca_file: Option<PathBuf>,
    /// Encrypt without verifying the server's certificate (test servers only).
    #[serde(default)]
    pub tls_skip_verify: bool,
}

impl CheckConfig for PostgresConfig {
    const KIND: &'static str = "postgres";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        if !matches!(url.expose().scheme(), "postgres" | "postgresql") {
            return Err(FieldError::new(
                "url",
                format!("expected a postgres:// URL, got `{url}`"),
            ));
        }
        let mut config = tokio_postgres::Config::from_str(url.expose().as_str()).map_err(|e| {
            FieldError::new("url", url.scrub(&format!("expected a PostgreSQL URL: {e}")))
        })?;
        config
            .connect_timeout(ctx.timeout)
            .application_name("healthmon");
        let tls = match config.get_ssl_mode() {
            SslMode::Require => {
                let trust = Trust::from_options(self.ca_file.as_deref(), self.tls_skip_verify);
                let client = trust
                    .client_config()
                    .map_err(|m| FieldError::new("ca_file", m))?;
                Some(tokio_postgres_rustls::MakeRustlsConnect::new(client))
            }
            _ => None,
        };
        let connections = sql::connection_limits(self.warn, self.crit)?;
        sql::check_query_keys(self.query.as_deref(), self.expect.as_deref())?;
        Ok(Arc::new(PostgresCheck {
            url,
            config,
            tls,
            query: self.query,
            expect: self.expect,
            connections,
        }))
    }
}

pub struct PostgresCheck {
    url: SecretUrl,
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    query: Option<String>,
    expect: Option<String>,
    connections: Option<Thresholds>,
}

impl std::fmt::Debug for PostgresCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresCheck")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The first column of the first row a simple query returns.
async fn first_value(client: &Client, sql: &str) -> Result<Option<String>, tokio_postgres::Error> {
    Ok(client
        .simple_query(sql)
        .await?
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
            _ => None,
        })
        .flatten())
}

impl PostgresCheck {
    async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        // The connection task ends when the client is dropped at the end of the probe.
        match &self.tls {
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                tokio::spawn(connection);
                Ok(client)
            }
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(connection);
                Ok(client)
            }
        }
    }

    async fn inspect(&self, client: &Client) -> Result<Outcome, tokio_postgres::Error> {
        if first_value(client, "SELECT 1").await?.as_deref() != Some("1") {
            return Ok(Outcome::unhealthy("SELECT 1 did not return 1"));
        }
        let version = first_value(client, "SHOW server_version")
            .await?
            .unwrap_or_default();
        let in_use: f64 = first_value(
            client,
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
        )
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
        let max: f64 = first_value(client, "SHOW max_connections")
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let percent = if max > 0.0 {
            round1(100.0 * in_use / max)
        } else {
            0.0
        };
        let tls: bool = first_value(
            client,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
        .await
        .ok()
        .flatten()
        .is_some_and(|v| v == "t");
        let mut outcome = Outcome::healthy()
            .with_message(format!(
                "PostgreSQL {version}, {in_use} of {max} connections"
            ))
            .observe("server_version", version)
            .observe("connections", in_use)
            .observe("max_connections", max)
            .observe("connections_percent", percent)
            .observe("tls", tls);
        sql::judge_connections(&mut outcome, self.connections.as_ref(), percent);
        if let Some(query) = &self.query {
            let got = first_value(client, query).await?;
            outcome = sql::judge_query(outcome, got, self.expect.as_deref());
        }
        Ok(outcome)
    }
}

/// A driver error as one line: the server's message when there is one.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    super::error_text(e)
}

#[async_trait]
impl Check for PostgresCheck {
    async fn probe(&self) -> Outcome {
        let client = match self.connect().await {
            Ok(c) => c,
            Err(e) => {
                return Outcome::unhealthy(
                    self.url.scrub(&format!("connect failed: {}", describe(&e))),
                )
            }
        };
        match self.inspect(&client).await {
            Ok(o) => o,
            Err(e) => {
                Outcome::unhealthy(self.url.scrub(&format!("query failed: {}", describe(&e))))
            }
        }
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }

    fn thresholds(&self) -> Observed {
        self.connections.map(|t| t.to_json()).unwrap_or_default()
    }
}
