//! healthmon: a continuous health monitor.
//!
//! # Layout
//! - [`config`]: `monitor.toml`, `${VAR}` expansion, validation with key paths; it builds the
//!   checks and the alerting [`alerts::config::Setup`].
//! - [`checks`]: the [`checks::Check`] trait and one file per kind, plus the kind registry.
//! - [`scheduler`]: tokio-cron-scheduler jobs arming one runner per check; [`breaker`] is
//!   each runner's circuit breaker.
//! - [`result`]: a probe's result; [`fanout`]: where it goes next; [`incident`]: the
//!   incident tracker (pure); [`state`]: the latest result per check.
//! - [`store`]: SQLite (migrations, the two-lane writer, the summary query, queries);
//!   [`availability`]: the interval arithmetic behind availability (pure).
//! - [`alerts`]: the alert engine, its outbox and the notifiers.
//! - [`api`]: the warp routes; [`metrics`]: Prometheus; [`system`]: machine readings.
//! - [`app`]: builds and stops the daemon; [`cli`]: the commands.
//! - Shared by all: [`duration`], [`keys`] (key paths in errors), [`time`], [`redact`].
//!
//! # Data flow
//! ```text
//! config ─▶ scheduler ─▶ check (timeout) ─▶ breaker ─▶ result ─▶ fanout
//!   fanout ├─▶ metrics, latest state ─▶ api, pages, /metrics
//!          └─▶ incident tracker ─▶ transitions ─┬─▶ store writer (never dropped)
//!                                               └─▶ alert engine ─▶ outbox ─▶ notifiers
//!   (results also go to the writer and the engine through bounded, lossy queues)
//! store ─▶ summary query ─▶ api, alert engine (SLOs)
//! ```
//! Endpoints never run a check; they read the latest state (or the store). Nothing on the
//! way from a probe to the fan-out waits for the store or a notifier.

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
pub mod present;
pub mod redact;
pub mod report;
pub mod result;
pub mod scheduler;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod svg;
pub mod system;
pub mod telemetry;
pub mod time;

/// Installs ring as rustls' process-wide crypto provider (once; later calls are no-ops).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
