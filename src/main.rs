//! The `healthmon` binary: argument parsing and exit codes only; the work is in `healthmon::cli`.

use clap::{Parser, Subcommand};
use healthmon::cli;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "healthmon",
    version,
    about = "A continuous health monitor: scheduled checks, circuit breakers, a SQLite health log and probe endpoints."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: schedule checks, store results, serve HTTP. Stops cleanly on SIGTERM/SIGINT.
    Run {
        /// Config file (default: $HEALTHMON_CONFIG, else ./monitor.toml).
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Run every check once, now; exit 0 healthy, 1 degraded, 2 unhealthy, 3 config error.
    Check {
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Run only the checks marked critical.
        #[arg(long)]
        critical_only: bool,
    },
    /// Parse and validate the config; print what would run. Exit 0 valid, 3 invalid.
    Validate {
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// GET a running daemon's /health/ready (default http://127.0.0.1:8080); exit 0 when 2xx.
    Probe {
        /// Base URL of the daemon, or a full URL to GET.
        url: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = !matches!(cli.command, Command::Run { .. });
    healthmon::telemetry::init(if quiet { "warn" } else { "info" });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("healthmon: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Run { config } => cli::run::run(config.as_deref()).await,
            Command::Check {
                config,
                json,
                critical_only,
            } => cli::check::run(config.as_deref(), json, critical_only).await,
            Command::Validate { config } => cli::validate::run(config.as_deref()),
            Command::Probe { url } => cli::probe::run(url.as_deref()).await,
        }
    })
}
