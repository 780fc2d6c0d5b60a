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
    /// A report over the stored history: availability, downtime, incidents, latency, alerts and
    /// SLO budget per check, worst first. Exit 0, or 3 on bad input.
    Report {
        /// Config file (default: $HEALTHMON_CONFIG, else ./monitor.toml); the report reads
        /// its [storage] path and covers its checks.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// The last N hours (the default is 24).
        #[arg(long, value_name = "N")]
        hours: Option<String>,
        /// Start: RFC 3339 (2026-03-01T00:00:00.250Z), or a local date or time in --tz.
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// End (exclusive), as --since; default now.
        #[arg(long, value_name = "T")]
        until: Option<String>,
        /// A calendar month in --tz.
        #[arg(long, value_name = "YYYY-MM")]
        month: Option<String>,
        /// The IANA time zone of days, months and local times (default UTC).
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: cli::report::Format,
        /// Write to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Only this check (repeatable), in the order given.
        #[arg(long = "check", value_name = "NAME")]
        checks: Vec<String>,
    },
    /// GET a running daemon's /health/ready (default http://127.0.0.1:8080); exit 0 when 2xx.
    Probe {
        /// Base URL of the daemon, or a full URL to GET.
        url: Option<String>,
    },
}

fn main() -> ExitCode {
    // Bad arguments are bad input: exit 3 like a bad config (clap's own code is 2).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(cli::EXIT_CONFIG)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
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
            Command::Report {
                config,
                hours,
                since,
                until,
                month,
                tz,
                format,
                output,
                checks,
            } => cli::report::run(cli::report::Args {
                config,
                period: healthmon::report::period::Ask {
                    hours,
                    since,
                    until,
                    month,
                    tz,
                },
                format,
                output,
                checks,
            }),
            Command::Probe { url } => cli::probe::run(url.as_deref()).await,
        }
    })
}
