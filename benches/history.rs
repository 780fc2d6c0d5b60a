//! History generator: writes `--days` of results for `--checks` checks into a fresh database
//! through the store's own write path ([`Writer::starting_at`], [`Writer::write_now`],
//! [`Writer::stop_at`]), so the rows, the hourly and daily rollups, `run_checks` and the
//! incidents are exactly what the daemon would have written. A tool, not a measurement:
//!
//! ```sh
//! cargo bench --bench history -- --db /tmp/h30.db --checks 500 --days 30 --interval 30s
//! ```
//!
//! One run that began `days` ago and ends now. Checks `c000`, `c001`, ... (kind `memory`)
//! each probe once per interval at their own phase, in time order, with their own latencies,
//! memory readings and outages (the model is in `common/mod.rs`: about `--outages-per-week`
//! confirmed outages per check, mostly minutes long, a few hours; blips shorter than the
//! failure threshold; degraded spells). A [`Tracker`] per check (failure threshold 3, success
//! threshold 1: the daemon's defaults) decides the incidents, and they are written as the
//! fan-out hands them to the writer (`Op::IncidentOpened` / `Op::IncidentResolved`).
//!
//! Results go to the writer in batches of `--batch` (default 5,000, the daemon's
//! `batch_max`), generated on a second thread while the first writes. The output is the same
//! for the same `--seed` and options (times are relative to now).

mod common;

use clap::Parser;
use healthmon::incident::Tracker;
use healthmon::result::CheckResult;
use healthmon::store::writer::{Op, Writer, WriterSettings};
use healthmon::store::Store;
use healthmon::time::{now_ms, Millis};
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "history",
    about = "Writes a database of synthetic history through healthmon's own store writer"
)]
struct Args {
    /// The database to create (must not exist).
    #[arg(long)]
    db: PathBuf,
    #[arg(long, default_value_t = 500)]
    checks: usize,
    /// Days of history before now (fractions allowed).
    #[arg(long, default_value_t = 30.0)]
    days: f64,
    /// How often each check probes.
    #[arg(long, default_value = "30s", value_parser = healthmon::duration::parse)]
    interval: Duration,
    /// Results per `write_now` (the daemon's `batch_max` is 5,000).
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Confirmed outages per check per week, on average.
    #[arg(long, default_value_t = 3.0)]
    outages_per_week: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.checks > 0, "--checks must be at least 1");
    anyhow::ensure!(args.days > 0.0, "--days must be positive");
    anyhow::ensure!(!args.interval.is_zero(), "--interval must not be 0");
    anyhow::ensure!(
        !args.db.exists(),
        "{} exists: the generator writes a fresh database (remove it first)",
        args.db.display()
    );
    let end: Millis = now_ms();
    let start: Millis = end - (args.days * 86_400_000.0) as Millis;
    let interval_ms = args.interval.as_millis() as Millis;
    let names = common::check_names(args.checks);
    let (store, conn) = Store::open(&args.db)?;
    // This connection only: a 256 MB page cache (the 500 checks' newest index pages and
    // rollup rows stay in memory) and a checkpoint every 10,000 pages rather than 1,000. The
    // file written is the same; at 1 day x 500 checks it is written 1.5x faster.
    conn.execute_batch("PRAGMA cache_size = -262144; PRAGMA wal_autocheckpoint = 10000;")?;
    let settings = WriterSettings::new(Duration::from_secs(3650 * 86_400), None);
    let mut writer = Writer::starting_at(conn, &names, settings, start)?;

    let mut fleet = common::Fleet::new(
        args.checks,
        start,
        end,
        args.interval,
        args.outages_per_week,
        args.seed,
    );
    let expected = fleet.total();
    eprintln!(
        "writing {} checks x {} days every {} ms into {}: {expected} rows, batches of {}",
        args.checks,
        args.days,
        interval_ms,
        args.db.display(),
        args.batch
    );

    // The results are made on a second thread, a couple of batches ahead of the writer.
    let (tx, rx) = sync_channel::<(Vec<Arc<CheckResult>>, Vec<Op>)>(2);
    let (checks, batch_max) = (args.checks, args.batch.max(1));
    let producer = std::thread::spawn(move || {
        let mut trackers: Vec<Tracker> = common::trackers(checks);
        let (mut opened, mut resolved) = (0u64, 0u64);
        let mut results = Vec::with_capacity(batch_max);
        let mut ops = Vec::new();
        while let Some(r) = fleet.next_result() {
            match common::track(&mut trackers, &r) {
                Some(op @ Op::IncidentOpened { .. }) => {
                    opened += 1;
                    ops.push(op);
                }
                Some(op) => {
                    resolved += 1;
                    ops.push(op);
                }
                None => {}
            }
            results.push(Arc::new(r));
            if results.len() >= batch_max {
                let full = std::mem::replace(&mut results, Vec::with_capacity(batch_max));
                if tx.send((full, std::mem::take(&mut ops))).is_err() {
                    return (opened, resolved);
                }
            }
        }
        if !results.is_empty() || !ops.is_empty() {
            let _ = tx.send((results, ops));
        }
        (opened, resolved)
    });

    let began = Instant::now();
    let mut written = 0u64;
    let mut next_report = Instant::now() + Duration::from_secs(10);
    let mut write_time = Duration::ZERO;
    for (results, ops) in rx {
        let n = results.len() as u64;
        let t = Instant::now();
        writer.write_now(results, ops)?;
        write_time += t.elapsed();
        written += n;
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(10);
            let s = began.elapsed().as_secs_f64();
            eprintln!(
                "  {written} rows ({:.0} %) in {s:.0} s, {:.0} rows/s",
                100.0 * written as f64 / expected as f64,
                written as f64 / s
            );
        }
    }
    let (opened, resolved) = producer
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    let report = writer.stop_at(end)?;
    // The last connection to close checkpoints the WAL into the file.
    drop(store);
    let secs = began.elapsed().as_secs_f64();
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", args.db.display())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "history: {} checks, {} days every {} s, seed {}: {} rows written ({} stored by the writer) in {secs:.1} s = {:.0} rows/s (write_now {:.1} s of it); incidents opened {opened}, resolved {resolved} (still open {}); database {:.2} GB",
        args.checks,
        args.days,
        args.interval.as_secs_f64(),
        args.seed,
        written,
        report.stored,
        written as f64 / secs,
        write_time.as_secs_f64(),
        opened - resolved,
        size as f64 / 1e9
    );
    Ok(())
}
