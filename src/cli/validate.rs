//! `healthmon validate`: parse and build the config, print what would run.

use crate::config::Config;
use crate::duration;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: Option<&Path>) -> ExitCode {
    let config = match super::load_config(config) {
        Ok(c) => c,
        Err(e) => return super::config_failure(&e),
    };
    let mut out = String::new();
    describe(&config, &mut out);
    super::emit(&out);
    ExitCode::SUCCESS
}

fn describe(config: &Config, out: &mut String) {
    let _ = writeln!(out, "{} is valid.", config.source.display());
    let _ = writeln!(
        out,
        "  service   {} ({})",
        config.service.name, config.service.environment
    );
    let _ = writeln!(
        out,
        "  server    http://{}{}",
        config.server.listen,
        if config.server.token.is_some() {
            " (token required for history and details)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  storage   {} (raw results kept {})",
        config.storage.path.display(),
        duration::format(config.storage.retention)
    );
    let _ = writeln!(out, "  checks    {}", config.checks.len());
    for warning in config.warnings() {
        let _ = writeln!(out, "  warning   {warning}");
    }
    if config.checks.is_empty() {
        return;
    }
    let width = config
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<width$} {:<8} {:<22} {:<8} {:<8} TARGET",
        "NAME", "KIND", "SCHEDULE", "TIMEOUT", "CRITICAL"
    );
    for c in &config.checks {
        let _ = writeln!(
            out,
            "{:<width$} {:<8} {:<22} {:<8} {:<8} {}",
            c.name,
            c.kind,
            c.schedule.describe(),
            duration::format(c.timeout),
            if c.critical { "yes" } else { "no" },
            c.target
        );
    }
}
