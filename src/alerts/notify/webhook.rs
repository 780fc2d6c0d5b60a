//! `webhook`: POSTs the [`Message`](crate::alerts::message::Message) as JSON to a URL.
//!
//! The body is exactly the message's JSON: the documented, versioned shape. Each request also
//! carries `X-Healthmon-Event` and `X-Healthmon-Notification` (the message id, the same on
//! every attempt, so a receiver can drop a repeat). Redirects are not followed: a notification
//! that ends up elsewhere than configured is a configuration problem to see, not to hide.

use super::{BuildContext, Notifier, NotifierConfig, SendError};
use crate::alerts::message::Outgoing;
use crate::duration;
use crate::keys::FieldError;
use crate::redact::{SecretUrl, Secrets};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use reqwest::{Client, StatusCode};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How much of a refusing receiver's answer goes into the error.
const ANSWER_LIMIT: usize = 200;

/// Headers healthmon sets itself, or the HTTP client does; a configured one would contradict.
const OWN_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "user-agent",
    "x-healthmon-event",
    "x-healthmon-notification",
];

/// `[[notifier]] kind = "webhook"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The `http://` or `https://` URL the message is POSTed to. Values of token-like query
    /// parameters (`token`, `key`, `sig`, ...) are secrets.
    pub url: String,
    /// Extra request headers, e.g. `{ Authorization = "Bearer ${HOOK_TOKEN}" }`. Every value is
    /// a secret: none appears in an error, a log or the API.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// One attempt gives up after this long (connect, TLS, request and answer together).
    #[serde(
        default = "default_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub timeout: Duration,
    /// Trust the certificates in this PEM file (a private CA) besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any TLS certificate (self-signed test receivers only).
    #[serde(default)]
    pub tls_skip_verify: bool,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl NotifierConfig for WebhookConfig {
    const KIND: &'static str = "webhook";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Notifier>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        if !matches!(url.expose().scheme(), "http" | "https") || url.expose().host().is_none() {
            return Err(FieldError::new(
                "url",
                format!("expected an http:// or https:// URL, got `{url}`"),
            ));
        }
        let mut secrets = url.secrets().to_vec();
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            // Recorded first, so no message below can be the first to show it.
            for secret in header_secrets(value) {
                ctx.secret(secret);
                secrets.push(secret.to_string());
            }
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                FieldError::new(
                    "headers",
                    format!("expected header names such as `Authorization`, got `{name}`"),
                )
            })?;
            if OWN_HEADERS.contains(&header.as_str()) {
                return Err(FieldError::new(
                    "headers",
                    format!("`{name}` is set by healthmon itself and cannot be configured"),
                ));
            }
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                FieldError::new(
                    "headers",
                    format!(
                        "expected a value for header `{name}` of visible ASCII and spaces only"
                    ),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        if self.timeout.is_zero() {
            return Err(FieldError::new("timeout", "expected more than 0s"));
        }
        let client = client(self.timeout, self.tls_skip_verify, self.ca_file.as_ref())?;
        Ok(Arc::new(WebhookNotifier {
            client,
            url,
            headers,
            timeout: self.timeout,
            secrets: Secrets::new(secrets),
        }))
    }
}

/// The secrets in a header value: all of it, and for `Bearer xyz` / `Basic xyz` also the
/// credential alone, since a receiver may quote just that back.
fn header_secrets(value: &str) -> Vec<&str> {
    let mut out = vec![value];
    if let Some((_scheme, credential)) = value.split_once(' ') {
        out.push(credential.trim());
    }
    out.retain(|s| s.len() >= 3);
    out
}

