//! The commands, one file each. They return an exit code; `main` only parses and exits.

pub mod check;
pub mod probe;
pub mod report;
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
    let config = config::load(&config::locate(cli))?;
    crate::redact::hide_in_logs(config.secrets());
    Ok(config)
}

/// Prints config errors and returns exit code 3.
pub fn config_failure(errors: &ConfigErrors) -> ExitCode {
    eprintln!("healthmon: {errors}");
    ExitCode::from(EXIT_CONFIG)
}

/// Writes a command's output to stdout. Unlike `println!`, a reader that went away
/// (`healthmon validate | head -3`) ends the output quietly instead of a panic.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("healthmon: cannot write the output: {e}");
        }
    }
}

/// An error and its causes on one line, each cause once: our errors already print their
/// source in their own message, so `{:#}` would say it twice.
pub fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open x: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(Outer { source: io }).context("could not start");
        assert_eq!(describe(&e), "could not start: cannot open x: no such file");
    }

    #[test]
    fn causes_not_in_the_message_are_kept() {
        let e = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(describe(&e), "outer: middle: inner");
    }
}
