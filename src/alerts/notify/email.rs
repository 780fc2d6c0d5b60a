//! `email`: one message per notification, over SMTP (lettre), to every recipient at once.
//!
//! The subject is [`Message::title`]; `Message-ID`, `In-Reply-To` and `References` come from the
//! [`Thread`](crate::alerts::message::Thread), so a trigger, its reminders and its resolution
//! land in one thread of a mail client. The body is `multipart/alternative`: a text part and an
//! HTML part rendered from `templates/email/notification.{txt,html}`.

use super::{BuildContext, Notifier, NotifierConfig, SendError};
use crate::alerts::message::{AlertItem, Event, Message, Outgoing};
use crate::alerts::{AlertKind, AlertState, Level};
use crate::duration;
use crate::keys::FieldError;
use crate::redact::{SecretUrl, Secrets};
use askama::Template;
use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `[[notifier]] kind = "email"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The relay: `smtp://[user:password@]host[:port][?tls=MODE]`, or `smtps://host[:port]` for
    /// TLS from the first byte. The user and password (percent-encoded) are used for `AUTH`.
    /// `tls` is `none`, `starttls` (required), `opportunistic` (STARTTLS when offered) or `tls`
    /// (implicit TLS). Default: `tls` for `smtps://` or port 465; `starttls` when the URL has
    /// credentials or the port is 587, so a password is never sent in clear unless asked;
    /// `opportunistic` otherwise. Default port: 465 with implicit TLS, else 25.
    pub url: String,
    /// The sender: `healthmon <healthmon@example.com>` or a bare address.
    pub from: String,
    /// The recipients: one address or a list of them (at least one); all in one message.
    #[serde(deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    /// One attempt gives up after this long (connect, TLS, AUTH and DATA together).
    #[serde(
        default = "default_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub timeout: Duration,
    /// The name sent with `EHLO`. Default: this machine's host name.
    pub hello_name: Option<String>,
    /// Trust the certificates in this PEM file (a private CA) for the relay's certificate.
    pub ca_file: Option<PathBuf>,
    /// Encrypt without verifying the relay's certificate (test relays only).
    #[serde(default)]
    pub tls_skip_verify: bool,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `to = "a@example.com"` or `to = ["a@example.com", "b@example.com"]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct OneOrMany;

    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an email address or a list of them")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(address) = seq.next_element::<String>()? {
                out.push(address);
            }
            Ok(out)
        }
    }

    d.deserialize_any(OneOrMany)
}

/// How the connection to the relay is encrypted (`?tls=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    /// Plain text throughout.
    None,
    /// Plain text, then `STARTTLS`, which the relay must offer.
    StartTls,
    /// `STARTTLS` when the relay offers it, else plain text.
    Opportunistic,
    /// TLS from the first byte (`smtps://`, port 465).
    Implicit,
}

impl TlsMode {
    const EXPECTED: &'static str = "tls=none, tls=starttls, tls=opportunistic or tls=tls";

    fn parse(text: &str) -> Option<TlsMode> {
        Some(match text {
            "none" => TlsMode::None,
            "starttls" => TlsMode::StartTls,
            "opportunistic" => TlsMode::Opportunistic,
            // `implicit` is what the `smtp` check calls it, so its URL can be copied here.
            "tls" | "implicit" => TlsMode::Implicit,
            _ => return None,
        })
    }

    /// The mode when the URL does not say: never a password in clear.
    fn default_for(implicit_scheme: bool, port: Option<u16>, has_credentials: bool) -> TlsMode {
        if implicit_scheme || port == Some(465) {
            TlsMode::Implicit
        } else if has_credentials || port == Some(587) {
            TlsMode::StartTls
        } else {
            TlsMode::Opportunistic
        }
    }
}

impl NotifierConfig for EmailConfig {
    const KIND: &'static str = "email";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Notifier>, FieldError> {
        let url = ctx.url(&self.url).map_err(|m| FieldError::new("url", m))?;
        let u = url.expose();
        let implicit_scheme = match u.scheme() {
            "smtp" => false,
            "smtps" => true,
            _ => {
                return Err(FieldError::new(
                    "url",
                    format!("expected an smtp:// or smtps:// URL, got `{url}`"),
                ))
            }
        };
        let mut tls_param = None;
        for (key, value) in u.query_pairs() {
            match key.as_ref() {
                "tls" => tls_param = Some(value.into_owned()),
                other => {
                    return Err(FieldError::new(
                        "url",
                        format!(
                            "unknown parameter `{other}`; expected only ?{}",
                            TlsMode::EXPECTED
                        ),
                    ))
                }
            }
        }
        let Some(host) = u
            .host_str()
            .filter(|h| !h.is_empty())
            .map(|h| h.trim_matches(['[', ']']).to_string())
        else {
            return Err(FieldError::new(
                "url",
                format!("expected smtp://host[:port], got `{url}`"),
            ));
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!u.username().is_empty())
            .then(|| Credentials::new(decode(u.username()), decode(u.password().unwrap_or(""))));
        let mode = match tls_param.as_deref() {
            None => TlsMode::default_for(implicit_scheme, u.port(), credentials.is_some()),
            Some(text) => TlsMode::parse(text).ok_or_else(|| {
                FieldError::new(
                    "url",
                    format!("expected {}, got tls={text}", TlsMode::EXPECTED),
                )
            })?,
        };
        if implicit_scheme && mode != TlsMode::Implicit {
            return Err(FieldError::new(
                "url",
                "smtps:// is TLS from the first byte; for STARTTLS or plain text write smtp://",
            ));
        }
        let port = u
            .port()
            .unwrap_or(if mode == TlsMode::Implicit { 465 } else { 25 });

