//! `tls`: a TLS handshake with hostname verification, and the days until the leaf certificate
//! expires (`observed.days_left`), degraded below `warn` days and unhealthy below `crit`.

use super::cert::{self, Trust};
use super::threshold::Thresholds;
use super::{error_text, BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::redact::SecretUrl;
use async_trait::async_trait;
use rustls::pki_types::ServerName;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Deserialize)]
pub struct TlsConfig {
    /// `tls://host:port`.
    pub url: String,
    /// The name to verify (and send as SNI) when it differs from the URL's host.
    pub server_name: Option<String>,
    /// Days left below which the check is degraded.
    #[serde(default = "default_warn")]
    pub warn: f64,
    /// Days left below which the check is unhealthy.
    #[serde(default = "default_crit")]
    pub crit: f64,
    /// Trust only the certificates in this PEM file instead of the system's roots.
    pub ca_file: Option<PathBuf>,
}

fn default_warn() -> f64 {
    14.0
}
fn default_crit() -> f64 {
    7.0
}

impl CheckConfig for TlsConfig {
    const KIND: &'static str = "tls";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        let (Some(host), Some(port)) = (url.expose().host_str(), url.expose().port()) else {
            return Err(FieldError::new(
                "url",
                format!("expected tls://host:port, got `{url}`"),
            ));
        };
        if url.expose().scheme() != "tls" {
            return Err(FieldError::new(
                "url",
                format!("expected tls://host:port, got `{url}`"),
            ));
        }
        let host = host.trim_matches(['[', ']']).to_string();
        let name = self.server_name.clone().unwrap_or_else(|| host.clone());
        let server_name = ServerName::try_from(name.clone()).map_err(|_| {
            FieldError::new(
                "server_name",
                format!("expected a DNS name or IP address, got `{name}`"),
            )
        })?;
        let thresholds = Thresholds::below(self.warn, self.crit)?;
        let config = Trust::from_options(self.ca_file.as_deref(), false)
            .client_config()
            .map_err(|m| FieldError::new("ca_file", m))?;
        Ok(Arc::new(TlsCheck {
            url,
            host,
            port,
            server_name,
            thresholds,
            connector: TlsConnector::from(Arc::new(config)),
        }))
    }
}

pub struct TlsCheck {
    url: SecretUrl,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    thresholds: Thresholds,
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCheck")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Judges a leaf certificate's expiry against `thresholds`; shared with `http` on https.
pub fn judge_expiry(der: &[u8], thresholds: &Thresholds, outcome: Outcome) -> Outcome {
    let (days, expires) = match cert::expiry(der) {
        Ok(v) => v,
        Err(e) => return Outcome::unhealthy(e),
    };
    let mut outcome = outcome
        .observe("days_left", days)
        .observe("not_after", crate::time::rfc3339(expires));
    if let Some(subject) = cert::subject(der) {
        outcome = outcome.observe("subject", subject);
    }
    let crossed = thresholds.describe(days).unwrap_or_default();
    outcome.worsen(
        thresholds.classify(days),
        format!("certificate expires in {days} days ({crossed})"),
    );
    outcome
}

#[async_trait]
impl Check for TlsCheck {
    async fn probe(&self) -> Outcome {
        let tcp = match TcpStream::connect((self.host.as_str(), self.port)).await {
            Ok(s) => s,
            Err(e) => {
                return Outcome::unhealthy(format!(
                    "connect to {}:{} failed: {}",
                    self.host,
                    self.port,
                    error_text(&e)
                ))
            }
        };
        let stream = match self.connector.connect(self.server_name.clone(), tcp).await {
            Ok(s) => s,
            Err(e) => {
                return Outcome::unhealthy(format!("TLS handshake failed: {}", error_text(&e)))
            }
        };
        let (_, session) = stream.get_ref();
        let version = session
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) else {
            return Outcome::unhealthy("the server sent no certificate");
        };
        let outcome = Outcome::healthy().observe("protocol", version);
        let mut outcome = judge_expiry(leaf.as_ref(), &self.thresholds, outcome);
        if outcome.message.is_none() {
            let days = outcome
                .observed
                .get("days_left")
                .and_then(|d| d.as_f64())
                .unwrap_or_default();
            outcome.message = Some(format!("certificate valid, expires in {days} days"));
        }
        outcome
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }

    fn thresholds(&self) -> Observed {
        self.thresholds.to_json()
    }
}
