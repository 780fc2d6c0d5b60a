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
#[allow(dead_code)] // for the notifier tests, which are written after the notifiers
pub fn smtp_sink(dir: &Path) -> Server {
    let port = free_port();
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
