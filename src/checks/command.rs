//! `command`: run an argv and read its exit code the Nagios way: 0 healthy, 1 degraded,
//! anything else unhealthy, the first line of output as the message and performance data
//! (`| label=value;warn;crit`) as `observed`. So every Nagios plugin is a healthmon check.

use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome, Status};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// Output kept per stream; the rest is read and dropped so the child never blocks on a pipe.
const OUTPUT_LIMIT: usize = 64 * 1024;
const MESSAGE_LIMIT: usize = 300;

#[derive(Deserialize)]
pub struct CommandConfig {
    /// The program and its arguments, e.g. `["/usr/lib/nagios/plugins/check_load", "-w", "2,2,2", "-c", "4,4,4"]`.
    /// Arguments are shown in the API; pass secrets through `env` instead.
    pub command: Vec<String>,
    /// Extra environment variables; their values are never shown.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
}

impl CheckConfig for CommandConfig {
    const KIND: &'static str = "command";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        if self.command.is_empty() || self.command[0].is_empty() {
            return Err(FieldError::new(
                "command",
                "expected an argv list such as [\"/usr/bin/true\"]",
            ));
        }
        for value in self.env.values() {
            ctx.secret(value);
        }
        Ok(Arc::new(CommandCheck {
            argv: self.command,
            env: self.env,
            cwd: self.cwd,
        }))
    }
}

pub struct CommandCheck {
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
}

impl std::fmt::Debug for CommandCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The environment's values are secrets; its names are not.
        f.debug_struct("CommandCheck")
            .field("argv", &self.argv)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .finish()
    }
}

/// Kills the child's whole process group when a probe is dropped at its timeout, so a
/// plugin's own children (a shell pipeline, say) do not outlive it.
struct GroupGuard {
    pgid: Option<rustix::process::Pid>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

#[async_trait]
impl Check for CommandCheck {
    async fn probe(&self) -> Outcome {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Outcome::unhealthy(format!("cannot run {}: {e}", self.argv[0])),
        };
        let mut guard = GroupGuard {
            pgid: child
                .id()
                .and_then(|id| rustix::process::Pid::from_raw(id as i32)),
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (out, err, status) =
            tokio::join!(read_limited(stdout), read_limited(stderr), child.wait());
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                return Outcome::unhealthy(format!("waiting for {} failed: {e}", self.argv[0]))
            }
        };
        // The leader has exited; stray children in its group still go.
        if let Some(pgid) = guard.pgid.take() {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        interpret(status.code(), status.signal(), &out, &err)
    }

    fn target(&self) -> String {
        self.argv.join(" ")
    }
}

