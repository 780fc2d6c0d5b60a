//! Starts the real `healthmon` binary on a random port with a temporary database, and talks
//! HTTP to it. Set `TEST_LOG=1` to see the daemon's log.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_healthmon");

/// A config file in a fresh temporary directory, with the database beside it.
pub struct TestConfig {
    /// Held so the directory lives as long as the config.
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub db: PathBuf,
}

impl TestConfig {
    /// `body` is appended after a `[server]` on port 0 and a `[storage]` in the temp dir.
    pub fn new(body: &str) -> TestConfig {
        Self::with_server(body, "")
    }

    pub fn with_server(body: &str, server_extra: &str) -> TestConfig {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("healthmon.db");
        let path = dir.path().join("monitor.toml");
        let text = format!(
            "[service]\nname = \"test\"\nenvironment = \"test\"\n[server]\nlisten = \"127.0.0.1:0\"\n{server_extra}\n[storage]\npath = \"{}\"\n{body}",
            db.display()
        );
        std::fs::write(&path, text).expect("write config");
        TestConfig {
            _dir: dir,
            path,
            db,
        }
    }

    /// Adds `text` at the end of the config file (e.g. a check that names the database).
    pub fn append(&mut self, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .expect("open config");
        f.write_all(text.as_bytes()).expect("append to config");
    }
}

/// Kills the daemon when dropped, from the moment it is spawned, so no panic in a test (or in
/// `spawn_app` itself) can leave one running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub config: TestConfig,
    child: KillOnDrop,
    log: Arc<Mutex<Vec<String>>>,
    previous_log: String,
    pub client: reqwest::Client,
}

/// Starts `healthmon run` on `config` and waits until it listens.
pub async fn spawn_app(config: TestConfig) -> TestApp {
    spawn_app_logging(config, "healthmon=debug").await
}

/// [`spawn_app`] with `HEALTHMON_LOG` set to `filter`.
pub async fn spawn_app_logging(config: TestConfig, filter: &str) -> TestApp {
    healthmon::install_tls_provider();
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["run", "-c"])
            .arg(&config.path)
            .env("HEALTHMON_LOG", filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start healthmon"),
    );
    let stderr = child.0.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        let echo = std::env::var_os("TEST_LOG").is_some();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if echo {
                eprintln!("[healthmon] {line}");
            }
            if line.contains("Listening.") {
                if let Some(addr) = field(&line, "addr") {
                    let _ = addr_tx.send(addr);
                }
            }
            sink.lock().unwrap().push(line);
        }
    });
    let addr = match addr_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(a) => a.parse().expect("address"),
        Err(_) => panic!(
            "healthmon did not start listening; log:\n{}",
            log.lock().unwrap().join("\n")
        ),
    };
    TestApp {
        addr,
        config,
        child,
        log,
        previous_log: String::new(),
        client: reqwest::Client::new(),
    }
}

