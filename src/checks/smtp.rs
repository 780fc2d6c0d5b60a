//! `smtp`: connect and read the banner, `EHLO`, `STARTTLS` when asked (`?tls=starttls`) or TLS
//! from the start (`smtps://`), `AUTH` when the URL carries credentials, `NOOP`, `QUIT`.

use super::{BuildContext, Check, CheckConfig, FieldError, Outcome};
use crate::redact::SecretUrl;
use async_trait::async_trait;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::{ClientId, Extension};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize)]
pub struct SmtpConfig {
    /// `smtp://[user:password@]host:port[?tls=starttls]` or `smtps://host:465`.
    pub url: String,
    /// The name sent with `EHLO`.
    #[serde(default = "default_hello")]
    pub hello_name: String,
    /// Trust this PEM file instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Encrypt without verifying the server's certificate (test servers only).
    #[serde(default)]
    pub tls_skip_verify: bool,
}

fn default_hello() -> String {
    "healthmon".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    None,
    StartTls,
    Implicit,
}

impl CheckConfig for SmtpConfig {
    const KIND: &'static str = "smtp";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        let u = url.expose();
        let tls_param = u
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let mode = match (u.scheme(), tls_param.as_deref()) {
            ("smtps", None | Some("implicit")) => TlsMode::Implicit,
            ("smtp", None | Some("none")) => TlsMode::None,
            ("smtp", Some("starttls")) => TlsMode::StartTls,
            ("smtp" | "smtps", Some(other)) => {
                return Err(FieldError::new(
                    "url",
                    format!("expected tls=starttls, tls=none or tls=implicit, got tls={other}"),
                ))
            }
            _ => {
                return Err(FieldError::new(
                    "url",
                    format!("expected an smtp:// or smtps:// URL, got `{url}`"),
                ))
            }
        };
        let Some(host) = u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()) else {
            return Err(FieldError::new(
                "url",
                format!("expected smtp://host:port, got `{url}`"),
            ));
        };
        let port = u
            .port()
            .unwrap_or(if mode == TlsMode::Implicit { 465 } else { 25 });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!u.username().is_empty())
            .then(|| Credentials::new(decode(u.username()), decode(u.password().unwrap_or(""))));
        let tls = if mode == TlsMode::None {
            None
        } else {
            let mut builder = TlsParameters::builder(host.clone())
                .dangerous_accept_invalid_certs(self.tls_skip_verify);
            if let Some(path) = &self.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    FieldError::new("ca_file", format!("cannot read {}: {e}", path.display()))
                })?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| FieldError::new("ca_file", format!("{}: {e}", path.display())))?;
                builder = builder.add_root_certificate(cert);
            }

            Some(
                builder
                    .build_rustls()
                    .map_err(|e| FieldError::new("url", format!("cannot set up TLS: {e}")))?,
            )
        };
        Ok(Arc::new(SmtpCheck {
            url,
            host,
            port,
            mode,
            tls,
            credentials,
            hello: ClientId::Domain(self.hello_name),
            timeout: ctx.timeout,
        }))
    }
}

pub struct SmtpCheck {
    url: SecretUrl,
    host: String,
    port: u16,
    mode: TlsMode,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
}

impl std::fmt::Debug for SmtpCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpCheck")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SmtpCheck {
    async fn converse(&self) -> Result<Outcome, lettre::transport::smtp::Error> {
        let implicit = (self.mode == TlsMode::Implicit)
            .then(|| self.tls.clone())
            .flatten();
        // Connecting reads the banner and sends EHLO.
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            implicit,
            None,
        )
        .await?;
        let offers_starttls = conn.server_info().supports_feature(Extension::StartTls);
        if self.mode == TlsMode::StartTls {
            if let Some(tls) = &self.tls {
                conn.starttls(tls.clone(), &self.hello).await?;
            }
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        let alive = conn.test_connected().await;
        let encrypted = conn.is_encrypted();
        let server = conn.server_info().name().to_string();
        let _ = conn.quit().await;
        if !alive {
            return Ok(Outcome::unhealthy("NOOP failed after the greeting"));
        }
        let mut steps = vec!["EHLO"];
        if self.mode == TlsMode::StartTls {
            steps.push("STARTTLS");
        }
        if self.credentials.is_some() {
            steps.push("AUTH");
        }
        steps.push("NOOP");
        Ok(Outcome::healthy()
            .with_message(format!("{server}: {} ok", steps.join(", ")))
            .observe("server", server)
            .observe("tls", encrypted)
            .observe("starttls_offered", offers_starttls)
            .observe("authenticated", self.credentials.is_some()))
    }
}

#[async_trait]
impl Check for SmtpCheck {
    async fn probe(&self) -> Outcome {
        match self.converse().await {
            Ok(o) => o,
            Err(e) => Outcome::unhealthy(
                self.url
                    .scrub(&format!("SMTP failed: {}", super::error_text(&e))),
            ),
        }
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }
}
