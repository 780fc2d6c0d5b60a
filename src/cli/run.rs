//! `healthmon run`: the daemon.

use crate::app::Application;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(config: Option<&Path>) -> ExitCode {
    let config = match super::load_config(config) {
        Ok(c) => c,
        Err(e) => return super::config_failure(&e),
    };
    tracing::info!(config = %config.source.display(), checks = config.checks.len(), "Starting healthmon {}.", env!("CARGO_PKG_VERSION"));
    let warnings = config.warnings();
    // A generated config can repeat one mistake a thousand times; `validate` lists them all.
    for warning in warnings.iter().take(3) {
        tracing::warn!("Config: {warning}");
    }
    if warnings.len() > 3 {
        tracing::warn!(
            "Config: {} more warnings like these; `healthmon validate` lists them all.",
            warnings.len() - 3
        );
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("Could not start: {}", super::describe(&e));
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped(crate::shutdown::signal()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("Stopped with an error: {}", super::describe(&e));
            ExitCode::FAILURE
        }
    }
}