async fn read_limited<R: AsyncRead + Unpin>(reader: Option<R>) -> String {
    let Some(mut reader) = reader else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Turns an exit status and output into an outcome (pure, for tests).
fn interpret(code: Option<i32>, signal: Option<i32>, stdout: &str, stderr: &str) -> Outcome {
    let (text, perf) = split_output(stdout);
    let text = if text.is_empty() {
        first_line(stderr).to_string()
    } else {
        text
    };
    let (status, fallback) = match (code, signal) {
        (Some(0), _) => (Status::Healthy, "exit 0".to_string()),
        (Some(1), _) => (Status::Degraded, "exit 1 (warning)".to_string()),
        (Some(2), _) => (Status::Unhealthy, "exit 2 (critical)".to_string()),
        (Some(3), _) => (Status::Unhealthy, "exit 3 (unknown)".to_string()),
        (Some(c), _) => (Status::Unhealthy, format!("exit {c}")),
        (None, Some(sig)) => (Status::Unhealthy, format!("killed by signal {sig}")),
        (None, None) => (Status::Unhealthy, "ended without an exit code".to_string()),
    };
    let message = if text.is_empty() {
        fallback
    } else {
        truncate(&text, MESSAGE_LIMIT)
    };
    let mut observed = perf;
    if let Some(c) = code {
        observed.insert("exit_code".into(), c.into());
    }
    Outcome {
        status,
        message: Some(message),
        observed,
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Splits Nagios plugin output into its text and performance data.
fn split_output(stdout: &str) -> (String, Observed) {
    let mut lines = stdout.lines();
    let first = lines.find(|l| !l.trim().is_empty()).unwrap_or("");
    let (text, mut perf_text) = match first.split_once('|') {
        Some((t, p)) => (t.trim().to_string(), p.to_string()),
        None => (first.trim().to_string(), String::new()),
    };
    // Long output may carry more performance data after a second `|`.
    for line in lines {
        if let Some((_, p)) = line.split_once('|') {
            perf_text.push(' ');
            perf_text.push_str(p);
        }
    }
    (text, parse_perfdata(&perf_text))
}

/// Parses `'label'=value[UOM];warn;crit;min;max ...` into label → value.
fn parse_perfdata(text: &str) -> Observed {
    let mut out = Observed::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (label, after) = if let Some(quoted) = rest.strip_prefix('\'') {
            match quoted.find("'=") {
                Some(end) => (&quoted[..end], &quoted[end + 2..]),
                None => break,
            }
        } else {
            match rest.find('=') {
                Some(eq) => (&rest[..eq], &rest[eq + 1..]),
                None => break,
            }
        };
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let value_text = after[..end].split(';').next().unwrap_or("");
        let number: String = value_text
            .chars()
            .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
            .collect();
        if let Ok(v) = number.parse::<f64>() {
            if let Some(n) = serde_json::Number::from_f64(v) {
                out.insert(label.trim().to_string(), serde_json::Value::Number(n));
            }
        }
        rest = after[end..].trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(argv: &[&str]) -> Arc<dyn Check> {
        let shared = crate::checks::Shared::default();
        let ctx = BuildContext::new(
            "c",
            std::time::Duration::from_secs(2),
            std::time::Duration::from_secs(30),
            &shared,
        );
        CommandConfig {
            command: argv.iter().map(|s| s.to_string()).collect(),
            env: BTreeMap::new(),
            cwd: None,
        }
        .build(&ctx)
        .unwrap()
    }

    #[tokio::test]
    async fn exit_codes_follow_the_nagios_convention() {
        let ok = check(&["sh", "-c", "echo 'OK - all good | load=0.5;1;2'"])
            .probe()
            .await;
        assert_eq!(ok.status, Status::Healthy);
        assert_eq!(ok.message.as_deref(), Some("OK - all good"));
        assert_eq!(ok.observed["load"], 0.5);
        let warn = check(&["sh", "-c", "echo WARNING - slow; exit 1"])
            .probe()
            .await;
        assert_eq!(
            (warn.status, warn.message.as_deref()),
            (Status::Degraded, Some("WARNING - slow"))
        );
        let crit = check(&["sh", "-c", "echo oops >&2; exit 2"]).probe().await;
        assert_eq!(
            (crit.status, crit.message.as_deref()),
            (Status::Unhealthy, Some("oops"))
        );
        let unknown = check(&["sh", "-c", "exit 3"]).probe().await;
        assert_eq!(
            (unknown.status, unknown.message.as_deref()),
            (Status::Unhealthy, Some("exit 3 (unknown)"))
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_unhealthy() {
        let out = check(&["/no/such/plugin"]).probe().await;
        assert_eq!(out.status, Status::Unhealthy);
        assert!(out.message.unwrap().contains("cannot run /no/such/plugin"));
    }

    #[tokio::test]
    async fn a_dropped_probe_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survivor");
        let script = format!("(sleep 1; touch {}) & sleep 5", marker.display());
        let probe = check(&["sh", "-c", &script]);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(300), probe.probe()).await;
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert!(!marker.exists(), "a grandchild outlived the timeout");
    }

    #[test]
    fn performance_data_parses_quoted_labels_and_units() {
        let perf = parse_perfdata("'disk /'=83%;80;90;0;100 time=0.012s;;; count=12");
        assert_eq!(perf["disk /"], 83.0);
        assert_eq!(perf["time"], 0.012);
        assert_eq!(perf["count"], 12.0);
    }
}
