//! Logging: `tracing` to stderr, filtered by `HEALTHMON_LOG` (or `RUST_LOG`), default `info`.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber once; `default` is the level when no filter is set.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_env("HEALTHMON_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(format!("healthmon={default},warn,lapin=off,amq_protocol=off,async_nats=error,rumqttc=error,warp::server=off")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
