//! Ingest: results per second the store writer commits with everything it keeps (raw rows,
//! hourly and daily rollups, `run_checks`, the run's last-seen, incidents decided by a
//! [`Tracker`] per check as the fan-out does), fed as fast as it takes them, against a plain
//! batched INSERT of the same rows into `health_log` alone, in the same run:
//!
//! ```sh
//! cargo bench --bench ingest                       # 500 checks, 1,000,000 results per trial
//! cargo bench --bench ingest -- --rows 200000 --trials 3
//! ```
//!
//! The results (the synthetic fleet of `common/mod.rs`: 500 `memory` checks every 30 s, in
//! time order, a few outages per check per week) are made before anything is timed. Each
//! trial writes them twice, each time into a fresh database opened with `Store::open` (so the
//! same schema and indexes, WAL, synchronous=NORMAL, foreign keys on, and the connection's
//! defaults otherwise), in batches of `--batch` (5,000, the daemon's `batch_max`):
//!
//! - **writer**: `Writer::starting_at` then `Writer::write_now(batch, ops)` per batch, the
//!   ops being the incident transitions the trackers decided for the batch's results
//!   (trackers fed inside the timed loop);
//! - **plain**: one transaction per batch of the same multi-row statements the writer uses
//!   for `health_log` (32 rows per `INSERT ... VALUES (...), ...`, one-row statements for
//!   the rest), binding the same values computed the same way (status and circuit as text,
//!   `observed` serialised to JSON, `response_us`), and nothing else.
//!
//! The two alternate in order (writer first in odd trials, plain first in even ones) so a
//! drifting machine weighs on both. Reported per trial and as the median: results/s (wall,
//! `Instant`) and CPU per result (this thread, `/proc/thread-self/schedstat`), and the ratio
//! writer / plain. Target: at least 0.7x.

mod common;

