//! Secrets in URLs, DSNs and tokens.
//!
//! A URL from the config becomes a [`SecretUrl`] when the config is loaded. Its `Debug` and
//! `Display` print only the redacted form, and [`SecretUrl::scrub`] cleans text a driver
//! returns, so logs, API output, pages and errors never see a password.

use std::fmt;
use std::sync::{PoisonError, RwLock};

/// Stands in for every secret we remove.
pub const MASK: &str = "***";

/// Query parameters whose values are treated as secrets.
const SENSITIVE_PARAMS: &[&str] = &[
    "password",
    "pass",
    "passwd",
    "pwd",
    "secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "auth",
    "sig",
    "signature",
    "client_secret",
];

fn is_sensitive_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE_PARAMS.contains(&lower.as_str())
}

/// The one function that turns a URL or DSN into the form safe to show.
///
/// Removes the password of the user-info part and the values of sensitive query parameters.
/// Text that does not parse as a URL is cut after a `scheme://user:` prefix, so a malformed DSN
/// does not leak either.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) => redact_parsed(&url),
        Err(_) => redact_unparsed(raw),
    }
}

fn redact_parsed(url: &url::Url) -> String {
    let mut safe = url.clone();
    if safe.password().is_some() {
        // set_password only fails for cannot-be-a-base URLs, which have no password.
        let _ = safe.set_password(Some(MASK));
    }
    if safe.query().is_some() {
        let pairs: Vec<(String, String)> = safe
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_sensitive_param(&k) {
                    MASK.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        safe.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // The serializer percent-encodes the mask; show it as written.
    safe.to_string().replace("%2A%2A%2A", MASK)
}

fn redact_unparsed(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_string();
    };
    let rest = &raw[scheme_end + 3..];
    match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:{MASK}@{}", &raw[..scheme_end], &rest[at + 1..])
        }
        None => raw.to_string(),
    }
}

/// A URL whose secrets never leave through `Debug`, `Display` or error text.
#[derive(Clone)]
pub struct SecretUrl {
    url: url::Url,
    redacted: String,
    /// Raw and percent-decoded forms of every secret in the URL, for [`SecretUrl::scrub`].
    secrets: Vec<String>,
}

impl SecretUrl {
    /// Parses `raw`.
    ///
    /// # Errors
    /// The message shows only the redacted form of `raw`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw)
            .map_err(|e| format!("expected a URL, got `{}` ({e})", redact_url(raw)))?;
        Ok(Self::from_url(url))
    }

    pub fn from_url(url: url::Url) -> Self {
        let mut secrets = Vec::new();
        let mut add = |s: &str| {
            if s.len() >= 3 && !secrets.iter().any(|k| k == s) {
                secrets.push(s.to_string());
            }
        };
        if let Some(password) = url.password() {
            add(password);
            if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
                add(&decoded);
            }
        }
        for (k, v) in url.query_pairs() {
            if is_sensitive_param(&k) {
                add(&v);
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let redacted = redact_parsed(&url);
        SecretUrl {
            url,
            redacted,
            secrets,
        }
    }

    /// The real URL, for the driver only.
    pub fn expose(&self) -> &url::Url {
        &self.url
    }

    /// The form safe to show.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The secrets this URL holds, for scrubbing messages elsewhere.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Removes this URL's secrets from `text` (for example a driver's error message).
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }
}

/// Replaces every occurrence of any of `secrets` in `text` with [`MASK`].
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if !secret.is_empty() && out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretUrl").field(&self.redacted).finish()
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// The secrets a check's config holds, longest first; `Debug` prints only how many.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<String>);

impl Secrets {
    pub fn new(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Secrets(secrets)
    }

    /// Replaces every secret in `text` with [`MASK`].
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.0)
    }

    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|s| s == value)
    }
}

impl Secrets {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// Every secret of the loaded config, removed from each log line. Our own messages never
/// hold one, but drivers log what they were given at debug and trace (async-nats prints
/// its CONNECT, password included), and `HEALTHMON_LOG=trace` must stay safe to paste.
static LOG_SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds `secrets` to those removed from every log line.
pub fn hide_in_logs<'a>(secrets: impl IntoIterator<Item = &'a str>) {
    let mut all = LOG_SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    for secret in secrets {
        // As for messages: masking every "a" of a log would hide the log, not the secret.
        if secret.len() >= 3 && !all.iter().any(|s| s == secret) {
            all.push(secret.to_string());
        }
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `line` without the secrets given to [`hide_in_logs`]; `None` when it holds none.
pub fn scrub_log_line(line: &str) -> Option<String> {
    let all = LOG_SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    all.iter()
        .any(|s| line.contains(s.as_str()))
        .then(|| scrub(line, &all))
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} hidden)", self.0.len())
    }
}

/// A secret value (a token, a password) that prints as [`MASK`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_dsns_are_masked() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db.example:5432/app?sslmode=require"),
            "postgres://app:***@db.example:5432/app?sslmode=require"
        );
        assert_eq!(
            redact_url("redis://:topsecret@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("https://example.com/health"),
            "https://example.com/health"
        );
    }

    #[test]
    fn sensitive_query_parameters_are_masked() {
        let safe = redact_url("https://api.example.com/ping?api_key=abc123&region=eu");
        assert_eq!(safe, "https://api.example.com/ping?api_key=***&region=eu");
    }

    #[test]
    fn a_dsn_that_does_not_parse_still_hides_its_password() {
        let safe = redact_url("mysql://root:pa ss@@host:3306/db");
        assert!(!safe.contains("pa ss"), "{safe}");
    }

    #[test]
    fn driver_errors_are_scrubbed_of_raw_and_decoded_secrets() {
        let url = SecretUrl::parse("amqp://guest:p%40ss%21word@127.0.0.1:5672/%2f").unwrap();
        let msg = url.scrub("auth failed for guest with p@ss!word (p%40ss%21word)");
        assert!(
            !msg.contains("p@ss!word") && !msg.contains("p%40ss%21word"),
            "{msg}"
        );
        assert_eq!(
            format!("{url:?}"),
            "SecretUrl(\"amqp://guest:***@127.0.0.1:5672/%2f\")"
        );
        assert_eq!(url.to_string(), "amqp://guest:***@127.0.0.1:5672/%2f");
    }

    #[test]
    fn log_lines_lose_the_registered_secrets() {
        hide_in_logs(["s3cr3t-for-log-test", "s3cr3t"]);
        assert_eq!(
            scrub_log_line("CONNECT pass: Some(\"s3cr3t-for-log-test\") and s3cr3t").as_deref(),
            Some("CONNECT pass: Some(\"***\") and ***")
        );
        assert_eq!(scrub_log_line("nothing to hide"), None);
    }

    #[test]
    fn a_secret_never_prints() {
        assert_eq!(format!("{:?}", Secret::new("tok")), "***");
    }
}
