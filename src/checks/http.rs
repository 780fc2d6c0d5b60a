//! `http`: a request to an `http(s)://` URL, judged by status code, body and response time.

use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::duration;
use crate::redact::SecretUrl;
use async_trait::async_trait;
use reqwest::{Client, Method};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Body bytes read when a body condition needs them; the rest is not downloaded.
const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Deserialize)]
pub struct HttpConfig {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Request method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers. Values of `Authorization`, `Cookie` and `*token*`/`*key*` headers are secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    pub body: Option<String>,
    /// Accepted status codes: numbers, `"2xx"` classes or `"200-299"` ranges. Default: 2xx and 3xx.
    #[serde(default)]
    pub expect_status: Vec<StatusPattern>,
    /// The response body must contain this text.
    pub body_contains: Option<String>,
    /// The response body must not contain this text.
    pub body_not_contains: Option<String>,
    /// A response slower than this many milliseconds is degraded.
    pub degraded_ms: Option<u64>,
    /// Follow redirects (up to 10).
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Accept any TLS certificate (self-signed test servers only).
    #[serde(default)]
    pub tls_skip_verify: bool,
    /// Trust the certificates in this PEM file besides the system's roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub client_key: Option<PathBuf>,
    /// `{ username = "...", password = "${PASSWORD}" }` for HTTP basic auth.
    pub basic_auth: Option<BasicAuth>,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// A JSONPath into the response body (`$.status`); its first match must equal `expect`.
    pub json_path: Option<String>,
    /// The value `json_path` must find: a string, number or boolean.
    pub expect: Option<serde_json::Value>,
    /// On https: days until the certificate expires below which the check is degraded.
    #[serde(default = "default_cert_warn")]
    pub cert_warn_days: f64,
    /// On https: ... below which it is unhealthy.
    #[serde(default = "default_cert_crit")]
    pub cert_crit_days: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: String,
}

fn default_cert_warn() -> f64 {
    14.0
}
fn default_cert_crit() -> f64 {
    7.0
}

fn default_method() -> String {
    "GET".into()
}
fn default_true() -> bool {
    true
}

/// An accepted status code, class or range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusPattern {
    low: u16,
    high: u16,
}

impl StatusPattern {
    fn matches(&self, code: u16) -> bool {
        (self.low..=self.high).contains(&code)
    }

    fn parse(text: &str) -> Option<StatusPattern> {
        let text = text.trim().to_ascii_lowercase();
        let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
        if let Some(class) = text.strip_suffix("xx") {
            let d: u16 = class.parse().ok().filter(|d| (1..=5).contains(d))?;
            return Some(StatusPattern {
                low: d * 100,
                high: d * 100 + 99,
            });
        }
        if let Some((a, b)) = text.split_once('-') {
            let (low, high) = (code(a)?, code(b)?);
            return (low <= high).then_some(StatusPattern { low, high });
        }
        code(&text).map(|c| StatusPattern { low: c, high: c })
    }
}

impl std::fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else if self.low % 100 == 0 && self.high == self.low + 99 {
            write!(f, "{}xx", self.low / 100)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl<'de> Deserialize<'de> for StatusPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(i64),
            Text(String),
        }
        let expected = "a status code (200), a class (\"2xx\") or a range (\"200-299\")";
        match Raw::deserialize(d)? {
            Raw::Code(c) => u16::try_from(c)
                .ok()
                .and_then(|c| StatusPattern::parse(&c.to_string()))
                .ok_or_else(|| serde::de::Error::custom(format!("expected {expected}, got {c}"))),
            Raw::Text(t) => StatusPattern::parse(&t)
                .ok_or_else(|| serde::de::Error::custom(format!("expected {expected}, got `{t}`"))),
        }
    }
}

fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || n.contains("token")
        || n.contains("key")
        || n.contains("secret")
}

