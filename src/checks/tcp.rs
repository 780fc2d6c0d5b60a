//! `tcp`: a TCP connection to `tcp://host:port` is accepted.

use super::{error_text, BuildContext, Check, CheckConfig, FieldError, Outcome};
use crate::redact::SecretUrl;
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use tokio::net::TcpStream;

#[derive(Deserialize)]
pub struct TcpConfig {
    /// `tcp://host:port`.
    pub url: String,
}

impl CheckConfig for TcpConfig {
    const KIND: &'static str = "tcp";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        if url.expose().scheme() != "tcp" {
            return Err(FieldError::new(
                "url",
                format!("expected tcp://host:port, got `{url}`"),
            ));
        }
        let host = url
            .expose()
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let Some(port) = url.expose().port() else {
            return Err(FieldError::new(
                "url",
                format!("expected tcp://host:port with a port, got `{url}`"),
            ));
        };
        if host.is_empty() {
            return Err(FieldError::new(
                "url",
                format!("expected tcp://host:port with a host, got `{url}`"),
            ));
        }
        Ok(Arc::new(TcpCheck { url, host, port }))
    }
}

#[derive(Debug)]
pub struct TcpCheck {
    url: SecretUrl,
    host: String,
    port: u16,
}

#[async_trait]
impl Check for TcpCheck {
    async fn probe(&self) -> Outcome {
        match TcpStream::connect((self.host.as_str(), self.port)).await {
            Ok(stream) => {
                let peer = stream
                    .peer_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                Outcome::healthy()
                    .with_message(format!("connected to {peer}"))
                    .observe("address", peer)
            }
            Err(e) => Outcome::unhealthy(format!(
                "connect to {}:{} failed: {}",
                self.host,
                self.port,
                error_text(&e)
            )),
        }
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    fn build(url: &str) -> Result<Arc<dyn Check>, FieldError> {
        let shared = crate::checks::Shared::default();
        let ctx = BuildContext::new(
            "t",
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(30),
            &shared,
        );
        TcpConfig { url: url.into() }.build(&ctx)
    }

    #[tokio::test]
    async fn an_open_port_is_healthy_and_a_closed_one_is_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = build(&format!("tcp://127.0.0.1:{port}"))
            .unwrap()
            .probe()
            .await;
        assert_eq!(open.status, Status::Healthy);
        drop(listener);
        let closed = build(&format!("tcp://127.0.0.1:{port}"))
            .unwrap()
            .probe()
            .await;
        assert_eq!(closed.status, Status::Unhealthy);
        assert!(closed.message.unwrap().contains("refused"));
    }

    #[test]
    fn urls_without_port_or_of_another_scheme_are_rejected() {
        assert!(build("tcp://127.0.0.1")
            .unwrap_err()
            .message
            .contains("with a port"));
        assert!(build("http://127.0.0.1:80")
            .unwrap_err()
            .message
            .contains("expected tcp://"));
    }
}