use clap::Parser;
use healthmon::result::CheckResult;
use healthmon::store::writer::{Writer, WriterSettings};
use healthmon::store::Store;
use healthmon::time::{now_ms, Millis};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "ingest",
    about = "Store writer throughput against a plain batched INSERT"
)]
struct Args {
    #[arg(long, default_value_t = 500)]
    checks: usize,
    /// Results written per trial and variant.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    #[arg(long, default_value = "30s", value_parser = healthmon::duration::parse)]
    interval: Duration,
    /// Results per transaction.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    #[arg(long, default_value_t = 3)]
    trials: usize,
    #[arg(long, default_value_t = 3.0)]
    outages_per_week: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the databases go (default: a new directory under $TMPDIR, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the databases.
    #[arg(long)]
    keep: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Rows per multi-row statement, as the writer's `CHUNK`.
const CHUNK: usize = 32;
const LOG_COLUMNS: &str = "check_id, ts_ms, status, response_us, message, observed, circuit";

fn log_insert(rows: usize) -> String {
    let group = format!("({})", ["?"; 7].join(", "));
    format!(
        "INSERT INTO health_log ({LOG_COLUMNS}) VALUES {}",
        vec![group; rows].join(", ")
    )
}

/// This thread's CPU time (ns): the first field of `/proc/thread-self/schedstat`.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu_ns: u64,
    rows: u64,
}

impl Run {
    fn per_s(&self) -> f64 {
        self.rows as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    fn cpu_us_per_row(&self) -> f64 {
        self.cpu_ns as f64 / 1e3 / self.rows.max(1) as f64
    }
}

fn timed(f: impl FnOnce() -> anyhow::Result<u64>) -> anyhow::Result<Run> {
    let (t0, c0) = (Instant::now(), thread_cpu_ns());
    let rows = f()?;
    Ok(Run {
        wall: t0.elapsed(),
        cpu_ns: thread_cpu_ns() - c0,
        rows,
    })
}

fn fresh(path: &Path) -> anyhow::Result<(Store, Connection)> {
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", path.display()));
    }
    Ok(Store::open(path)?)
}

fn writer_variant(
    path: &Path,
    checks: usize,
    results: &[Arc<CheckResult>],
    batch: usize,
    start: Millis,
    end: Millis,
) -> anyhow::Result<(Run, u64)> {
    let (_store, conn) = fresh(path)?;
    let names = common::check_names(checks);
    let settings = WriterSettings::new(Duration::from_secs(3650 * 86_400), None);
    let mut writer = Writer::starting_at(conn, &names, settings, start)?;
    let mut trackers = common::trackers(checks);
    let mut ops_total = 0u64;
    let run = timed(|| {
        for chunk in results.chunks(batch) {
            let ops: Vec<_> = chunk
                .iter()
                .filter_map(|r| common::track(&mut trackers, r))
                .collect();
            ops_total += ops.len() as u64;
            writer.write_now(chunk.to_vec(), ops)?;
        }
        Ok(results.len() as u64)
    })?;
    writer.stop_at(end)?;
    Ok((run, ops_total))
}

fn plain_variant(
    path: &Path,
    checks: usize,
    results: &[Arc<CheckResult>],
    batch: usize,
    ids: &mut Vec<i64>,
) -> anyhow::Result<Run> {
    let (_store, mut conn) = fresh(path)?;
    ids.clear();
    for c in common::check_names(checks) {
        conn.execute(
            "INSERT INTO checks (name, kind, first_seen_ms) VALUES (?1, ?2, ?3)",
            rusqlite::params![c.name, c.kind, now_ms()],
        )?;
        ids.push(conn.last_insert_rowid());
    }
    let (full_sql, one_sql) = (log_insert(CHUNK), log_insert(1));
    timed(|| {
        for chunk in results.chunks(batch) {
            let tx = conn.transaction()?;
            {
                // The values as the writer computes them for its rows.
                let rows: Vec<Row> = chunk
                    .iter()
                    .map(|r| {
                        (
                            ids[r.check],
                            r.started_at.timestamp_millis(),
                            r.status.as_str(),
                            r.response_time.as_micros() as i64,
                            r.message.as_deref(),
                            (!r.observed.is_empty())
                                .then(|| serde_json::to_string(&r.observed).ok())
                                .flatten(),
                            r.circuit.as_str(),
                        )
                    })
                    .collect();
                let mut chunks = rows.chunks_exact(CHUNK);
                let mut full = tx.prepare_cached(&full_sql)?;
                for c in &mut chunks {
                    full.execute(rusqlite::params_from_iter(c.iter().flat_map(values)))?;
                }
                let mut one = tx.prepare_cached(&one_sql)?;
                for row in chunks.remainder() {
                    one.execute(rusqlite::params_from_iter(values(row)))?;
                }
            }
            tx.commit()?;
        }
        Ok(results.len() as u64)
    })
}

/// One health-log row's values, as the writer computes them.
type Row<'a> = (
    i64,
    i64,
    &'static str,
    i64,
    Option<&'a str>,
    Option<String>,
    &'static str,
);

fn values<'r>(row: &'r Row<'_>) -> [&'r dyn rusqlite::ToSql; 7] {
    [&row.0, &row.1, &row.2, &row.3, &row.4, &row.5, &row.6]
}

fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap_or(-1)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.checks > 0 && args.rows > 0 && args.trials > 0 && args.batch > 0,
        "--checks, --rows, --trials and --batch must be at least 1"
    );
    let (dir, temp) = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (d.clone(), false)
        }
        None => {
            let d = std::env::temp_dir().join(format!("healthmon-ingest.{}", std::process::id()));
            std::fs::create_dir_all(&d)?;
            (d, true)
        }
    };

    // The results, made once, before anything is timed.
    let interval_ms = args.interval.as_millis() as Millis;
    let rounds = args.rows.div_ceil(args.checks as u64) as Millis;
    let end = now_ms();
    let start = end - rounds * interval_ms;
    let mut fleet = common::Fleet::new(
        args.checks,
        start,
        end,
        args.interval,
        args.outages_per_week,
        args.seed,
    );
    let mut results = Vec::with_capacity(args.rows as usize);
    while let Some(r) = fleet.next_result() {
        if results.len() as u64 == args.rows {
            break;
        }
        results.push(Arc::new(r));
    }
    let span_h = (results
        .last()
        .map_or(start, |r| r.started_at.timestamp_millis())
        - start) as f64
        / 3_600_000.0;
    eprintln!(
        "{} results of {} checks over {span_h:.1} h made; writing them {} times each way into {}",
        results.len(),
        args.checks,
        args.trials,
        dir.display()
    );

    let (wpath, ppath) = (dir.join("writer.db"), dir.join("plain.db"));
    let mut ids = Vec::new();
    let mut trials = Vec::new();
    let mut ops = 0;
    for t in 0..args.trials {
        let mut w = None;
        let mut p = None;
        for step in 0..2 {
            if (step == 0) == (t % 2 == 0) {
                let (run, n) =
                    writer_variant(&wpath, args.checks, &results, args.batch, start, end)?;
                ops = n;
                eprintln!(
                    "  trial {}: writer {:.0} results/s ({:.2} s, CPU {:.2} us/result)",
                    t + 1,
                    run.per_s(),
                    run.wall.as_secs_f64(),
                    run.cpu_us_per_row()
                );
                w = Some(run);
            } else {
                let run = plain_variant(&ppath, args.checks, &results, args.batch, &mut ids)?;
                eprintln!(
                    "  trial {}: plain  {:.0} results/s ({:.2} s, CPU {:.2} us/result)",
                    t + 1,
                    run.per_s(),
                    run.wall.as_secs_f64(),
                    run.cpu_us_per_row()
                );
                p = Some(run);
            }
        }
        if let (Some(w), Some(p)) = (w, p) {
            trials.push((w, p));
        }
    }

    let rows_w = count(&wpath, "SELECT count(*) FROM health_log");
    let rows_p = count(&ppath, "SELECT count(*) FROM health_log");
    let hourly = count(&wpath, "SELECT count(*) FROM rollups_hourly");
    let daily = count(&wpath, "SELECT count(*) FROM rollups_daily");
    let incidents = count(&wpath, "SELECT count(*) FROM incidents");
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len()) as f64 / 1e6;
    let (size_w, size_p) = (size(&wpath), size(&ppath));
    if temp && !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }

    println!(
        "\n=== ingest: {} results of {} memory checks (every {} s, {span_h:.1} h of history) per variant, batches of {}, fresh database per variant and trial (WAL, synchronous=NORMAL, foreign keys on) ===",
        results.len(),
        args.checks,
        args.interval.as_secs_f64(),
        args.batch
    );
    println!(
        "date: {}   host: {} cores",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("trial   writer results/s  CPU us/result    plain results/s  CPU us/result   ratio (results/s)  ratio (CPU)");
    for (i, (w, p)) in trials.iter().enumerate() {
        println!(
            "{:>5} {:>18.0} {:>14.2} {:>18.0} {:>14.2} {:>18.2}x {:>11.2}x",
            i + 1,
            w.per_s(),
            w.cpu_us_per_row(),
            p.per_s(),
            p.cpu_us_per_row(),
            w.per_s() / p.per_s(),
            p.cpu_ns as f64 / w.cpu_ns.max(1) as f64
        );
    }
    let ratio = median(trials.iter().map(|(w, p)| w.per_s() / p.per_s()).collect());
    let w_med = median(trials.iter().map(|(w, _)| w.per_s()).collect());
    let p_med = median(trials.iter().map(|(_, p)| p.per_s()).collect());
    println!(
        "median  writer {w_med:.0} results/s, plain {p_med:.0} results/s (medians of each; the ratio is the median of the per-trial ratios)"
    );
    println!(
        "writer database: {rows_w} health_log rows, {hourly} hourly and {daily} daily rollup rows, {incidents} incidents ({ops} incident ops), {size_w:.0} MB; plain: {rows_p} rows, {size_p:.0} MB"
    );
    println!(
        "\nwriter >= 0.7x plain INSERT (results/s) : {}  ({ratio:.2}x)",
        if ratio >= 0.7 { "PASS" } else { "MISS" }
    );
    anyhow::ensure!(
        rows_w == results.len() as i64 && rows_p == results.len() as i64,
        "row counts differ from the results written: writer {rows_w}, plain {rows_p}, results {}",
        results.len()
    );
    Ok(())
}
