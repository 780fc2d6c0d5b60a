//! Logging: `tracing` to stderr, filtered by `HEALTHMON_LOG` (or `RUST_LOG`), default `info`.
//! Every line passes through [`crate::redact::scrub_log_line`] on its way out.
//!
//! A few libraries log, at `error`, what is not an error of the daemon: warp a client that
//! hangs up mid-request, lapin and rumqttc a broker the check already reports as down. They
//! stay quiet under any filter that does not name them (`HEALTHMON_LOG=debug` is healthmon
//! and its other libraries at debug; `HEALTHMON_LOG=debug,warp=debug` opens warp up too).

use std::io::{self, IsTerminal, Write};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber once; `default` is the level when no filter is set.
pub fn init(default: &str) {
    let asked = ["HEALTHMON_LOG", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()));
    let fallback = with_quiet_libraries(&format!("healthmon={default},warn"));
    let directives = asked.map_or_else(|| fallback.clone(), |a| with_quiet_libraries(&a));
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("healthmon: ignoring the log filter `{directives}`: {e}");
        EnvFilter::new(&fallback)
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(ScrubbedStderr)
        .try_init();
}

/// Libraries whose `error`s are not the daemon's, and the level they are held to.
const QUIET: [(&str, &str); 5] = [
    ("warp", "warp::server=off"),
    ("lapin", "lapin=off"),
    ("amq_protocol", "amq_protocol=off"),
    ("async_nats", "async_nats=error"),
    ("rumqttc", "rumqttc=error"),
];

/// `directives` plus the quiet level of every library in [`QUIET`] they do not name.
fn with_quiet_libraries(directives: &str) -> String {
    let named = |target: &str| {
        directives.split(',').any(|d| {
            d.trim()
                .split(['=', '['])
                .next()
                .is_some_and(|t| t.trim().starts_with(target))
        })
    };
    QUIET.iter().filter(|(target, _)| !named(target)).fold(
        directives.to_string(),
        |mut all, (_, quiet)| {
            all.push(',');
            all.push_str(quiet);
            all
        },
    )
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

#[cfg(test)]
mod tests {
    use super::with_quiet_libraries;

    #[test]
    fn libraries_stay_quiet_unless_the_filter_names_them() {
        assert_eq!(
            with_quiet_libraries("debug"),
            "debug,warp::server=off,lapin=off,amq_protocol=off,async_nats=error,rumqttc=error"
        );
        assert_eq!(
            with_quiet_libraries("trace,async_nats=trace,warp=debug"),
            "trace,async_nats=trace,warp=debug,lapin=off,amq_protocol=off,rumqttc=error"
        );
    }
}
