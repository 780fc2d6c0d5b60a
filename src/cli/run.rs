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