/// The value of `key=value` in a log line.
pub fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    let end = rest.find(' ').unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"').to_string())
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Status code and JSON body of a GET.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).await;
        let code = r.status().as_u16();
        let body = r.json::<Value>().await.expect("JSON body");
        (code, body)
    }

    pub async fn health(&self) -> (u16, Value) {
        self.get_json("/health").await
    }

    /// Polls `/health` until every check has a result.
    pub async fn wait_for_first_results(&self) {
        let app = self;
        wait_until(
            Duration::from_secs(15),
            "every check to have a result",
            || async move {
                let (_, body) = app.health().await;
                body["checks"]
                    .as_object()
                    .is_some_and(|c| c.values().all(|c| c["status"] != "unknown"))
            },
        )
        .await;
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.child.0.id() as i32).expect("pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.0.try_wait().expect("wait") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "healthmon did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits (without blocking the test's runtime, whose servers the
    /// stopping daemon may still be talking to) until the process exits.
    pub async fn stop(&mut self) -> ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.child.0.id() as i32).expect("pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.0.try_wait().expect("wait") {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "healthmon did not stop within 30 s of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the daemon cleanly (SIGTERM, exit 0) and starts it again on the same config and
    /// database; the new one listens on another port. The old one's log stays readable
    /// through [`TestApp::previous_log`] of the new one.
    pub async fn restart(mut self) -> TestApp {
        let status = self.stop().await;
        assert!(
            status.success(),
            "healthmon did not stop cleanly ({status}); log:\n{}",
            self.log()
        );
        let previous = self.log();
        let mut app = spawn_app(self.config).await;
        app.previous_log = previous;
        app
    }

    /// The log of the run before the last [`TestApp::restart`].
    pub fn previous_log(&self) -> &str {
        &self.previous_log
    }

    /// Status code and JSON body of a GET with `Authorization: Bearer <token>`.
    pub async fn get_json_as(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let code = r.status().as_u16();
        let body = r.json::<Value>().await.expect("JSON body");
        (code, body)
    }

    /// A POST without a body, with a bearer token when given.
    pub async fn post(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.post(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text")
    }

    /// The start of the last probe of `check` and, while its breaker is open, when the
    /// breaker lets the next one through (from `/health/detailed`).
    async fn probe_times(
        &self,
        check: &str,
    ) -> (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let (_, detailed) = self.get_json("/health/detailed").await;
        let c = &detailed["checks"][check];
        let parse = |v: &Value| {
            v.as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
        };
        (parse(&c["last_checked"]), parse(&c["breaker"]["retry_at"]))
    }

    /// Waits until `lead` before the next probe of `check`, and returns when that probe is
    /// due, so that a test can change what the probe will find just before it and know when
    /// the daemon saw the change.
    ///
    /// Runs come on a grid of `interval` (the first after start is off it, so a probe is
    /// trusted as on the grid once the one before it was a whole number of intervals
    /// earlier). While the breaker is open, the trial is the first run at or after its
    /// `retry_at`; when that is within a few milliseconds of a run, which one it will be is
    /// left unsaid, and the helper waits for the next probe to predict from.
    pub async fn before_next_probe(
        &self,
        check: &str,
        interval: Duration,
        lead: Duration,
    ) -> chrono::DateTime<chrono::Utc> {
        let step = chrono::Duration::from_std(interval).unwrap();
        let lead = chrono::Duration::from_std(lead).unwrap();
        let close = chrono::Duration::milliseconds(40);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = None;
        loop {
            assert!(
                Instant::now() < deadline,
                "could not predict the next probe of {check}"
            );
            let (last, retry_at) = self.probe_times(check).await;
            let Some(last) = last else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let on_grid = seen.is_some_and(|before: chrono::DateTime<chrono::Utc>| {
                let gap = (last - before).num_milliseconds();
                let steps = (gap as f64 / step.num_milliseconds() as f64).round() as i64;
                steps >= 1 && (last - before - step * steps as i32).abs() < close
            });
            if seen != Some(last) {
                seen = Some(last);
            }
            if on_grid {
                let mut next = last + step;
                let mut certain = true;
                if let Some(retry_at) = retry_at {
                    while next + chrono::Duration::milliseconds(15) < retry_at {
                        next += step;
                    }
                    certain = (next - retry_at).abs() >= chrono::Duration::milliseconds(15);
                }
                if certain {
                    if let Ok(until) = (next - lead - chrono::Utc::now()).to_std() {
                        if until > Duration::from_millis(50) {
                            tokio::time::sleep(until).await;
                            return next;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Rows in the health log (of one check, or all).
    pub fn stored_results(&self, check: Option<&str>) -> i64 {
        count_results(&self.config.db, check)
    }
}

pub fn count_results(db: &Path, check: Option<&str>) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open db");
    match check {
        Some(name) => conn
            .query_row(
                "SELECT count(*) FROM health_log h JOIN checks c ON c.id = h.check_id WHERE c.name = ?1",
                [name],
                |r| r.get(0),
            )
            .expect("count"),
        None => conn.query_row("SELECT count(*) FROM health_log", [], |r| r.get(0)).expect("count"),
    }
}

/// The value of one series in Prometheus text, e.g.
/// `metric(&text, "healthmon_notifications_failed_total{notifier=\"oncall\"")`: the first line
/// starting with `series` (labels may be cut short, as here) followed by a space or a comma.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        let value = if series.ends_with('}') || !series.contains('{') {
            rest.strip_prefix(' ')?
        } else {
            rest.split_once("} ")?.1
        };
        value.trim().parse().ok()
    })
}

/// Polls `condition` every 100 ms until it holds, or panics after `timeout` naming `what`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if condition().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A local HTTP server answering `200 ok` on every path, which tests stop and restart on the
/// same port.
pub struct TargetServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TargetServer {
    pub async fn start() -> TargetServer {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    async fn start_on(addr: SocketAddr) -> TargetServer {
        use warp::Filter;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind target server");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let routes = warp::any().map(|| "ok");
        let task = tokio::spawn(
            warp::serve(routes)
                .incoming(listener)
                .graceful(async move {
                    let _ = stopped.await;
                })
                .run(),
        );
        TargetServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/health", self.addr)
    }

    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            // Graceful shutdown closes idle keep-alive connections; give it a moment, then cut.
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        *self = Self::start_on(self.addr).await;
    }
}

/// A TCP server that accepts connections and never says anything.
pub async fn silent_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

/// Runs `healthmon` with `args`; returns exit code, stdout and stderr.
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run healthmon");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `healthmon check --json` on `config`; returns the exit code and the JSON report.
pub fn check_once(config: &str) -> (i32, Value) {
    let config = TestConfig::new(config);
    let (code, stdout, stderr) = run_cli(&["check", "--json", "-c", config.path.to_str().unwrap()]);
    let body = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("check --json printed no JSON ({e}):\n{stdout}\n{stderr}"));
    (code, body)
}

/// `check_once` for async tests whose servers run on the test's own runtime (a blocking call
/// would starve them).
pub async fn check_now(config: &str) -> (i32, Value) {
    let config = TestConfig::new(config);
    let out = tokio::process::Command::new(BIN)
        .args(["check", "--json", "-c"])
        .arg(&config.path)
        .output()
        .await
        .expect("run healthmon check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let body = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "check --json printed no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), body)
}

/// Writes one check's results into `db` through the store's own write path, as a daemon run
/// from `start` to `end` (stopped then): a result every `step_ms`, unhealthy while `down(t)`,
/// each outage an incident (failure and success thresholds 1) with the error `error`;
/// `ops` (maintenance windows, say) go in the same commit.
pub struct History<'a> {
    pub check: &'a str,
    pub kind: &'a str,
    pub start: i64,
    pub end: i64,
    pub step_ms: i64,
    pub error: &'a str,
}

