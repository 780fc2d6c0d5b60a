//! `healthmon report`: a report over the stored history, read beside a running daemon.

use super::{config_failure, describe, emit, load_config, EXIT_CONFIG};
use crate::report::period::{Ask, Period};
use crate::report::render;
pub use crate::report::render::Format;
use crate::report::{self, Request};
use crate::store::queries::Now;
use crate::store::Store;
use anyhow::Context;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The command's flags, as parsed.
pub struct Args {
    pub config: Option<PathBuf>,
    pub period: Ask,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub checks: Vec<String>,
}

/// From this many check-days on, a terminal gets a progress bar.
const LARGE: f64 = 100.0;

fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("healthmon: {message}");
    ExitCode::from(EXIT_CONFIG)
}

pub fn run(args: Args) -> ExitCode {
    let config = match load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(errors) => return config_failure(&errors),
    };
    let now_ms = crate::time::now_ms();
    let period = match args.period.resolve(now_ms, "--") {
        Ok(p) => p,
        Err(e) => return bad_input(e),
    };
    let subjects = match report::subjects(&config, &args.checks) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let db = &config.storage.path;
    if !db.exists() {
        return bad_input(format!(
            "no health log at {} ([storage] path): has `healthmon run` run with this config?",
            db.display()
        ));
    }
    match produce(&args, &config.service.name, &subjects, &period, db, now_ms) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthmon: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

fn produce(
    args: &Args,
    service: &str,
    subjects: &[report::Subject],
    period: &Period,
    db: &Path,
    now_ms: i64,
) -> anyhow::Result<()> {
    let (store, writer) = Store::open(db).context("cannot open the health log")?;
    // The report only reads; the daemon keeps writing through its own connection.
    drop(writer);
    let conn = store.connection().context("cannot open the health log")?;
    let check_days = subjects.len() as f64 * period.hours() / 24.0;
    let bar = (std::io::stderr().is_terminal() && check_days >= LARGE).then(|| {
        let bar = indicatif::ProgressBar::new(subjects.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} checks {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("Reading the health log");
        bar
    });
    let req = Request {
        service,
        subjects,
        period,
        now: Now {
            ms: now_ms,
            run: None,
        },
        days: args.format == Format::Html,
        details: true,
    };
    let report = report::build(&conn, &req, &mut |done, _| {
        if let Some(bar) = &bar {
            bar.set_position(done as u64);
        }
    })
    .context("cannot read the health log")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let text = render::render(&report, args.format).map_err(anyhow::Error::msg)?;
    match &args.output {
        Some(path) => write_file(path, &text)?,
        None => emit(&text),
    }
    Ok(())
}

/// Writes a regular file beside the target and renames it, so a reader never sees half a
/// report; anything else (`/dev/stdout`, a FIFO, a device) is written in place, since renaming
/// over it would replace the device itself.
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let regular = match std::fs::metadata(path) {
        Ok(m) => m.is_file(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
    };
    let name = path.file_name().filter(|_| regular);
    let Some(name) = name else {
        return std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()));
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