impl CheckConfig for HttpConfig {
    const KIND: &'static str = "http";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        if !matches!(url.expose().scheme(), "http" | "https") {
            return Err(FieldError::new(
                "url",
                format!("expected an http:// or https:// URL, got `{url}`"),
            ));
        }
        let method =
            Method::from_bytes(self.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
                FieldError::new(
                    "method",
                    format!(
                        "expected an HTTP method such as GET or HEAD, got `{}`",
                        self.method
                    ),
                )
            })?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &self.headers {
            if is_secret_header(name) {
                ctx.secret(value);
            }
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                FieldError::new(
                    "headers",
                    format!("expected valid header names, got `{name}`"),
                )
            })?;
            let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                FieldError::new(
                    "headers",
                    format!("expected a valid value for header `{name}`"),
                )
            })?;
            headers.insert(name, value);
        }
        if let Some(auth) = &self.basic_auth {
            ctx.secret(&auth.password);
        }
        if let Some(token) = &self.bearer_token {
            ctx.secret(token);
        }
        let json_path = match (&self.json_path, &self.expect) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(FieldError::new(
                    "expect",
                    "needs a `json_path` whose match it is compared with",
                ))
            }
            (Some(p), expect) => Some((
                serde_json_path::JsonPath::parse(p).map_err(|e| {
                    FieldError::new(
                        "json_path",
                        format!("expected a JSONPath such as $.status, got `{p}`: {e}"),
                    )
                })?,
                p.clone(),
                expect.clone(),
            )),
        };
        let identity = match (&self.client_cert, &self.client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (Some(_), None) => {
                return Err(FieldError::new(
                    "client_key",
                    "is required with client_cert",
                ))
            }
            (None, Some(_)) => {
                return Err(FieldError::new(
                    "client_cert",
                    "is required with client_key",
                ))
            }
        };
        let cert_expiry =
            super::threshold::Thresholds::below(self.cert_warn_days, self.cert_crit_days)
                .map_err(|e| FieldError::new("cert_warn_days", e.message))?;
        let expect_status = if self.expect_status.is_empty() {
            vec![StatusPattern {
                low: 200,
                high: 399,
            }]
        } else {
            self.expect_status
        };
        let client = ctx
            .http_clients
            .get(ClientKey {
                follow_redirects: self.follow_redirects,
                tls_skip_verify: self.tls_skip_verify,
                ca_file: self.ca_file.clone(),
                identity,
            })
            .map_err(|e| FieldError::new("url", format!("cannot set up an HTTP client: {e}")))?;
        Ok(Arc::new(HttpCheck {
            client,
            url,
            method,
            headers,
            body: self.body,
            expect_status,
            body_contains: self.body_contains,
            body_not_contains: self.body_not_contains,
            degraded_after: self.degraded_ms.map(Duration::from_millis),
            timeout: ctx.timeout,
            basic_auth: self.basic_auth,
            bearer_token: self.bearer_token,
            json_path,
            cert_expiry,
        }))
    }
}

/// Client settings that need a client of their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub follow_redirects: bool,
    pub tls_skip_verify: bool,
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key files.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// Why an HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tls(#[from] reqwest::Error),
}

/// HTTP clients shared between checks, one per [`ClientKey`], so checks of one host share a
/// connection pool instead of each paying for a TLS handshake.
#[derive(Default)]
pub struct Clients {
    clients: RefCell<HashMap<ClientKey, Client>>,
}

impl Clients {
    /// The client for these settings, built on first use.
    ///
    /// # Errors
    /// When the TLS setup fails (no usable root certificates, for example).
    pub fn get(&self, key: ClientKey) -> Result<Client, ClientError> {
        if let Some(c) = self.clients.borrow().get(&key) {
            return Ok(c.clone());
        }
        crate::install_tls_provider();
        let redirect = if key.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| ClientError::Read {
                path: path.clone(),
                source,
            })
        };
        let mut builder = Client::builder()
            .user_agent(concat!("healthmon/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect)
            .tls_danger_accept_invalid_certs(key.tls_skip_verify)
            .tls_info(true)
            // A health check reports what happened: no silent retries. (The default policy
            // only retries HTTP/2 refusals, which never apply here, yet it copies every
            // request in case it retries.)
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .pool_idle_timeout(Duration::from_secs(90));
        if let Some(path) = &key.ca_file {
            for cert in reqwest::Certificate::from_pem_bundle(&read(path)?)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert, key_file)) = &key.identity {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key_file)?);
            builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
        }
        let client = builder.build()?;
        self.clients.borrow_mut().insert(key, client.clone());
        Ok(client)
    }
}

pub struct HttpCheck {
    client: Client,
    url: SecretUrl,
    method: Method,
    headers: reqwest::header::HeaderMap,
    body: Option<String>,
    expect_status: Vec<StatusPattern>,
    body_contains: Option<String>,
    body_not_contains: Option<String>,
    degraded_after: Option<Duration>,
    timeout: Duration,
    basic_auth: Option<BasicAuth>,
    bearer_token: Option<String>,
    /// The compiled path, its text, and the expected value.
    json_path: Option<(serde_json_path::JsonPath, String, Option<serde_json::Value>)>,
    cert_expiry: super::threshold::Thresholds,
}

impl std::fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers, basic auth and the bearer token may hold secrets.
        f.debug_struct("HttpCheck")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Whether a JSON node matches what was expected: equal, or equal as text (`"1"` matches `1`).