        let from: Mailbox = self.from.parse().map_err(|e| {
            FieldError::new(
                "from",
                format!(
                    "expected an address such as `healthmon <healthmon@example.com>`, got `{}` ({e})",
                    self.from
                ),
            )
        })?;
        if self.to.is_empty() {
            return Err(FieldError::new(
                "to",
                "expected at least one address, e.g. to = [\"oncall@example.com\"]",
            ));
        }
        let to = self
            .to
            .iter()
            .map(|text| {
                text.parse::<Mailbox>().map_err(|e| {
                    FieldError::new(
                        "to",
                        format!("expected email addresses such as `oncall@example.com`, got `{text}` ({e})"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.timeout.is_zero() {
            return Err(FieldError::new("timeout", "expected more than 0s"));
        }
        let hello = match self.hello_name {
            None => ClientId::default(),
            Some(name) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                ClientId::Domain(name)
            }
            Some(name) => {
                return Err(FieldError::new(
                    "hello_name",
                    format!("expected a host name such as `monitor.example.com`, got `{name}`"),
                ))
            }
        };

        let tls = match mode {
            TlsMode::None => Tls::None,
            _ => {
                let mut builder = TlsParameters::builder(host.clone())
                    .dangerous_accept_invalid_certs(self.tls_skip_verify);
                if let Some(path) = &self.ca_file {
                    let pem = std::fs::read(path).map_err(|e| {
                        FieldError::new("ca_file", format!("cannot read {}: {e}", path.display()))
                    })?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        FieldError::new("ca_file", format!("{}: {e}", path.display()))
                    })?;
                    builder = builder.add_root_certificate(cert);
                }
                let parameters = builder
                    .build_rustls()
                    .map_err(|e| FieldError::new("url", format!("cannot set up TLS: {e}")))?;
                match mode {
                    TlsMode::StartTls => Tls::Required(parameters),
                    TlsMode::Opportunistic => Tls::Opportunistic(parameters),
                    _ => Tls::Wrapper(parameters),
                }
            }
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .hello_name(hello)
            // Each command's own limit; the whole attempt is cut at the same `timeout` in send().
            .timeout(Some(self.timeout));
        if let Some(credentials) = credentials {
            transport = transport.credentials(credentials);
        }
        let secrets = Secrets::new(url.secrets().to_vec());
        Ok(Arc::new(EmailNotifier {
            transport: transport.build(),
            url,
            from,
            to,
            timeout: self.timeout,
            secrets,
        }))
    }
}

/// Sends each notification as one email through one relay.
pub struct EmailNotifier {
    /// Connects per message: notifications are rare, and an idle pooled connection would only
    /// be closed by the relay in between.
    transport: AsyncSmtpTransport<Tokio1Executor>,
    url: SecretUrl,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
    /// The URL's password, removed from every error.
    secrets: Secrets,
}

impl fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("url", &self.url)
            .field("to", &self.recipients())
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    fn recipients(&self) -> String {
        self.to
            .iter()
            .map(|m| m.email.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The email for `out`.
    ///
    /// # Errors
    /// When a template does not render or lettre refuses a header: the same message would fail
    /// the same way on every attempt.
    fn compose(&self, out: Outgoing<'_>) -> Result<lettre::Message, String> {
        let m = out.message;
        let view = View::of(m);
        let text = TextBody { v: &view }
            .render()
            .map_err(|e| format!("cannot render the text part: {e}"))?;
        let html = HtmlBody::of(&view)
            .render()
            .map_err(|e| format!("cannot render the HTML part: {e}"))?;
        let date = chrono::DateTime::parse_from_rfc3339(&m.created_at)
            .map(SystemTime::from)
            .unwrap_or_else(|_| SystemTime::now());
        let thread = out.thread;
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(m.title())
            .date(date)
            .message_id((!thread.message_id.is_empty()).then(|| thread.message_id.clone()))
            .user_agent(concat!("healthmon/", env!("CARGO_PKG_VERSION")).to_string());
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        if let Some(parent) = &thread.in_reply_to {
            builder = builder.in_reply_to(parent.clone());
        }
        let references = if thread.references.is_empty() {
            thread.in_reply_to.iter().cloned().collect()
        } else {
            thread.references.clone()
        };
        if !references.is_empty() {
            builder = builder.references(references.join(" "));
        }
        // Quoted-printable whatever the content, so the raw message stays readable.
        let part = |content_type: ContentType, body: String| {
            SinglePart::builder()
                .header(content_type)
                .header(ContentTransferEncoding::QuotedPrintable)
                .body(body)
        };
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(part(ContentType::TEXT_PLAIN, text))
                    .singlepart(part(ContentType::TEXT_HTML, html)),
            )
            .map_err(|e| format!("cannot compose the email: {e}"))
    }

    fn describe(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let text = match e.status() {
            // The server's own words: "451 4.3.0 Try again later".
            Some(code) => {
                let said = std::error::Error::source(e)
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                format!("the SMTP server answered {code} {said}")
            }
            None if e.is_timeout() => {
                format!("no answer within {}", duration::format(self.timeout))
            }
            None => format!("SMTP failed: {}", chain(e)),
        };
        let text = self.secrets.scrub(text.trim_end());
        if e.is_permanent() {
            SendError::permanent(text)
        } else {
            SendError::transient(text)
        }
    }
}

/// An error with its causes, each once.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
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

#[async_trait]
impl Notifier for EmailNotifier {
    async fn send(&self, out: Outgoing<'_>) -> Result<(), SendError> {
        let email = self.compose(out).map_err(SendError::permanent)?;
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.describe(&e)),
            Err(_) => Err(SendError::transient(format!(
                "no answer within {}",
                duration::format(self.timeout)
            ))),
        }
    }

    fn target(&self) -> String {
        format!("{} → {}", self.url.redacted(), self.recipients())
    }
}

// ---- the body ----

#[derive(Template)]
#[template(path = "email/notification.txt")]
struct TextBody<'a> {
    v: &'a View,
}