impl History<'_> {
    pub fn write(
        &self,
        db: &Path,
        down: impl Fn(i64) -> bool,
        mut ops: Vec<healthmon::store::writer::Op>,
    ) {
        use healthmon::incident::{Change, Tracker};
        use healthmon::store::writer::{CheckName, Op, Writer, WriterSettings};
        let (_store, conn) = healthmon::store::Store::open(db).unwrap();
        let mut writer = Writer::starting_at(
            conn,
            &[CheckName {
                name: self.check.into(),
                kind: self.kind.into(),
            }],
            WriterSettings::new(Duration::from_secs(90 * 86_400), None),
            self.start,
        )
        .unwrap();
        let mut tracker = Tracker::new(1, 1, false);
        let mut results = Vec::new();
        let mut t = self.start;
        while t < self.end {
            let down = down(t);
            match tracker.observe(t, down, down.then_some(self.error)) {
                Some(Change::Opened {
                    started_ms,
                    confirmed_ms,
                    first_error,
                }) => ops.push(Op::IncidentOpened {
                    check: 0,
                    started_ms,
                    confirmed_ms,
                    first_error,
                }),
                Some(Change::Resolved { ended_ms }) => {
                    ops.push(Op::IncidentResolved { check: 0, ended_ms })
                }
                None => {}
            }
            results.push(Arc::new(healthmon::result::CheckResult {
                check: 0,
                started_at: chrono::DateTime::from_timestamp_millis(t).unwrap(),
                response_time: Duration::from_millis(3),
                status: if down {
                    healthmon::checks::Status::Unhealthy
                } else {
                    healthmon::checks::Status::Healthy
                },
                message: down.then(|| self.error.to_string()),
                observed: healthmon::checks::Observed::new(),
                circuit: healthmon::breaker::CircuitState::Closed,
                consecutive_failures: 0,
                retry_at: None,
            }));
            t += self.step_ms;
        }
        writer.write_now(results, ops).unwrap();
        writer.stop_at(self.end).unwrap();
    }
}