fn client(
    timeout: Duration,
    tls_skip_verify: bool,
    ca_file: Option<&PathBuf>,
) -> Result<Client, FieldError> {
    crate::install_tls_provider();
    let mut builder = Client::builder()
        .user_agent(concat!("healthmon/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        // One attempt means one request: the outbox retries, with its back-off.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .timeout(timeout)
        .tls_danger_accept_invalid_certs(tls_skip_verify);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            FieldError::new("ca_file", format!("cannot read {}: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| FieldError::new("ca_file", format!("{}: {e}", path.display())))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| FieldError::new("url", format!("cannot set up an HTTP client: {e}")))
}

/// POSTs each notification to one URL.
pub struct WebhookNotifier {
    client: Client,
    url: SecretUrl,
    /// The configured headers, marked sensitive.
    headers: HeaderMap,
    timeout: Duration,
    /// The URL's and the headers' secrets, removed from every error.
    secrets: Secrets,
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    fn describe_error(&self, e: reqwest::Error) -> String {
        if e.is_timeout() {
            return format!("no response within {}", duration::format(self.timeout));
        }
        let what = if e.is_connect() {
            "connect failed"
        } else {
            "request failed"
        };
        // The innermost cause ("Connection refused") says most; the URL is dropped on purpose.
        let e = e.without_url();
        let mut root: &dyn std::error::Error = &e;
        while let Some(next) = root.source() {
            root = next;
        }
        self.secrets.scrub(&format!("{what}: {root}"))
    }

    /// Where a redirect pointed: its host only, since the rest may carry a token.
    fn redirect_host(&self, headers: &HeaderMap) -> String {
        headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| self.url.expose().join(location).ok())
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "an unreadable Location".to_string())
    }

    /// The start of a refusing receiver's answer, on one line, without secrets.
    async fn answer(&self, mut response: reqwest::Response) -> String {
        let mut body = Vec::new();
        while body.len() < ANSWER_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let text = String::from_utf8_lossy(&body);
        let text: String = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(ANSWER_LIMIT)
            .collect();
        if text.is_empty() {
            String::new()
        } else {
            format!(": {}", self.secrets.scrub(&text))
        }
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn send(&self, out: Outgoing<'_>) -> Result<(), SendError> {
        let message = out.message;
        let body = serde_json::to_vec(message)
            .map_err(|e| SendError::permanent(format!("cannot encode the message: {e}")))?;
        let request = self
            .client
            .post(self.url.expose().clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("X-Healthmon-Event", message.event.as_str())
            .header("X-Healthmon-Notification", message.id.to_string())
            .body(body);
        let response = request
            .send()
            .await
            .map_err(|e| SendError::transient(self.describe_error(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_redirection() {
            let host = self.redirect_host(response.headers());
            return Err(SendError::transient(format!(
                "{status} redirect to {host}, not followed: set `url` to where it points"
            )));
        }
        let text = format!("{status}{}", self.answer(response).await);
        // A 4xx says this request will never do, except "too slow" and "too many".
        let retry_helps = !status.is_client_error()
            || matches!(
                status,
                StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
            );
        if retry_helps {
            Err(SendError::transient(text))
        } else {
            Err(SendError::permanent(text))
        }
    }

    fn target(&self) -> String {
        self.url.redacted().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::message::{AlertItem, Event, Message, Service, Thread, VERSION};
    use crate::alerts::{AlertKind, AlertState, Level};
    use crate::keys::KeyError;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use warp::hyper::body::Bytes;
    use warp::Filter;

    /// One request as the receiver saw it.
    struct Seen {
        headers: HeaderMap,
        body: Vec<u8>,
    }

    /// A warp server on 127.0.0.1:0 that records each POST, waits `delay`, and answers
    /// `status` with a body quoting the path and query it was sent (as some receivers do).
    struct Receiver {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<Seen>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Receiver {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Receiver {
        async fn start(status: u16, delay: Duration) -> Receiver {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = seen.clone();
            let routes = warp::post()
                .and(warp::path::full())
                .and(warp::query::raw().or(warp::any().map(String::new)).unify())
                .and(warp::header::headers_cloned())
                .and(warp::body::bytes())
                .then(
                    move |path: warp::path::FullPath,
                          query: String,
                          headers: HeaderMap,
                          body: Bytes| {
                        let log = log.clone();
                        async move {
                            log.lock().unwrap().push(Seen {
                                headers,
                                body: body.to_vec(),
                            });
                            tokio::time::sleep(delay).await;
                            let mut response = warp::http::Response::builder().status(status);
                            if (300..400).contains(&status) {
                                response = response.header(
                                    "location",
                                    "https://elsewhere.example/next?token=redirect-secret",
                                );
                            }
                            response
                                .body(format!("no thanks for {}?{query}", path.as_str()))
                                .unwrap()
                        }
                    },
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let task = tokio::spawn(warp::serve(routes).incoming(listener).run());
            Receiver { addr, seen, task }
        }

        fn url(&self) -> String {
            format!("http://{}/hooks/healthmon", self.addr)
        }

        fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
            self.seen.lock().unwrap()
        }
    }

    fn build(settings: &str) -> Result<Arc<dyn Notifier>, KeyError> {
        let table: toml::Table = toml::from_str(settings).unwrap();
        let ctx = BuildContext::new("hooks", "shop-api");
        super::super::kind("webhook")
            .expect("webhook is registered")
            .build(table, &ctx, "notifier[1]")
    }

    fn message() -> Message {
        Message {
            version: VERSION,
            id: 42,
            event: Event::Firing,
            service: Service {
                name: "shop-api".into(),
                environment: "production".into(),
            },
            created_at: "2026-12-02T10:00:00.000Z".into(),
            alerts: vec![AlertItem {
                id: 3,
                kind: AlertKind::State,
                check: "api".into(),
                rule: None,
                level: Level::Critical,
                previous_level: None,
                state: AlertState::Firing,
                started_at: "2026-12-02T09:55:48.000Z".into(),
                resolved_at: None,
                duration_seconds: 252.0,
                metric: None,
                value: None,
                threshold: None,
                message: Some("connect failed: Connection refused".into()),
                reminder: None,
                availability_month_percent: None,
                check_status: Some("unhealthy".into()),
            }],
        }
    }

    async fn send(notifier: &dyn Notifier) -> Result<(), SendError> {
        let m = message();
        notifier
            .send(Outgoing {
                message: &m,
                thread: &Thread::default(),
            })
            .await
    }

    #[tokio::test]
    async fn the_body_is_the_message_json_with_the_healthmon_and_configured_headers() {
        let receiver = Receiver::start(200, Duration::ZERO).await;
        let notifier = build(&format!(
            "url = \"{}\"\nheaders = {{ Authorization = \"Bearer tok-123456\", X-Team = \"ops\" }}",
            receiver.url()
        ))
        .unwrap();

        send(notifier.as_ref()).await.unwrap();
        send(notifier.as_ref()).await.unwrap();

        let seen = receiver.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].body, serde_json::to_vec(&message()).unwrap());
        let header = |i: usize, name: &str| {
            seen[i]
                .headers
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing"))
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(header(0, "content-type"), "application/json");
        assert_eq!(
            header(0, "user-agent"),
            concat!("healthmon/", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(header(0, "x-healthmon-event"), "firing");
        assert_eq!(header(0, "x-healthmon-notification"), "42");
        assert_eq!(header(0, "authorization"), "Bearer tok-123456");
        assert_eq!(header(0, "x-team"), "ops");
        // A retry carries the same id, so the receiver can drop it.
        assert_eq!(header(1, "x-healthmon-notification"), "42");
    }

    #[tokio::test]
    async fn a_500_is_transient_and_a_404_permanent() {
        for (status, permanent) in [
            (500, false),
            (503, false),
            (429, false),
            (408, false),
            (404, true),
            (400, true),
        ] {
            let receiver = Receiver::start(status, Duration::ZERO).await;
            let notifier = build(&format!("url = \"{}\"", receiver.url())).unwrap();

            let err = send(notifier.as_ref()).await.unwrap_err();

            assert_eq!(err.permanent, permanent, "{status}: {err:?}");
            assert!(err.message.starts_with(&status.to_string()), "{err}");
            assert!(
                err.message.contains("no thanks for /hooks/healthmon"),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn a_slow_receiver_is_a_transient_timeout() {
        let receiver = Receiver::start(200, Duration::from_secs(5)).await;
        let notifier = build(&format!(
            "url = \"{}\"\ntimeout = \"200ms\"",
            receiver.url()
        ))
        .unwrap();

        let started = std::time::Instant::now();
        let err = send(notifier.as_ref()).await.unwrap_err();

        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(!err.permanent, "{err:?}");
        assert_eq!(err.message, "no response within 200ms");
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_and_names_only_the_host() {
        let receiver = Receiver::start(302, Duration::ZERO).await;
        let notifier = build(&format!("url = \"{}\"", receiver.url())).unwrap();

        let err = send(notifier.as_ref()).await.unwrap_err();

        assert!(!err.permanent, "{err:?}");
        assert!(
            err.message
                .contains("302 Found redirect to elsewhere.example"),
            "{err}"
        );
        assert!(!err.message.contains("redirect-secret"), "{err}");
        assert_eq!(receiver.seen().len(), 1);
    }

    #[tokio::test]
    async fn a_token_in_the_url_or_a_header_never_shows() {
        let token = "q-s3cr3t-t0ken";
        let header_token = "h-s3cr3t-t0ken";
        let receiver = Receiver::start(500, Duration::ZERO).await;
        let notifier = build(&format!(
            "url = \"{}?token={token}&team=ops\"\nheaders = {{ Authorization = \"Bearer {header_token}\" }}",
            receiver.url()
        ))
        .unwrap();
        let err = send(notifier.as_ref()).await.unwrap_err();
        assert!(err.message.contains("token=***&team=ops"), "{err}");

        drop(receiver);
        tokio::task::yield_now().await;
        let refused = build(&format!(
            "url = \"http://127.0.0.1:1/hook?token={token}\"\nheaders = {{ Authorization = \"Bearer {header_token}\" }}"
        ))
        .unwrap();
        let connect = send(refused.as_ref()).await.unwrap_err();
        assert!(
            !connect.permanent && connect.message.starts_with("connect failed"),
            "{connect:?}"
        );

        for shown in [
            err.message,
            connect.message,
            notifier.target(),
            refused.target(),
            format!("{notifier:?}"),
        ] {
            assert!(
                !shown.contains(token) && !shown.contains(header_token),
                "{shown}"
            );
        }
        assert_eq!(refused.target(), "http://127.0.0.1:1/hook?token=***");
    }

    #[test]
    fn bad_settings_name_their_key_and_never_the_secret() {
        let cases = [
            ("url = \"ftp://hooks.example.com/x\"", "notifier[1].url", "expected an http:// or https:// URL"),
            ("url = \"not a url\"", "notifier[1].url", "expected a URL"),
            (
                "url = \"https://hooks.example.com/x\"\nheaders = { \"Bad Name\" = \"v-HIDDEN\" }",
                "notifier[1].headers",
                "expected header names",
            ),
            (
                "url = \"https://hooks.example.com/x\"\nheaders = { Authorization = \"v-HIDDEN\\n\" }",
                "notifier[1].headers",
                "expected a value for header `Authorization`",
            ),
            (
                "url = \"https://hooks.example.com/x\"\nheaders = { Content-Type = \"text/plain\" }",
                "notifier[1].headers",
                "set by healthmon itself",
            ),
            (
                "url = \"https://hooks.example.com/x\"\ntimeout = \"0s\"",
                "notifier[1].timeout",
                "expected more than 0s",
            ),
            (
                "url = \"https://hooks.example.com/x\"\nmethod = \"PUT\"",
                "notifier[1].method",
                "unknown field `method`",
            ),
            ("headers = {}", "notifier[1].url", "is required but missing"),
        ];
        for (settings, key, message) in cases {
            let err = build(settings).expect_err(settings);
            assert_eq!(err.key, key, "{settings}: {err}");
            assert!(err.message.contains(message), "{settings}: {err}");
            assert!(!err.to_string().contains("v-HIDDEN"), "{err}");
        }
    }
}
