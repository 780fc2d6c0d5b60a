//! The real services the dependency tests talk to, addressed from the environment with this
//! machine's defaults, and the servers tests start themselves (SMTP, DNS, TLS).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

pub fn postgres_url() -> String {
    env_or(
        "HEALTHMON_TEST_POSTGRES",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}
pub fn mysql_url() -> String {
    env_or("HEALTHMON_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")
}
pub fn redis_url() -> String {
    env_or("HEALTHMON_TEST_REDIS", "redis://127.0.0.1:6379/0")
}
pub fn amqp_url() -> String {
    env_or(
        "HEALTHMON_TEST_AMQP",
        "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
}
pub fn mqtt_url() -> String {
    env_or("HEALTHMON_TEST_MQTT", "mqtt://127.0.0.1:1883")
}
pub fn nats_url() -> String {
    env_or("HEALTHMON_TEST_NATS", "nats://127.0.0.1:4222")
}

/// Serialises tests that stop the shared Redis against those that use it.
pub static REDIS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// A free local port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops the machine's Redis; starting it again, with the machine's own command, when dropped
/// (so a failing test still leaves Redis running).
pub struct StoppedRedis;

impl StoppedRedis {
    pub fn stop() -> StoppedRedis {
        let status = Command::new("redis-cli")
            .args(["-p", "6379", "shutdown", "nosave"])
            .status()
            .expect("redis-cli");
        let guard = StoppedRedis;
        assert!(
            status.success() || !port_open(6379),
            "redis-cli shutdown failed"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while port_open(6379) {
            assert!(Instant::now() < deadline, "Redis did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        guard
    }

    pub fn start(self) {
        drop(self);
    }
}

impl Drop for StoppedRedis {
    fn drop(&mut self) {
        // The start command from ../shared/services.md.
        let _ = std::fs::create_dir_all("/var/lib/redis");
        let _ = std::fs::create_dir_all("/var/log/redis");
        let status = Command::new("redis-server")
            .args([
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/var/lib/redis",
                "--logfile",
                "/var/log/redis/ci.log",
            ])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !port_open(6379) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !port_open(6379) {
            eprintln!("WARNING: Redis did not come back after the test ({status:?}); run scripts/services");
        }
    }
}

/// A process killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_port(child: &mut Child, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !port_open(port) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// aiosmtpd (Debian's python3-aiosmtpd) on a free port, with optional STARTTLS and AUTH.
pub fn smtp_server(tls: Option<&TestCert>, auth: Option<(&str, &str)>) -> Server {
    let port = free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(cert) = tls {
        cmd.arg("--tls").arg(&cert.cert_path).arg(&cert.key_path);
    }
    if let Some((user, password)) = auth {
        cmd.args(["--auth", user, password]);
    }
    let mut child = cmd
        .spawn()
        .expect("start the SMTP server (is python3-aiosmtpd installed? run scripts/services)");
    wait_for_port(&mut child, port, "aiosmtpd");
    Server { child, port }
}

/// aiosmtpd on a free port that keeps every message it accepts in `dir` as `<n>.eml` (raw)
/// with `<n>.json` (the envelope), n from 1; while `dir/refuse` exists it answers DATA with
/// `451 4.3.0 Try again later` and keeps nothing. See `tests/support/smtp_server.py`.
/// [`Mailbox`] reads what it kept.
pub fn smtp_sink(dir: &Path) -> Server {
    smtp_sink_on(dir, free_port())
}

/// [`smtp_sink`] on `port`: to start it again where a stopped one was, numbering on from the
/// messages already in `dir`.
pub fn smtp_sink_on(dir: &Path, port: u16) -> Server {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(port.to_string())
        .arg("--save")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the SMTP server (is python3-aiosmtpd installed? run scripts/services)");
    wait_for_port(&mut child, port, "aiosmtpd");
    Server { child, port }
}

/// dnsmasq answering for `healthmon.test` names on a free port, and nothing else.
pub fn dns_server() -> Server {
    let port = free_port();
    let mut child = Command::new("dnsmasq")
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--user=root",
            "--pid-file",
            "--address=/web.healthmon.test/10.1.2.3",
            "--mx-host=healthmon.test,mail.healthmon.test,10",
            "--txt-record=healthmon.test,v=spf1 -all",
            "--cname=www.healthmon.test,web.healthmon.test",
        ])
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dnsmasq (run scripts/services)");
    // dnsmasq also listens on TCP, which tells us it is ready.
    wait_for_port(&mut child, port, "dnsmasq");
    Server { child, port }
}

/// A private CA and a `localhost` certificate it signed, expiring in `days`.
pub struct TestCert {
    _dir: tempfile::TempDir,
    pub ca_path: PathBuf,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
    /// A client certificate from the same CA, for mutual TLS.
    pub client_cert_path: PathBuf,
    pub client_key_path: PathBuf,
    ca_pem: String,
}

impl TestCert {
    pub fn new(days: i64) -> TestCert {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "healthmon test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
        let cert = params.signed_by(&key, &issuer).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "healthmon probe");
        client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| -> PathBuf {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        TestCert {
            client_cert_path: write("client.pem", &client_cert.pem()),
            client_key_path: write("client.key", &client_key.serialize_pem()),
            ca_pem: ca_cert.pem(),
            ca_path: write("ca.pem", &ca_cert.pem()),
            cert_path: write("cert.pem", &cert_pem),
            key_path: write("key.pem", &key_pem),
            cert_pem,
            key_pem,
            _dir: dir,
        }
    }

    pub fn ca(&self) -> &Path {
        &self.ca_path
    }
}

/// A TLS server with `cert` that answers every request with `HTTP/1.1 200 OK`.
pub async fn tls_server(cert: &TestCert) -> (u16, tokio::task::JoinHandle<()>) {
    serve_tls(cert, false).await
}

/// Like [`tls_server`], but only for clients presenting a certificate from the test CA.
pub async fn mtls_server(cert: &TestCert) -> (u16, tokio::task::JoinHandle<()>) {
    serve_tls(cert, true).await
}

async fn serve_tls(cert: &TestCert, client_auth: bool) -> (u16, tokio::task::JoinHandle<()>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    healthmon::install_tls_provider();
    let certs = vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder();
    let config = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(cert.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder(std::sync::Arc::new(roots))
            .build()
            .unwrap();
        builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap()
    } else {
        builder
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap()
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, task)
}

/// One message an [`smtp_sink`] kept: its envelope, its headers (unfolded, encoded words
/// decoded) and its text part (quoted-printable decoded).
#[derive(Debug, Clone)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// In the order written; names as written.
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Mail {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn subject(&self) -> &str {
        self.header("Subject").unwrap_or("")
    }

    pub fn message_id(&self) -> &str {
        self.header("Message-ID").unwrap_or("")
    }

    pub fn in_reply_to(&self) -> Option<&str> {
        self.header("In-Reply-To")
    }

    /// The ids in `References`.
    pub fn references(&self) -> Vec<&str> {
        self.header("References")
            .map(|r| r.split_whitespace().collect())
            .unwrap_or_default()
    }

    /// The addresses of the `To:` header.
    pub fn to(&self) -> Vec<String> {
        self.header("To")
            .unwrap_or("")
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect()
    }

    /// The value of a `Label:   value` line of the text part, e.g. `row("Duration")`.
    pub fn row(&self, label: &str) -> Option<&str> {
        let prefix = format!("{label}:");
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::trim)
    }

    /// Every value of the `Label:` lines of the text part (one per alert).
    pub fn rows(&self, label: &str) -> Vec<&str> {
        let prefix = format!("{label}:");
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(str::trim)
            .collect()
    }

    /// The `Date:` header.
    pub fn date(&self) -> chrono::DateTime<chrono::Utc> {
        let date = self.header("Date").expect("a Date header");
        chrono::DateTime::parse_from_rfc2822(date)
            .unwrap_or_else(|e| panic!("Date `{date}`: {e}"))
            .with_timezone(&chrono::Utc)
    }
}

/// What an [`smtp_sink`] kept in its directory.
pub struct Mailbox {
    dir: PathBuf,
}

impl Mailbox {
    pub fn new(dir: &Path) -> Mailbox {
        Mailbox {
            dir: dir.to_path_buf(),
        }
    }

    /// Every message kept so far, in the order accepted.
    pub fn mails(&self) -> Vec<Mail> {
        (1..)
            .map(|n| self.dir.join(format!("{n}.eml")))
            .take_while(|eml| eml.exists())
            .map(|eml| {
                let envelope: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(eml.with_extension("json")).unwrap())
                        .unwrap();
                let raw = String::from_utf8(std::fs::read(&eml).unwrap()).unwrap();
                let (headers, text) = parse_mail(&raw);
                Mail {
                    mail_from: envelope["mail_from"].as_str().unwrap_or("").to_string(),
                    rcpt_tos: envelope["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    headers,
                    text,
                }
            })
            .collect()
    }

    pub fn subjects(&self) -> Vec<String> {
        self.mails()
            .iter()
            .map(|m| m.subject().to_string())
            .collect()
    }

    /// Waits until at least `n` messages are kept, and returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} messages within {within:?}, got {}: {:?}",
                mails.len(),
                self.subjects()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Headers (unfolded, RFC 2047 words decoded) and the decoded text/plain part of a message.
fn parse_mail(raw: &str) -> (Vec<(String, String)>, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let headers = parse_headers(head);
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let text = match boundary(&content_type) {
        Some(b) => body
            .split(&format!("--{b}"))
            .filter_map(|part| {
                let part = part.strip_prefix('\n').unwrap_or(part);
                let (head, body) = part.split_once("\n\n")?;
                let headers = parse_headers(head);
                let is_text = headers.iter().any(|(n, v)| {
                    n.eq_ignore_ascii_case("Content-Type") && v.starts_with("text/plain")
                });
                is_text.then(|| decode_part(&headers, body))
            })
            .next()
            .unwrap_or_default(),
        None => decode_part(&headers, body),
    };
    (headers, text)
}

fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    for (_, v) in &mut out {
        *v = decode_words(v);
    }
    out
}

fn boundary(content_type: &str) -> Option<String> {
    let start = content_type.find("boundary=")? + "boundary=".len();
    let rest = &content_type[start..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest.split([';', ' ']).next()?,
    };
    Some(value.to_string())
}

fn decode_part(headers: &[(String, String)], body: &str) -> String {
    let qp = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("Content-Transfer-Encoding")
            && v.eq_ignore_ascii_case("quoted-printable")
    });
    if qp {
        let bytes = quoted_printable::decode(body, quoted_printable::ParseMode::Robust)
            .expect("quoted-printable body");
        String::from_utf8(bytes).expect("UTF-8 text part")
    } else {
        body.to_string()
    }
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); the white space
/// between two adjacent encoded words is dropped, as the RFC says.
fn decode_words(value: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        // =?charset?encoding?text?=
        let inner = &rest[start + 2..];
        let Some((_charset, after_charset)) = inner.split_once('?') else {
            break;
        };
        let Some((encoding, after_encoding)) = after_charset.split_once('?') else {
            break;
        };
        let Some(end) = after_encoding.find("?=") else {
            break;
        };
        let text = &after_encoding[..end];
        let between = &rest[..start];
        if !(after_word && between.trim().is_empty()) {
            out.push_str(between);
        }
        let bytes = if encoding.eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("a base64 encoded word")
        } else {
            quoted_printable::decode(text.replace('_', " "), quoted_printable::ParseMode::Robust)
                .expect("a Q encoded word")
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        rest = &after_encoding[end + 2..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

/// One request a [`WebhookReceiver`] was sent, and what it answered.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Lower-case names.
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: serde_json::Value,
    pub answered: u16,
}

impl Hook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A webhook receiver on 127.0.0.1:0, on the test's runtime: records every POST (headers and
/// JSON body) and answers with the status it is told (200 at first). With `echo` set, a
/// refusal's body quotes the request's headers back, as careless receivers do.
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Hook>>>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    echo: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        use std::sync::atomic::Ordering::SeqCst;
        use warp::Filter;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
        let echo = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, answer, quote) = (seen.clone(), status.clone(), echo.clone());
        let routes = warp::post()
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(
                move |headers: warp::http::HeaderMap, body: warp::hyper::body::Bytes| {
                    let code = answer.load(SeqCst);
                    let headers: std::collections::BTreeMap<String, String> = headers
                        .iter()
                        .map(|(n, v)| {
                            (n.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect();
                    let text = if quote.load(SeqCst) && code != 200 {
                        format!("refused; you sent {headers:?}")
                    } else {
                        "ok".to_string()
                    };
                    log.lock().unwrap().push(Hook {
                        headers,
                        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                        answered: code,
                    });
                    warp::reply::with_status(text, warp::http::StatusCode::from_u16(code).unwrap())
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(warp::serve(routes).incoming(listener).run());
        WebhookReceiver {
            addr,
            seen,
            status,
            echo,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers `status` from now on.
    pub fn answer(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    /// Quotes the request's headers back in a refusal's body.
    pub fn echo_headers(&self) {
        self.echo.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests came, and returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Hook> {
        let deadline = Instant::now() + within;
        loop {
            let hooks = self.hooks();
            if hooks.len() >= n {
                return hooks;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} webhook requests within {within:?}, got {}: {:?}",
                hooks.len(),
                hooks.iter().map(|h| &h.body["event"]).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