#[derive(Template)]
#[template(path = "email/notification.html")]
struct HtmlBody<'a> {
    v: &'a View,
    /// The pages' layout wants one; a mail has no script and its style needs no nonce.
    nonce: &'static str,
}

impl<'a> HtmlBody<'a> {
    fn of(v: &'a View) -> Self {
        HtmlBody { v, nonce: "mail" }
    }
}

/// What both parts show, worked out once.
struct View {
    title: String,
    summary: String,
    service: String,
    environment: String,
    notification_id: i64,
    /// The headline's accent: the worst alert's.
    colour: &'static str,
    /// The pages' class of that accent (`unhealthy`, `degraded`, `healthy`).
    class: &'static str,
    alerts: Vec<AlertView>,
}

struct AlertView {
    heading: String,
    colour: &'static str,
    /// The pages' panel class: `bad`, `warn` or `ok`.
    panel: &'static str,
    rows: Vec<Row>,
}

struct Row {
    label: &'static str,
    value: String,
}

impl Row {
    /// The label with its colon, padded so the text part's values line up.
    fn padded_label(&self) -> String {
        format!("{:<14}", format!("{}:", self.label))
    }
}

const RED: &str = "#cf222e";
const AMBER: &str = "#9a6700";
const GREEN: &str = "#1a7f37";

impl View {
    fn of(m: &Message) -> View {
        let alerts: Vec<AlertView> = m.alerts.iter().map(|a| AlertView::of(a, m.event)).collect();
        let colour = alerts.first().map_or(GREEN, |a| a.colour);
        let class = match alerts.first().map(|a| a.panel) {
            Some("bad") => "unhealthy",
            Some("warn") => "degraded",
            _ => "healthy",
        };
        View {
            title: m.title(),
            summary: summary(m.event, m.alerts.len()),
            service: m.service.name.clone(),
            environment: m.service.environment.clone(),
            notification_id: m.id,
            colour,
            class,
            alerts,
        }
    }
}

fn summary(event: Event, n: usize) -> String {
    match (event, n) {
        (_, 0) => "No alerts.".into(),
        (Event::Firing, 1) => "This alert started firing.".into(),
        (Event::Firing, n) => format!("{n} alerts started firing, worst first."),
        (Event::Reminder, 1) => "Still firing, and nobody has acknowledged it.".into(),
        (Event::Reminder, n) => {
            format!("{n} alerts are still firing, and nobody has acknowledged them.")
        }
        (Event::LevelChanged, 1) => "This alert changed level.".into(),
        (Event::LevelChanged, n) => format!("{n} alerts changed level, worst first."),
        (Event::Resolved, 1) => "This alert is resolved.".into(),
        (Event::Resolved, n) => format!("{n} alerts are resolved."),
    }
}