fn json_matches(node: &serde_json::Value, expected: &serde_json::Value) -> bool {
    node == expected
        || match (node, expected) {
            (serde_json::Value::String(_), _) => false,
            (_, serde_json::Value::String(text)) => {
                serde_json::to_string(node).is_ok_and(|rendered| rendered == *text)
            }
            _ => false,
        }
}

impl HttpCheck {
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
        self.url.scrub(&format!("{what}: {root}"))
    }

    fn expected_text(&self) -> String {
        self.expect_status
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[async_trait]
impl Check for HttpCheck {
    async fn probe(&self) -> Outcome {
        let started = Instant::now();
        let mut request = self
            .client
            .request(self.method.clone(), self.url.expose().clone())
            .headers(self.headers.clone())
            .timeout(self.timeout);
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        if let Some(auth) = &self.basic_auth {
            request = request.basic_auth(&auth.username, Some(&auth.password));
        }
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token);
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::unhealthy(self.describe_error(e)),
        };
        let code = response.status();
        let mut observed = Observed::new();
        observed.insert("status_code".into(), code.as_u16().into());
        let peer_certificate = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .map(<[u8]>::to_vec);
        let fail = |message: String, observed: Observed| Outcome {
            status: super::Status::Unhealthy,
            message: Some(message),
            observed,
        };

        if !self.expect_status.iter().any(|p| p.matches(code.as_u16())) {
            return fail(
                format!(
                    "unexpected status {code} (expected {})",
                    self.expected_text()
                ),
                observed,
            );
        }
        if self.body_contains.is_some()
            || self.body_not_contains.is_some()
            || self.json_path.is_some()
        {
            let mut body = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        body.extend_from_slice(&chunk[..chunk.len().min(BODY_LIMIT - body.len())]);
                        if body.len() >= BODY_LIMIT {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return fail(self.describe_error(e), observed),
                }
            }
            let text = String::from_utf8_lossy(&body);
            if let Some(needle) = &self.body_contains {
                if !text.contains(needle.as_str()) {
                    return fail(format!("body does not contain `{needle}`"), observed);
                }
            }
            if let Some(needle) = &self.body_not_contains {
                if text.contains(needle.as_str()) {
                    return fail(format!("body contains `{needle}`"), observed);
                }
            }
            if let Some((path, path_text, expected)) = &self.json_path {
                let json: serde_json::Value = match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(e) => return fail(format!("body is not JSON: {e}"), observed),
                };
                let Some(node) = path.query(&json).first().cloned() else {
                    return fail(format!("{path_text} matches nothing in the body"), observed);
                };
                observed.insert("json_value".into(), node.clone());
                if let Some(expected) = expected {
                    if !json_matches(&node, expected) {
                        return fail(
                            format!("{path_text} is {node}, expected {expected}"),
                            observed,
                        );
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        let mut outcome = Outcome {
            status: super::Status::Healthy,
            message: Some(format!("{code}")),
            observed,
        };
        if let Some(der) = peer_certificate {
            outcome = super::tls::judge_expiry(&der, &self.cert_expiry, outcome);
        }
        if let Some(limit) = self
            .degraded_after
            .filter(|_| outcome.status == super::Status::Healthy)
        {
            if elapsed > limit {
                outcome.status = super::Status::Degraded;
                outcome.message = Some(format!(
                    "{code}, slow: {} ms (degraded_ms {})",
                    elapsed.as_millis(),
                    limit.as_millis()
                ));
            }
        }
        outcome
    }

    fn target(&self) -> String {
        format!("{} {}", self.method, self.url.redacted())
    }

    fn thresholds(&self) -> Observed {
        let mut m = Observed::new();
        m.insert("expect_status".into(), self.expected_text().into());
        if let Some(d) = self.degraded_after {
            m.insert("degraded_ms".into(), (d.as_millis() as u64).into());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patterns_accept_codes_classes_and_ranges() {
        let p = |s: &str| StatusPattern::parse(s).unwrap();
        assert!(p("2xx").matches(204) && !p("2xx").matches(301));
        assert!(p("200-204").matches(204) && !p("200-204").matches(205));
        assert!(p("418").matches(418));
        for bad in ["6xx", "99", "300-200", "abc", ""] {
            assert!(StatusPattern::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(p("5xx").to_string(), "5xx");
    }

    #[test]
    fn authorization_headers_are_treated_as_secrets() {
        assert!(
            is_secret_header("Authorization")
                && is_secret_header("X-Api-Key")
                && !is_secret_header("Accept")
        );
    }
}
