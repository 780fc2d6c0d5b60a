//! The commands, one file each. They return an exit code; `main` only parses and exits.

pub mod check;
pub mod probe;
pub mod run;
pub mod validate;

use crate::config::{self, Config, ConfigErrors};
use std::path::Path;
use std::process::ExitCode;

/// Exit code for a bad config or bad input (the Nagios "unknown").
pub const EXIT_CONFIG: u8 = 3;

/// Loads the config named by `-c`, `$HEALTHMON_CONFIG` or `./monitor.toml`.
///
/// # Errors
/// Every problem in the file, with key paths.
pub fn load_config(cli: Option<&Path>) -> Result<Config, ConfigErrors> {
    config::load(&config::locate(cli))
}

/// Prints config errors and returns exit code 3.
pub fn config_failure(errors: &ConfigErrors) -> ExitCode {
    eprintln!("healthmon: {errors}");
    ExitCode::from(EXIT_CONFIG)
}
