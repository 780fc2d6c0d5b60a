//! healthmon: a continuous health monitor.
pub mod checks;
pub mod config;
pub mod redact;
pub mod system;

/// Installs ring as rustls' process-wide crypto provider (once; later calls are no-ops).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
