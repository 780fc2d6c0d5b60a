//! The alert engine's CPU per evaluation round, with nothing but the engine running:
//!
//! ```sh
//! cargo bench --bench engine                      # 500 checks, 500 rules, 500 SLOs
//! cargo bench --bench engine -- --checks 200 --rounds 100
//! ```
//!
//! An [`Engine`] as the engine tests build it (a [`MemoryJournal`], an outbox whose one
//! notifier does nothing) for `--checks` `memory` checks and one `[[alert]]` rule per check,
//! each with `for`: a third on `response_time_ms`, a third on the observed `percent_used`, a
//! third on `error_rate` over 5 minutes. A round is one result per check (`on_result`, as the
//! engine task receives them) and one `tick()`; rounds are 30 s apart on tokio's paused clock,
//! so the holds and the error-rate windows see the time they would in the daemon. The values
//! stay clear of the thresholds except for rare single-probe spikes and failures, which start
//! a hold that clears the next round: the steady state of a healthy fleet, where no rule
//! fires (flap detection may open an alert for a check whose excursions come close together;
//! the counts are printed).
//!
//! Two setups in the same run: the rules alone, and the rules plus one `[[slo]]` per check;
//! for the second, also the round of `on_readings` (one reading of every SLO, what the reader
//! task delivers every 10 s). Each figure: wall time per round (`Instant`) and CPU time per
//! round (this thread's, from `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, ns; the process's
//! utime+stime from `/proc/self/stat` beside it, in clock ticks), per round and per result.
//! No target: the figures are reported.

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use clap::Parser;
use healthmon::alerts::clock::Clock;
use healthmon::alerts::config::{NotifierDef, Setup};
use healthmon::alerts::engine::{Engine, MonthReading, Readings, Resume, SloReading};
use healthmon::alerts::journal::{Journal, MemoryJournal};
use healthmon::alerts::message::Outgoing;
use healthmon::alerts::notify::{Notifier, SendError};
use healthmon::alerts::outbox::Outbox;
use healthmon::breaker::CircuitState;
use healthmon::checks::{Observed, Status};
use healthmon::result::CheckResult;
use healthmon::time::Millis;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "engine",
    about = "CPU of the alert engine per evaluation round"
)]
struct Args {
    #[arg(long, default_value_t = 500)]
    checks: usize,
    /// Measured rounds per setup.
    #[arg(long, default_value_t = 400)]
    rounds: u64,
    /// Rounds before measuring (fills the error-rate windows, warms the caches).
    #[arg(long, default_value_t = 40)]
    warmup: u64,
    /// `on_readings` rounds measured (setup with SLOs).
    #[arg(long, default_value_t = 400)]
    reading_rounds: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// 2026-12-01 10:00:00 UTC, as in the engine tests.
const T0: Millis = 1_796_119_200_000;
const ROUND_MS: Millis = 30_000;

/// A notifier that accepts everything and counts it (nothing is expected to reach it).
#[derive(Debug, Default)]
struct NoOp(AtomicU64);

#[async_trait]
impl Notifier for NoOp {
    async fn send(&self, _out: Outgoing<'_>) -> Result<(), SendError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn target(&self) -> String {
        "nowhere".into()
    }
}

/// SplitMix64, for values that are the same from run to run.
struct Rng(u64);

impl Rng {
    fn f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn config(checks: usize, slos: bool) -> String {
    let mut t = String::from(
        "[alerting]\ngroup_wait = \"30s\"\n\n[[notifier]]\nname = \"noop\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\n",
    );
    for i in 0..checks {
        let _ = write!(
            t,
            "[[check]]\nname = \"c{i:03}\"\nkind = \"memory\"\ninterval = \"30s\"\n\n"
        );
    }
    for i in 0..checks {
        let rule = match i % 3 {
            0 => "metric = \"response_time_ms\"\nwarn = 500\ncrit = 1000\nfor = \"2m\"",
            1 => "metric = \"percent_used\"\nwarn = 85\ncrit = 95\nfor = \"5m\"",
            _ => "metric = \"error_rate\"\nwindow = \"5m\"\nwarn = 25\ncrit = 50\nfor = \"2m\"",
        };
        let _ = write!(
            t,
            "[[alert]]\nname = \"r{i:03}\"\ncheck = \"c{i:03}\"\n{rule}\n\n"
        );
    }
    if slos {
        for i in 0..checks {
            let _ = write!(
                t,
                "[[slo]]\nname = \"s{i:03}\"\ncheck = \"c{i:03}\"\nobjective = 99.9\nwindow = \"30d\"\n\n"
            );
        }
    }
    t
}

fn setup(checks: usize, slos: bool, noop: &Arc<NoOp>) -> anyhow::Result<Arc<Setup>> {
    let text = config(checks, slos);
    let config =
        healthmon::config::parse(&text, std::path::Path::new("engine-bench.toml"), &|_| None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut setup = config.alerting;
    let s = Arc::make_mut(&mut setup);
    s.notifiers = s
        .notifiers
        .iter()
        .map(|n| NotifierDef {
            notifier: noop.clone(),
            ..n.clone()
        })
        .collect();
    Ok(setup)
}

/// This thread's CPU time (ns), from `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`: exact at any
/// moment. (`/proc/thread-self/schedstat` is only brought up to date at a scheduler tick or
/// switch, so over a 0.1 ms round it read up to a tick off, and reading it cost more than
/// the rounds it timed: CPU came out above wall time.)
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The process's utime+stime (fields 14 and 15 of `/proc/self/stat`), in clock ticks.
fn process_ticks() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    let Some(rest) = s.rsplit_once(") ").map(|(_, r)| r) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// One measured span: wall and CPU.
struct Span {
    wall: Duration,
    cpu_ns: u64,
    ticks: u64,
}

fn measure(f: impl FnOnce()) -> Span {
    let (t0, c0, k0) = (Instant::now(), thread_cpu_ns(), process_ticks());
    f();
    Span {
        wall: t0.elapsed(),
        cpu_ns: thread_cpu_ns() - c0,
        ticks: process_ticks() - k0,
    }
}

struct Feeder {
    rng: Rng,
    checks: usize,
    round: i64,
}

impl Feeder {
    fn result(&mut self, check: usize) -> CheckResult {
        let at = T0 + self.round * ROUND_MS + ROUND_MS * check as i64 / self.checks as i64;
        let r = &mut self.rng;
        // Rare single-probe excursions: a hold starts and clears the next round.
        let mut ms = 20.0 + 60.0 * r.f64();
        if r.f64() < 0.005 {
            ms = 700.0;
        }
        let mut used = 55.0 + 10.0 * r.f64();
        if r.f64() < 0.005 {
            used = 88.0;
        }
        let status = if r.f64() < 0.002 {
            Status::Unhealthy
        } else {
            Status::Healthy
        };
        let mut observed = Observed::new();
        observed.insert(
            "percent_used".into(),
            ((used * 10.0_f64).round() / 10.0).into(),
        );
        CheckResult {
            check,
            started_at: Utc.timestamp_millis_opt(at).single().unwrap_or_default(),
            response_time: Duration::from_micros((ms * 1000.0) as u64),
            status,
            message: Some(format!("{used:.1}% used")),
            observed,
            circuit: CircuitState::Closed,
            consecutive_failures: 0,
            retry_at: None,
        }
    }

    /// One round's results, built before the measurement so that only the engine is timed.
    fn round(&mut self) -> Vec<CheckResult> {
        let out = (0..self.checks).map(|c| self.result(c)).collect();
        self.round += 1;
        out
    }
}

/// Plausible readings: every check watched for the whole of every span, a little downtime.
fn readings(setup: &Setup, at_ms: Millis, rng: &mut Rng) -> Readings {
    let spans = healthmon::alerts::slo::SPANS.map(|d| d.as_secs_f64());
    Readings {
        at_ms,
        slos: setup
            .slos
            .iter()
            .map(|_| {
                // Up to a fifth of the budget's rate (99.9 %: 0.1 % of each span) down: no
                // burn-rate alert trips, as in a healthy fleet. (A minute down in every span,
                // as before, is a burn of 200x over 5 minutes: SLO alerts fired and were sent.)
                let share = 0.0002 * rng.f64();
                Some(SloReading {
                    spans: spans.map(|s| (s, s * share)),
                    window_downtime_seconds: 120.0 * rng.f64(),
                })
            })
            .collect(),
        availability: setup.rules.iter().map(|_| None).collect(),
        month: setup
            .checks
            .iter()
            .map(|_| {
                Some(MonthReading {
                    at_ms,
                    observed_seconds: 86_400.0,
                    downtime_seconds: 0.0,
                })
            })
            .collect(),
    }
}

struct Figures {
    label: String,
    rounds: u64,
    results: u64,
    round: Span,
    readings: Option<(u64, Span)>,
    open_alerts: String,
    journal_ops: usize,
    sent: u64,
}

async fn run(args: &Args, slos: bool) -> anyhow::Result<Figures> {
    let noop = Arc::new(NoOp::default());
    let setup = setup(args.checks, slos, &noop)?;
    let clock = Clock::tokio_from(T0);
    let journal = Arc::new(MemoryJournal::default());
    let (outbox, sender) = Outbox::start(
        &setup.notifiers,
        journal.clone() as Arc<dyn Journal>,
        clock,
        setup.settings.retry_for,
    );
    let mut engine = Engine::new(
        setup.clone(),
        clock,
        journal.clone(),
        sender,
        Resume::default(),
    );
    let mut feed = Feeder {
        rng: Rng(args.seed),
        checks: args.checks,
        round: 0,
    };
    let step = Duration::from_millis(ROUND_MS as u64);
    for _ in 0..args.warmup {
        for r in feed.round() {
            engine.on_result(&r);
        }
        engine.tick();
        tokio::time::advance(step).await;
    }
    // The measured rounds, timed one by one so that building their results is left out.
    let mut total = Span {
        wall: Duration::ZERO,
        cpu_ns: 0,
        ticks: 0,
    };
    for _ in 0..args.rounds {
        let results = feed.round();
        let s = measure(|| {
            for r in &results {
                engine.on_result(r);
            }
            engine.tick();
        });
        total.wall += s.wall;
        total.cpu_ns += s.cpu_ns;
        total.ticks += s.ticks;
        tokio::time::advance(step).await;
    }
    let mut readings_figures = None;
    if slos {
        let mut rng = Rng(args.seed ^ 0x5EED);
        let mut sum = Span {
            wall: Duration::ZERO,
            cpu_ns: 0,
            ticks: 0,
        };
        for _ in 0..args.reading_rounds {
            let r = readings(&setup, clock.now_ms(), &mut rng);
            let s = measure(|| engine.on_readings(r));
            sum.wall += s.wall;
            sum.cpu_ns += s.cpu_ns;
            sum.ticks += s.ticks;
            tokio::time::advance(Duration::from_secs(10)).await;
        }
        readings_figures = Some((args.reading_rounds, sum));
    }
    let open_alerts = engine
        .snapshot()
        .read()
        .map(|s| {
            let what: Vec<String> = s
                .alerts
                .iter()
                .map(|a| {
                    format!(
                        "{:?} {} {:?}",
                        a.kind,
                        a.rule.as_deref().unwrap_or(&a.check),
                        a.level
                    )
                })
                .collect();
            format!("{} [{}]", s.alerts.len(), what.join(", "))
        })
        .unwrap_or_default();
    drop(engine);
    outbox.stop(Duration::from_secs(1)).await;
    Ok(Figures {
        label: if slos {
            format!("{} rules + {} SLOs", setup.rules.len(), setup.slos.len())
        } else {
            format!("{} rules, no SLOs", setup.rules.len())
        },
        rounds: args.rounds,
        results: args.rounds * args.checks as u64,
        round: total,
        readings: readings_figures,
        open_alerts,
        journal_ops: journal.ops().len(),
        sent: noop.0.load(Ordering::Relaxed),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.checks > 0 && args.rounds > 0,
        "--checks and --rounds must be at least 1"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let hz = clock_ticks_per_second() as f64;
    let mut all = Vec::new();
    for slos in [false, true] {
        all.push(rt.block_on(run(&args, slos))?);
    }
    println!(
        "\n=== alert engine CPU per round: {} checks, {} threshold rules with `for` (response_time_ms, percent_used, error_rate over 5m), one result per check per round + tick(), rounds 30 s apart on tokio's paused clock; {} warm-up + {} measured rounds per setup ===",
        args.checks, args.checks, args.warmup, args.rounds
    );
    println!(
        "date: {}   host: {} cores",
        Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<26} {:>12} {:>14} {:>16} {:>14} {:>22}",
        "setup", "wall ms/rnd", "CPU ms/round", "CPU us/result", "CPU/wall", "process CPU (ticks)"
    );
    for f in &all {
        let per_round_cpu = f.round.cpu_ns as f64 / 1e6 / f.rounds as f64;
        println!(
            "{:<26} {:>12.3} {:>14.3} {:>16.2} {:>13.0}% {:>14.1} ms/round",
            f.label,
            f.round.wall.as_secs_f64() * 1e3 / f.rounds as f64,
            per_round_cpu,
            f.round.cpu_ns as f64 / 1e3 / f.results as f64,
            100.0 * f.round.cpu_ns as f64 / 1e9 / f.round.wall.as_secs_f64().max(1e-9),
            f.round.ticks as f64 * 1e3 / hz / f.rounds as f64,
        );
    }
    for f in &all {
        if let Some((n, s)) = &f.readings {
            println!(
                "{:<26} {:>12.3} {:>14.3} {:>16.2} {:>13.0}% {:>14.1} ms/round   (on_readings: one reading of every SLO, per SLO in the us column)",
                format!("on_readings, {}", f.label),
                s.wall.as_secs_f64() * 1e3 / *n as f64,
                s.cpu_ns as f64 / 1e6 / *n as f64,
                s.cpu_ns as f64 / 1e3 / (*n as f64 * args.checks as f64),
                100.0 * s.cpu_ns as f64 / 1e9 / s.wall.as_secs_f64().max(1e-9),
                s.ticks as f64 * 1e3 / hz / *n as f64,
            );
        }
    }
    if let [a, b] = &all[..] {
        println!(
            "ratio rules+SLOs / rules alone, CPU per round: {:.2}x",
            (b.round.cpu_ns as f64 / b.rounds as f64) / (a.round.cpu_ns as f64 / a.rounds as f64)
        );
    }
    for f in &all {
        println!(
            "{}: alerts open at the end {}, journal ops {}, notifications delivered {} (a healthy fleet: at most a few flapping alerts, from the rare one-probe excursions)",
            f.label, f.open_alerts, f.journal_ops, f.sent
        );
    }
    // The budget of a 30 s round on one core, for scale.
    let worst = all
        .iter()
        .map(|f| f.round.cpu_ns as f64 / 1e6 / f.rounds as f64)
        .fold(0.0, f64::max);
    println!(
        "share of one core at one round per 30 s (worst setup): {:.3} %   (no target: figures only)",
        worst / 300.0
    );
    Ok(())
}
