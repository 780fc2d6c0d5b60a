//! The SLO reader's own cost: one `alerts::reader::read` (every SLO's budget and burn-rate
//! spans, each check's month so far) for `--checks` checks with one 99.9 %/30 d SLO each, on
//! each database given, with nothing else running in the process:
//!
//! ```sh
//! cargo bench --bench slo_reader -- --db bench/.data/history-500-checks-1-days.db \
//!     --db bench/.data/history-500-checks-30-days.db
//! ```
//!
//! The daemon reads every 10 s, and keeps the pieces of the settled past five minutes
//! (`store::settled`), so one round in thirty starts cold. Reported per database: the cold
//! round, the median warm round, and a round averaged over the five minutes
//! ((cold + 29 warm) / 30), each as wall time and as this process's CPU time
//! (`getrusage`, all threads: the read runs on tokio's blocking pool); and the ratio of each
//! database's averaged CPU to the first's. The idle daemon's CPU (what `summary.sh` once
//! used) mixes in the writer's commits and checkpoints, which a big file makes dearer.

use clap::Parser;
use healthmon::alerts::reader;
use healthmon::store::Store;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "slo_reader",
    about = "CPU of one SLO reader round, per history"
)]
struct Args {
    /// A history database (from `cargo bench --bench history`); repeat for each.
    #[arg(long, required = true)]
    db: Vec<PathBuf>,
    #[arg(long, default_value_t = 500)]
    checks: usize,
    /// Warm rounds measured after the cold one.
    #[arg(long, default_value_t = 29)]
    rounds: usize,
    #[arg(long, hide = true)]
    bench: bool,
}

/// This process's user + system CPU time, in microseconds.
fn cpu_us() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: initialised by the successful call above.
    let u = unsafe { usage.assume_init() };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(u.ru_utime) + us(u.ru_stime)
}

fn config(db: &std::path::Path, checks: usize) -> String {
    let mut text = format!(
        "[service]\nname = \"bench\"\n[storage]\npath = \"{}\"\n",
        db.display()
    );
    for i in 0..checks {
        let name = format!("c{i:03}");
        text.push_str(&format!(
            "[[check]]\nname = \"{name}\"\nkind = \"memory\"\ninterval = \"1h\"\n[[slo]]\ncheck = \"{name}\"\nobjective = 99.9\nwindow = \"30d\"\n"
        ));
    }
    text
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    let mut first: Option<f64> = None;
    println!(
        "{:<48} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "database", "cold ms", "cold CPU", "warm ms", "warm CPU", "avg CPU", "ratio"
    );
    for db in &args.db {
        let parsed = healthmon::config::parse(&config(db, args.checks), db, &|name| {
            std::env::var(name).ok()
        })
        .map_err(|e| anyhow::anyhow!("config: {e}"))?;
        let (store, _conn) = Store::open(db)?;
        let setup = parsed.alerting.clone();
        let (cold, warm) = runtime.block_on(async {
            let mut rounds = Vec::new();
            for _ in 0..=args.rounds {
                let (t, c) = (Instant::now(), cpu_us());
                reader::read(&store, &setup).await?;
                rounds.push((t.elapsed().as_secs_f64() * 1000.0, (cpu_us() - c) / 1000.0));
            }
            let cold = rounds.remove(0);
            anyhow::Ok((cold, rounds))
        })?;
        let warm_ms = median(warm.iter().map(|r| r.0).collect());
        let warm_cpu = median(warm.iter().map(|r| r.1).collect());
        let avg_cpu = (cold.1 + 29.0 * warm_cpu) / 30.0;
        let ratio = avg_cpu / *first.get_or_insert(avg_cpu);
        println!(
            "{:<48} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>7.2}x",
            db.file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            cold.0,
            cold.1,
            warm_ms,
            warm_cpu,
            avg_cpu,
            ratio
        );
    }
    Ok(())
}
