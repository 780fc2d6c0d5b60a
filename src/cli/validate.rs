//! `healthmon validate`: parse and build the config, print what would run.

use crate::config::duration;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: Option<&Path>) -> ExitCode {
    let config = match super::load_config(config) {
        Ok(c) => c,
        Err(e) => return super::config_failure(&e),
    };
    println!("{} is valid.", config.source.display());
    println!(
        "  service   {} ({})",
        config.service.name, config.service.environment
    );
    println!(
        "  server    http://{}{}",
        config.server.listen,
        if config.server.token.is_some() {
            " (token required for history and details)"
        } else {
            ""
        }
    );
    println!(
        "  storage   {} (raw results kept {})",
        config.storage.path.display(),
        duration::format(config.storage.retention)
    );
    println!("  checks    {}", config.checks.len());
    if config.checks.is_empty() {
        return ExitCode::SUCCESS;
    }
    let width = config
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!();
    println!(
        "{:<width$} {:<8} {:<22} {:<8} {:<8} TARGET",
        "NAME", "KIND", "SCHEDULE", "TIMEOUT", "CRITICAL"
    );
    for c in &config.checks {
        println!(
            "{:<width$} {:<8} {:<22} {:<8} {:<8} {}",
            c.name,
            c.kind,
            c.schedule.describe(),
            duration::format(c.timeout),
            if c.critical { "yes" } else { "no" },
            c.target
        );
    }
    ExitCode::SUCCESS
}
