//! healthmon: a continuous health monitor.
//!
//! # Layout
//! - [`config`]: `monitor.toml`, `${VAR}` expansion, validation with key paths.
//! - [`checks`]: the [`checks::Check`] trait and one file per kind, plus the kind registry.
//! - [`scheduler`]: tokio-cron-scheduler jobs arming one runner per check; [`breaker`] is
//!   each runner's circuit breaker.
//! - [`result`]: a probe's result and its fan-out; [`state`]: the latest result per check.
//! - [`store`]: SQLite (migrations, the batching writer, queries); [`incident`] and
//!   [`availability`] are the pure logic behind incidents and availability.
//! - [`api`]: the warp routes; [`metrics`]: Prometheus; [`system`]: machine readings.
//! - [`app`]: builds and stops the daemon; [`cli`]: the commands.
//!
//! # Data flow
//! ```text
//! config ─▶ scheduler ─▶ check (timeout) ─▶ breaker ─▶ result
//!                                                       ├─▶ latest state ─▶ api, pages, /metrics
//!                                                       └─▶ store writer ─▶ health_log, rollups, incidents
//! store ─▶ availability, history
//! ```
//! Endpoints never run a check; they read the latest state (or the store).

pub mod alerts;
pub mod api;
pub mod app;
pub mod availability;
pub mod breaker;
pub mod checks;
pub mod cli;
pub mod config;
pub mod duration;
pub mod fanout;
pub mod incident;
pub mod keys;
pub mod metrics;
pub mod redact;
pub mod result;
pub mod scheduler;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod system;
pub mod telemetry;
pub mod time;

/// Installs ring as rustls' process-wide crypto provider (once; later calls are no-ops).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