impl AlertView {
    fn of(a: &AlertItem, event: Event) -> AlertView {
        let mut rows = Vec::new();
        let mut row = |label, value: String| rows.push(Row { label, value });
        row("Check", a.check.clone());
        if let Some(rule) = &a.rule {
            let label = if a.kind == AlertKind::Slo {
                "SLO"
            } else {
                "Rule"
            };
            row(label, rule.clone());
        }
        row(
            "Level",
            match a.previous_level {
                Some(before) if before != a.level => {
                    format!("{} (was {})", a.level.as_str(), before.as_str())
                }
                _ => a.level.as_str().to_string(),
            },
        );
        row("State", a.state.as_str().to_string());
        row("Started", utc(&a.started_at));
        if let Some(resolved) = &a.resolved_at {
            row("Resolved", utc(resolved));
        }
        let lasting = human_duration(a.duration_seconds);
        row(
            "Duration",
            if a.state == AlertState::Resolved {
                lasting
            } else {
                format!("{lasting} so far")
            },
        );
        if let Some(value) = a.value {
            let mut text = match &a.metric {
                Some(metric) => format!("{metric} {}", number(value, 2)),
                None => number(value, 2),
            };
            if let Some(threshold) = a.threshold {
                text.push_str(&format!(" (threshold {})", number(threshold, 2)));
            }
            row("Value", text);
        }
        if let Some(message) = &a.message {
            let label = if a.kind == AlertKind::State {
                "First error"
            } else {
                "Message"
            };
            row(label, message.clone());
        }
        if let Some(n) = a.reminder {
            row("Reminder", n.to_string());
        }
        if let Some(percent) = a.availability_month_percent {
            row(
                "Availability",
                format!("{} % this month so far", number(percent, 3)),
            );
        }
        if let Some(status) = &a.check_status {
            row("Check status", status.clone());
        }
        let (colour, panel) = match (a.state, a.level) {
            (AlertState::Resolved, _) => (GREEN, "ok"),
            (_, Level::Critical) => (RED, "bad"),
            (_, Level::Warning) => (AMBER, "warn"),
        };
        AlertView {
            heading: format!("{} · {}", a.headline(event), a.subject()),
            colour,
            panel,
            rows,
        }
    }
}

/// `2026-12-02T10:00:00.000Z` as `2026-12-02 10:00:00 UTC`; text that is no timestamp as it is.
fn utc(timestamp: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(timestamp)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| timestamp.to_string())
}

/// A duration for people: `42 s`, `4 min 12 s`, `2 h 5 min`, `3 d 4 h` (the two largest units).
fn human_duration(seconds: f64) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 {
        seconds.round() as u64
    } else {
        0
    };
    let two = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big} {big_unit}")
        } else {
            format!("{big} {big_unit} {small} {small_unit}")
        }
    };
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => two(s / 60, "min", s % 60, "s"),
        3_600..86_400 => two(s / 3_600, "h", s % 3_600 / 60, "min"),
        _ => two(s / 86_400, "d", s % 86_400 / 3_600, "h"),
    }
}

