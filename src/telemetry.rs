//! Logging: `tracing` to stderr, filtered by `HEALTHMON_LOG` (or `RUST_LOG`), default `info`.
//! Every line passes through [`crate::redact::scrub_log_line`] on its way out.

use std::io::{self, IsTerminal, Write};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber once; `default` is the level when no filter is set.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_env("HEALTHMON_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(format!("healthmon={default},warn,lapin=off,amq_protocol=off,async_nats=error,rumqttc=error,warp::server=off")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(ScrubbedStderr)
        .try_init();
}

/// Stderr, minus the config's secrets. The fmt layer writes each event with one
/// `write_all`, so a secret is never split across two writes.
struct ScrubbedStderr;

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedStderr
    }
}

impl Write for ScrubbedStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let clean = std::str::from_utf8(buf)
            .ok()
            .and_then(crate::redact::scrub_log_line);
        match clean {
            Some(line) => io::stderr().write_all(line.as_bytes())?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
