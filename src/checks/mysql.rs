//! `mysql`: MySQL or MariaDB. Connect, `SELECT 1`, the server version, threads connected
//! against `max_connections` (`observed.connections_percent`, optional `warn`/`crit`), and an
//! optional `query` whose first column of the first row must equal `expect`. TLS when the URL
//! says `require_ssl=true`.

use super::sql;
use super::threshold::{round1, Thresholds};
use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::redact::SecretUrl;
use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, Value};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database` (add `?require_ssl=true` for TLS).
    pub url: String,
    /// A query to run; its first column of the first row is compared with `expect`.
    pub query: Option<String>,
    /// The text the query must return.
    pub expect: Option<String>,
    /// Connections in use, percent of `max_connections`, above which the check is degraded.
    pub warn: Option<f64>,
    /// ... and above which it is unhealthy.
    pub crit: Option<f64>,
    /// Trust this PEM file instead of the system's roots (with TLS).
    pub ca_file: Option<PathBuf>,
    /// Encrypt without verifying the server's certificate (test servers only).
    #[serde(default)]
    pub tls_skip_verify: bool,
}

impl CheckConfig for MysqlConfig {
    const KIND: &'static str = "mysql";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        if !matches!(url.expose().scheme(), "mysql" | "mariadb") {
            return Err(FieldError::new(
                "url",
                format!("expected a mysql:// URL, got `{url}`"),
            ));
        }
        let mut raw = url.expose().clone();
        if raw.scheme() == "mariadb" {
            // The driver only knows mysql://; same protocol.
            let _ = raw.set_scheme("mysql");
        }
        let parsed = Opts::from_url(raw.as_str()).map_err(|e| {
            FieldError::new("url", url.scrub(&format!("expected a MySQL URL: {e}")))
        })?;
        let mut builder = OptsBuilder::from_opts(parsed.clone())
            .wait_timeout(Some(ctx.timeout.as_secs().max(1) as usize));
        // TLS when the URL asks for it, or when a TLS option implies it.
        let url_ssl = parsed.ssl_opts().cloned();
        if url_ssl.is_some() || self.tls_skip_verify || self.ca_file.is_some() {
            let mut ssl = url_ssl
                .unwrap_or_default()
                .with_danger_accept_invalid_certs(self.tls_skip_verify);
            if let Some(ca) = &self.ca_file {
                ssl = ssl.with_root_certs(vec![ca.clone().into()]);
            }
            builder = builder.ssl_opts(ssl);
        }
        let connections = sql::connection_limits(self.warn, self.crit)?;
        sql::check_query_keys(self.query.as_deref(), self.expect.as_deref())?;
        Ok(Arc::new(MysqlCheck {
            url,
            opts: builder.into(),
            query: self.query,
            expect: self.expect,
            connections,
        }))
    }
}

pub struct MysqlCheck {
    url: SecretUrl,
    opts: Opts,
    query: Option<String>,
    expect: Option<String>,
    connections: Option<Thresholds>,
}

impl std::fmt::Debug for MysqlCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlCheck")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A value as text, the way the `mysql` client prints it.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(false).trim_matches('\'').to_string()),
    }
}

impl MysqlCheck {
    async fn inspect(&self, conn: &mut Conn) -> Result<Outcome, mysql_async::Error> {
        let one: Option<i64> = conn.query_first("SELECT 1").await?;
        if one != Some(1) {
            return Ok(Outcome::unhealthy("SELECT 1 did not return 1"));
        }
        let version: String = conn
            .query_first("SELECT @@version")
            .await?
            .unwrap_or_default();
        let in_use: f64 = conn
            .query_first::<(String, String), _>("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
            .await?
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0.0);
        let max: f64 = conn
            .query_first::<u64, _>("SELECT @@max_connections")
            .await?
            .unwrap_or(0) as f64;
        let cipher: Option<(String, String)> = conn
            .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            .await?;
        let percent = if max > 0.0 {
            round1(100.0 * in_use / max)
        } else {
            0.0
        };
        let mut outcome = Outcome::healthy()
            .with_message(format!("{version}, {in_use} of {max} connections"))
            .observe("server_version", version)
            .observe("connections", in_use)
            .observe("max_connections", max)
            .observe("connections_percent", percent)
            .observe("tls", cipher.is_some_and(|(_, c)| !c.is_empty()));
        sql::judge_connections(&mut outcome, self.connections.as_ref(), percent);
        if let Some(query) = &self.query {
            let row: Option<Row> = conn.query_first(query.as_str()).await?;
            let got = row.and_then(|r| r.as_ref(0).and_then(text));
            outcome = sql::judge_query(outcome, got, self.expect.as_deref());
        }
        Ok(outcome)
    }
}

fn describe(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("ERROR {} ({}): {}", s.code, s.state, s.message),
        other => super::error_text(other),
    }
}

#[async_trait]
impl Check for MysqlCheck {
    async fn probe(&self) -> Outcome {
        let mut conn = match Conn::new(self.opts.clone()).await {
            Ok(c) => c,
            Err(e) => {
                return Outcome::unhealthy(
                    self.url.scrub(&format!("connect failed: {}", describe(&e))),
                )
            }
        };
        let outcome = match self.inspect(&mut conn).await {
            Ok(o) => o,
            Err(e) => {
                Outcome::unhealthy(self.url.scrub(&format!("query failed: {}", describe(&e))))
            }
        };
        // A polite goodbye keeps "aborted connection" warnings out of the server's log.
        let _ = conn.disconnect().await;
        outcome
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }

    fn thresholds(&self) -> Observed {
        self.connections.map(|t| t.to_json()).unwrap_or_default()
    }
}