/// A number with at most `decimals` decimals and no trailing zeros: `3000`, `12.5`, `99.953`.
fn number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::message::{Service, Thread, VERSION};
    use crate::keys::KeyError;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};

    const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");

    /// The real aiosmtpd from `tests/support`, keeping what it accepts in a temporary
    /// directory; killed when dropped.
    struct Sink {
        child: Child,
        port: u16,
        dir: tempfile::TempDir,
    }

    impl Sink {
        fn start(extra: &[&Path]) -> Sink {
            use std::io::BufRead;
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("server.log");
            // A port found free may be taken again before the server binds it: try another.
            for _ in 0..3 {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let mut child = Command::new("/usr/bin/python3")
                    .arg(SCRIPT)
                    .arg(port.to_string())
                    .arg("--save")
                    .arg(dir.path())
                    .args(extra)
                    .stdout(Stdio::piped())
                    .stderr(std::fs::File::create(&log).unwrap())
                    .spawn()
                    .expect("start aiosmtpd (scripts/services installs python3-aiosmtpd)");
                // "ready" once it answers; end of output if it exits.
                let mut line = String::new();
                let stdout = child.stdout.take().unwrap();
                let _ = std::io::BufReader::new(stdout).read_line(&mut line);
                if line.trim() == "ready" {
                    return Sink { child, port, dir };
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!(
                "aiosmtpd did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }

        /// Every saved message: its envelope and its raw text.
        fn saved(&self) -> Vec<(serde_json::Value, String)> {
            (1..)
                .map(|n| self.dir.path().join(format!("{n}.eml")))
                .take_while(|eml| eml.exists())
                .map(|eml| {
                    let envelope = std::fs::read(eml.with_extension("json")).unwrap();
                    (
                        serde_json::from_slice(&envelope).unwrap(),
                        String::from_utf8(std::fs::read(&eml).unwrap()).unwrap(),
                    )
                })
                .collect()
        }
    }

    impl Drop for Sink {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A parsed message or MIME part: unfolded headers and the (still encoded) body.
    struct Part {
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Part {
        fn parse(raw: &str) -> Part {
            let (head, body) = raw
                .split_once("\r\n\r\n")
                .expect("headers, blank line, body");
            let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
            let headers = unfolded
                .split("\r\n")
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
                .collect();
            Part {
                headers,
                body: body.to_string(),
            }
        }

        fn all(&self, name: &str) -> Vec<String> {
            self.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| decode_words(v))
                .collect()
        }

        fn header(&self, name: &str) -> String {
            let all = self.all(name);
            assert_eq!(
                all.len(),
                1,
                "exactly one {name} header in {:?}",
                self.headers
            );
            all[0].clone()
        }

        fn parts(&self) -> Vec<Part> {
            let content_type = self.header("Content-Type");
            let boundary = content_type
                .split("boundary=")
                .nth(1)
                .expect("a boundary")
                .trim_matches('"');
            self.body
                .split(&format!("--{boundary}"))
                .skip(1)
                .take_while(|p| !p.starts_with("--"))
                .map(|p| Part::parse(p.trim_start_matches("\r\n")))
                .collect()
        }

        fn text(&self) -> String {
            let bytes = match self.header("Content-Transfer-Encoding").as_str() {
                "quoted-printable" => quoted_printable::decode(
                    self.body.as_bytes(),
                    quoted_printable::ParseMode::Robust,
                )
                .unwrap(),
                "7bit" | "8bit" => self.body.clone().into_bytes(),
                other => panic!("unexpected encoding {other}"),
            };
            String::from_utf8(bytes).unwrap()
        }
    }

    /// RFC 2047 encoded words (`=?utf-8?b?...?=`) decoded; the space between two words dropped.
    fn decode_words(value: &str) -> String {
        use base64::Engine;
        let mut out = String::new();
        let mut rest = value;
        let mut after_word = false;
        while let Some(start) = rest.find("=?") {
            let before = &rest[..start];
            if !(after_word && before.trim().is_empty()) {
                out.push_str(before);
            }
            let mut fields = rest[start + 2..].splitn(3, '?');
            let (_charset, encoding, tail) = (
                fields.next().unwrap(),
                fields.next().unwrap(),
                fields.next().unwrap(),
            );
            let end = tail.find("?=").expect("an encoded word ends with ?=");
            let data = &tail[..end];
            let bytes = match encoding {
                "b" | "B" => base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .unwrap(),
                _ => quoted_printable::decode(
                    data.replace('_', " ").as_bytes(),
                    quoted_printable::ParseMode::Robust,
                )
                .unwrap(),
            };
            out.push_str(&String::from_utf8(bytes).unwrap());
            rest = &tail[end + 2..];
            after_word = true;
        }
        out.push_str(rest);
        out
    }

    fn build(settings: &str) -> Result<Arc<dyn Notifier>, KeyError> {
        let table: toml::Table = toml::from_str(settings).unwrap();
        let ctx = BuildContext::new("oncall", "shop-api");
        super::super::kind("email")
            .expect("email is registered")
            .build(table, &ctx, "notifier[0]")
    }

    fn sink_notifier(sink: &Sink, extra: &str) -> Arc<dyn Notifier> {
        build(&format!(
            "url = \"smtp://127.0.0.1:{}\"\nfrom = \"healthmon <healthmon@example.com>\"\n\
             to = [\"oncall@example.com\", \"Ops <ops@example.com>\"]\ntimeout = \"5s\"\n{extra}",
            sink.port
        ))
        .unwrap()
    }

    fn alert(check: &str, level: Level) -> AlertItem {
        AlertItem {
            id: 3,
            kind: AlertKind::State,
            check: check.into(),
            rule: None,
            level,
            previous_level: None,
            state: AlertState::Firing,
            started_at: "2026-12-02T09:55:48.000Z".into(),
            resolved_at: None,
            duration_seconds: 252.0,
            metric: None,
            value: None,
            threshold: None,
            message: Some("connect failed: <script>alert(1)</script>".into()),
            reminder: None,
            availability_month_percent: None,
            check_status: Some("unhealthy".into()),
        }
    }

    fn message(event: Event, alerts: Vec<AlertItem>) -> Message {
        Message {
            version: VERSION,
            id: 42,
            event,
            service: Service {
                name: "shop-api".into(),
                environment: "production".into(),
            },
            created_at: "2026-12-02T10:00:00.000Z".into(),
            alerts,
        }
    }

    fn thread() -> Thread {
        Thread {
            message_id: "<42.healthmon@shop-api>".into(),
            in_reply_to: Some("<40.healthmon@shop-api>".into()),
            references: vec![
                "<40.healthmon@shop-api>".into(),
                "<41.healthmon@shop-api>".into(),
            ],
        }
    }

    #[tokio::test]
    async fn a_message_to_two_recipients_arrives_once_threaded_with_both_parts() {
        let sink = Sink::start(&[]);
        let notifier = sink_notifier(&sink, "");
        let mut m = message(Event::Reminder, vec![alert("api", Level::Critical)]);
        m.alerts[0].reminder = Some(2);

        notifier
            .send(Outgoing {
                message: &m,
                thread: &thread(),
            })
            .await
            .unwrap();

        let saved = sink.saved();
        assert_eq!(saved.len(), 1, "one message for both recipients");
        let (envelope, raw) = &saved[0];
        assert_eq!(envelope["mail_from"], "healthmon@example.com");
        assert_eq!(
            envelope["rcpt_tos"],
            serde_json::json!(["oncall@example.com", "ops@example.com"])
        );
        let email = Part::parse(raw);
        assert_eq!(email.header("Subject"), "STILL DOWN · api · shop-api");
        assert_eq!(email.header("Subject"), m.title());
        assert_eq!(email.header("Message-ID"), "<42.healthmon@shop-api>");
        assert_eq!(email.header("In-Reply-To"), "<40.healthmon@shop-api>");
        assert_eq!(
            email.header("References"),
            "<40.healthmon@shop-api> <41.healthmon@shop-api>"
        );
        assert!(email.header("From").contains("<healthmon@example.com>"));
        let to = email.header("To");
        assert!(
            to.contains("oncall@example.com") && to.contains("<ops@example.com>"),
            "{to}"
        );
        assert_eq!(email.header("Date"), "Wed, 02 Dec 2026 10:00:00 +0000");
        assert!(email
            .header("Content-Type")
            .starts_with("multipart/alternative"));

        let parts = email.parts();
        assert_eq!(parts.len(), 2);
        assert!(parts[0].header("Content-Type").starts_with("text/plain"));
        assert!(parts[1].header("Content-Type").starts_with("text/html"));
        let text = parts[0].text();
        for expected in [
            "STILL DOWN · api · shop-api",
            "Check:         api",
            "Started:       2026-12-02 09:55:48 UTC",
            "Duration:      4 min 12 s so far",
            "First error:   connect failed: <script>alert(1)</script>",
            "Reminder:      2",
            "shop-api (production)",
            "Notification id 42.",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
        }
        let html = parts[1].text();
        assert!(
            html.contains("connect failed: &#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("connect failed: &lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("Notification id 42."), "{html}");
        assert!(!html.contains("src=") && !html.contains("href="), "{html}");
    }

    #[tokio::test]
    async fn a_refusing_server_gives_a_transient_error_with_its_451_and_keeps_nothing() {
        let sink = Sink::start(&[]);
        std::fs::write(sink.dir.path().join("refuse"), "").unwrap();
        let notifier = sink_notifier(&sink, "");
        let m = message(Event::Firing, vec![alert("api", Level::Critical)]);

        let err = notifier
            .send(Outgoing {
                message: &m,
                thread: &thread(),
            })
            .await
            .unwrap_err();

        assert!(!err.permanent, "{err:?}");
        assert!(err.message.contains("451 4.3.0 Try again later"), "{err}");
        assert!(sink.saved().is_empty());
    }

    #[tokio::test]
    async fn a_stopped_server_gives_a_transient_error() {
        let sink = Sink::start(&[]);
        let notifier = sink_notifier(&sink, "");
        drop(sink);
        let m = message(Event::Firing, vec![alert("api", Level::Critical)]);

        let err = notifier
            .send(Outgoing {
                message: &m,
                thread: &thread(),
            })
            .await
            .unwrap_err();

        assert!(!err.permanent, "{err:?}");
        assert!(err.message.starts_with("SMTP failed"), "{err}");
    }

    #[tokio::test]
    async fn a_wrong_password_is_refused_without_the_password_showing() {
        let password = "wr0ng-Pa55word";
        let sink = Sink::start(&[
            Path::new("--auth"),
            Path::new("healthmon"),
            Path::new("right"),
        ]);
        let notifier = build(&format!(
            "url = \"smtp://healthmon:{password}@127.0.0.1:{}?tls=none\"\n\
             from = \"healthmon@example.com\"\nto = \"oncall@example.com\"",
            sink.port
        ))
        .unwrap();
        let m = message(Event::Firing, vec![alert("api", Level::Critical)]);

        let err = notifier
            .send(Outgoing {
                message: &m,
                thread: &thread(),
            })
            .await
            .unwrap_err();

        assert!(err.message.contains("535"), "{err}");
        assert!(err.permanent, "a 5xx answer: {err:?}");
        for shown in [
            err.message.clone(),
            notifier.target(),
            format!("{notifier:?}"),
        ] {
            assert!(!shown.contains(password), "{shown}");
        }
        assert!(sink.saved().is_empty());
    }

    #[tokio::test]
    async fn a_password_is_not_sent_in_clear_to_a_server_without_starttls() {
        // The URL has credentials and no ?tls=: STARTTLS is required, and this sink offers none.
        let sink = Sink::start(&[
            Path::new("--auth"),
            Path::new("healthmon"),
            Path::new("right"),
        ]);
        let notifier = build(&format!(
            "url = \"smtp://healthmon:right@127.0.0.1:{}\"\n\
             from = \"healthmon@example.com\"\nto = \"oncall@example.com\"",
            sink.port
        ))
        .unwrap();
        let m = message(Event::Firing, vec![alert("api", Level::Critical)]);

        let err = notifier
            .send(Outgoing {
                message: &m,
                thread: &thread(),
            })
            .await
            .unwrap_err();

        assert!(err.message.contains("STARTTLS"), "{err}");
        assert!(sink.saved().is_empty());
    }

    #[tokio::test]
    async fn starttls_with_a_private_ca_and_auth_delivers() {
        let certs = TestCa::new();
        let sink = Sink::start(&[
            Path::new("--tls"),
            &certs.cert,
            &certs.key,
            Path::new("--auth"),
            Path::new("healthmon"),
            Path::new("s3cret"),
        ]);
        let notifier = build(&format!(
            "url = \"smtp://healthmon:s3cret@127.0.0.1:{}\"\nca_file = \"{}\"\n\
             from = \"healthmon@example.com\"\nto = \"oncall@example.com\"",
            sink.port,
            certs.ca.display()
        ))
        .unwrap();
        let m = message(Event::Firing, vec![alert("api", Level::Critical)]);

        notifier
            .send(Outgoing {
                message: &m,
                thread: &thread(),
            })
            .await
            .unwrap();

        assert_eq!(sink.saved().len(), 1);
    }

    /// A private CA and a certificate for 127.0.0.1 that it signed.
    struct TestCa {
        _dir: tempfile::TempDir,
        ca: std::path::PathBuf,
        cert: std::path::PathBuf,
        key: std::path::PathBuf,
    }

    impl TestCa {
        fn new() -> TestCa {
            use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
            let ca_key = KeyPair::generate().unwrap();
            let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca_cert = ca_params.self_signed(&ca_key).unwrap();
            let issuer = Issuer::new(ca_params, ca_key);
            let key = KeyPair::generate().unwrap();
            let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let write = |name: &str, text: String| {
                let path = dir.path().join(name);
                std::fs::write(&path, text).unwrap();
                path
            };
            TestCa {
                ca: write("ca.pem", ca_cert.pem()),
                cert: write("cert.pem", cert.pem()),
                key: write("key.pem", key.serialize_pem()),
                _dir: dir,
            }
        }
    }

    #[test]
    fn bad_settings_name_their_key_and_never_the_password() {
        let base = |url: &str, from: &str, to: &str| {
            format!("url = \"{url}\"\nfrom = \"{from}\"\nto = {to}")
        };
        let ok_url = "smtp://u:pw-HIDDEN@mail.example.com:587";
        let cases = [
            (
                base(
                    "http://u:pw-HIDDEN@mail.example.com",
                    "a@example.com",
                    "\"b@example.com\"",
                ),
                "notifier[0].url",
                "expected an smtp:// or smtps:// URL",
            ),
            (
                base(
                    "smtp://u:pw-HIDDEN@mail.example.com?tls=maybe",
                    "a@example.com",
                    "\"b@example.com\"",
                ),
                "notifier[0].url",
                "expected tls=none, tls=starttls, tls=opportunistic or tls=tls, got tls=maybe",
            ),
            (
                base(
                    "smtp://u:pw-HIDDEN@mail.example.com?tsl=starttls",
                    "a@example.com",
                    "\"b@example.com\"",
                ),
                "notifier[0].url",
                "unknown parameter `tsl`",
            ),
            (
                base(
                    "smtps://u:pw-HIDDEN@mail.example.com?tls=starttls",
                    "a@example.com",
                    "\"b@example.com\"",
                ),
                "notifier[0].url",
                "smtps:// is TLS from the first byte",
            ),
            (
                base(ok_url, "not an address", "\"b@example.com\""),
                "notifier[0].from",
                "expected an address such as",
            ),
            (
                base(ok_url, "a@example.com", "[\"b@example.com\", \"nope\"]"),
                "notifier[0].to",
                "got `nope`",
            ),
            (
                base(ok_url, "a@example.com", "[]"),
                "notifier[0].to",
                "expected at least one address",
            ),
            (
                base(ok_url, "a@example.com", "3"),
                "notifier[0].to",
                "an email address or a list of them",
            ),
            (
                format!(
                    "{}\ntimeout = \"soon\"",
                    base(ok_url, "a@example.com", "\"b@example.com\"")
                ),
                "notifier[0].timeout",
                "expected a duration",
            ),
            (
                format!(
                    "{}\nhello = \"x\"",
                    base(ok_url, "a@example.com", "\"b@example.com\"")
                ),
                "notifier[0].hello",
                "unknown field `hello`",
            ),
            (
                format!("url = \"{ok_url}\"\nfrom = \"a@example.com\""),
                "notifier[0].to",
                "is required but missing",
            ),
        ];
        for (settings, key, message) in cases {
            let err = build(&settings).expect_err(&settings);
            assert_eq!(err.key, key, "{settings}: {err}");
            assert!(err.message.contains(message), "{settings}: {err}");
            assert!(!err.to_string().contains("pw-HIDDEN"), "{err}");
        }
    }

    #[test]
    fn tls_defaults_never_send_a_password_in_clear() {
        let mode = |implicit, port, credentials| TlsMode::default_for(implicit, port, credentials);
        assert_eq!(mode(true, None, false), TlsMode::Implicit);
        assert_eq!(mode(false, Some(465), true), TlsMode::Implicit);
        assert_eq!(mode(false, Some(587), false), TlsMode::StartTls);
        assert_eq!(mode(false, Some(25), true), TlsMode::StartTls);
        assert_eq!(mode(false, None, true), TlsMode::StartTls);
        assert_eq!(mode(false, Some(25), false), TlsMode::Opportunistic);
        assert_eq!(mode(false, None, false), TlsMode::Opportunistic);
    }

    #[test]
    fn the_target_shows_the_redacted_url_and_the_recipients() {
        let notifier = build(
            "url = \"smtp://user:hunter22@smtp.example.com:587\"\nfrom = \"healthmon@example.com\"\n\
             to = [\"oncall@example.com\", \"Ops <ops@example.com>\"]",
        )
        .unwrap();
        assert_eq!(
            notifier.target(),
            "smtp://user:***@smtp.example.com:587 → oncall@example.com, ops@example.com"
        );
        assert!(!format!("{notifier:?}").contains("hunter22"));
    }

    #[test]
    fn a_grouped_message_lists_every_alert_worst_first() {
        let mut slow = alert("db", Level::Warning);
        slow.kind = AlertKind::Threshold;
        slow.rule = Some("db-slow".into());
        slow.metric = Some("response_time_ms".into());
        slow.value = Some(3412.0);
        slow.threshold = Some(3000.0);
        slow.message = None;
        let m = message(Event::Firing, vec![alert("api", Level::Critical), slow]);
        let view = View::of(&m);

        let text = TextBody { v: &view }.render().unwrap();
        let html = HtmlBody::of(&view).render().unwrap();

        assert!(
            text.contains("2 alerts started firing, worst first."),
            "{text}"
        );
        let (api, db) = (
            text.find("DOWN · api").unwrap(),
            text.find("WARNING · db-slow (db)").unwrap(),
        );
        assert!(api < db, "{text}");
        assert!(
            text.contains("Value:         response_time_ms 3412 (threshold 3000)"),
            "{text}"
        );
        assert!(html.contains("DOWN · api") && html.contains("WARNING · db-slow (db)"));
        assert_eq!(html.matches("<table").count(), 2, "{html}");
        // It is the status page's layout: its palette and classes, not its script.
        assert!(html.contains("prefers-color-scheme: dark"), "{html}");
        assert!(html.contains("class=\"banner unhealthy\""), "{html}");
        assert!(html.contains("class=\"panel bad\"") && html.contains("class=\"panel warn\""));
        assert!(!html.contains("<script") && !html.contains("http-equiv=\"refresh\""));
    }

    #[test]
    fn a_resolution_says_how_long_it_lasted_and_the_month_so_far() {
        let mut over = alert("api", Level::Critical);
        over.state = AlertState::Resolved;
        over.resolved_at = Some("2026-12-02T11:02:00.000Z".into());
        over.duration_seconds = 3_972.4;
        over.availability_month_percent = Some(99.9534);
        over.check_status = Some("healthy".into());
        let view = View::of(&message(Event::Resolved, vec![over]));

        let text = TextBody { v: &view }.render().unwrap();

        for expected in [
            "RESOLVED · api · shop-api",
            "Resolved:      2026-12-02 11:02:00 UTC",
            "Duration:      1 h 6 min\n",
            "Availability:  99.953 % this month so far",
            "Check status:  healthy",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
        }
    }

    #[test]
    fn durations_read_as_a_person_would_write_them() {
        assert_eq!(human_duration(0.2), "0 s");
        assert_eq!(human_duration(42.0), "42 s");
        assert_eq!(human_duration(252.0), "4 min 12 s");
        assert_eq!(human_duration(300.0), "5 min");
        assert_eq!(human_duration(7_500.0), "2 h 5 min");
        assert_eq!(human_duration(273_600.0), "3 d 4 h");
        assert_eq!(number(3000.0, 2), "3000");
        assert_eq!(number(12.5, 2), "12.5");
    }
}
