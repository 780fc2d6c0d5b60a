//! Runs every check on its schedule: tokio-cron-scheduler jobs arm one [`Runner`] task per check.
//!
//! Each runner owns its check's breaker, so a check that hangs only ever holds up itself (and
//! one of the `max_concurrent` permits, for at most its timeout).
//!
//! The checks run on a runtime of their own (`[scheduler] threads`, one by default), apart from
//! the HTTP server's: a probe hands work between tasks several times, and on one thread that
//! costs no cross-thread wake-ups (measured: 166 → 127 CPU-ms per 1,000 HTTP probes), while
//! the server keeps every core for the probes of load balancers.

mod plan;
mod runner;

use crate::config::{CheckDef, Schedule, SchedulerConfig};
use crate::fanout::Fanout;
use crate::metrics::Metrics;
use chrono::Utc;
use plan::{Grid, Millis};
use runner::Runner;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tokio_util::sync::CancellationToken;

pub use plan::phase_ms;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot start the scheduler: {0}")]
    Start(#[from] JobSchedulerError),
    #[error("check {check}: cron expression `{expr}` does not parse: {message}")]
    Cron {
        check: String,
        expr: String,
        message: String,
    },
    #[error("cannot start the checks' runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("the checks' runtime ended before it started")]
    Vanished,
}

/// The running schedule, on its own thread and runtime.
pub struct Scheduler {
    stop: oneshot::Sender<()>,
    stopped: oneshot::Receiver<()>,
}

impl Scheduler {
    /// Starts the checks' runtime and, on it, a runner per check and the jobs that arm them.
    ///
    /// # Errors
    /// When the runtime cannot be built or the scheduler refuses a job.
    pub async fn start(
        checks: &[Arc<CheckDef>],
        sink: Fanout,
        metrics: Arc<Metrics>,
        settings: &SchedulerConfig,
    ) -> Result<Self, SchedulerError> {
        let runtime = match settings.threads {
            1 => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            n => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .thread_name("healthmon-checks")
                .enable_all()
                .build()?,
        };
        let (ready_tx, ready) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped) = oneshot::channel();
        let checks = checks.to_vec();
        let max_concurrent = settings.max_concurrent;
        std::thread::Builder::new()
            .name("healthmon-checks".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match Running::start(&checks, sink, metrics, max_concurrent).await {
                        Ok(running) => {
                            let _ = ready_tx.send(Ok(()));
                            let _ = stop_rx.await;
                            running.stop().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                // Dropping the runtime ends what is left of its tasks (idle connections).
                drop(runtime);
                let _ = stopped_tx.send(());
            })?;
        ready.await.map_err(|_| SchedulerError::Vanished)??;
        Ok(Scheduler { stop, stopped })
    }

    /// Stops scheduling; every probe in flight finishes within its timeout and delivers its
    /// result before this returns.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.stopped.await;
    }
}

/// The jobs and runners, on the checks' runtime.
struct Running {
    jobs: JobScheduler,
    runners: JoinSet<()>,
    cancel: CancellationToken,
    longest_timeout: Duration,
}

fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

fn instant_at(ms: Millis) -> Instant {
    Instant::now() + Duration::from_millis((ms - now_ms()).max(0) as u64)
}

/// What a runner waits for.
enum Plan {
    Grid(Grid),
    Cron(Box<croner::Cron>),
}

impl Running {
    /// Starts a runner per check and the jobs that arm them. Every check runs once within the
    /// first second (spread by its phase), so `/health/startup` completes quickly.
    ///
    /// # Errors
    /// When tokio-cron-scheduler cannot be created or refuses a job.
    pub async fn start(
        checks: &[Arc<CheckDef>],
        sink: Fanout,
        metrics: Arc<Metrics>,
        max_concurrent: usize,
    ) -> Result<Self, SchedulerError> {
        // The default channels hold 200 messages; more due in one tick are dropped silently,
        // and every activation also sends three state notifications, so size for all of them.
        let jobs = JobScheduler::new_with_channel_size((checks.len() * 4).max(1024)).await?;
        let permits = Arc::new(Semaphore::new(max_concurrent));
        let cancel = CancellationToken::new();
        let mut runners = JoinSet::new();
        let start_ms = now_ms();

        for def in checks {
            let (arm_tx, arm_rx) = mpsc::channel::<()>(4);
            let arm = move |_id, _sched| {
                let tx = arm_tx.clone();
                Box::pin(async move {
                    // Full means the runner is still busy with earlier slots; it skips ahead.
                    let _ = tx.try_send(());
                })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
            };
            let plan = match &def.schedule {
                Schedule::Every(every) => {
                    let grid = Grid::new(&def.name, every.as_millis() as i64, start_ms);
                    let mut job = Job::new_repeated_async(*every, arm)?;
                    let mut data = job.job_data()?;
                    data.next_tick = grid.first_arm_second().max(0) as u64;
                    job.set_job_data(data)?;
                    jobs.add(job).await?;
                    Plan::Grid(grid)
                }
                Schedule::Cron(expr) => {
                    let cron =
                        crate::config::parse_cron(expr).map_err(|e| SchedulerError::Cron {
                            check: def.name.clone(),
                            expr: expr.clone(),
                            message: e.to_string(),
                        })?;
                    jobs.add(Job::new_async(expr.as_str(), arm)?).await?;
                    Plan::Cron(Box::new(cron))
                }
            };
            let runner = Runner::new(def.clone(), sink.clone(), metrics.clone(), permits.clone());
            let first_ms = start_ms + phase_ms(&def.name, 1000);
            runners.spawn(run(
                runner,
                plan,
                arm_rx,
                first_ms,
                metrics.clone(),
                cancel.clone(),
            ));
        }
        jobs.start().await?;
        let longest_timeout = checks.iter().map(|c| c.timeout).max().unwrap_or_default();
        Ok(Running {
            jobs,
            runners,
            cancel,
            longest_timeout,
        })
    }

    /// Stops scheduling; lets every probe in flight finish within its timeout (plus a grace
    /// second) and deliver its result. Runners still busy after that are aborted.
    pub async fn stop(mut self) {
        if let Err(e) = self.jobs.shutdown().await {
            tracing::warn!(error = %e, "Scheduler did not shut down cleanly.");
        }
        self.cancel.cancel();
        let deadline = Instant::now() + self.longest_timeout + Duration::from_secs(1);
        while !self.runners.is_empty() {
            match tokio::time::timeout_at(deadline, self.runners.join_next()).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(
                        still_running = self.runners.len(),
                        "Probes outlived their timeout at shutdown; aborting them."
                    );
                    self.runners.abort_all();
                    while self.runners.join_next().await.is_some() {}
                }
            }
        }
    }
}

async fn run(
    mut runner: Runner,
    mut plan: Plan,
    mut arms: mpsc::Receiver<()>,
    first_ms: Millis,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep_until(instant_at(first_ms)) => {}
    }
    // A probe in flight is never cancelled: its result is delivered even during shutdown.
    if !runner.run_once(first_ms).await {
        return;
    }
    loop {
        let armed = tokio::select! {
            _ = cancel.cancelled() => break,
            armed = arms.recv() => armed,
        };
        if armed.is_none() {
            break;
        }
        let now = now_ms();
        let planned = match &mut plan {
            Plan::Grid(grid) => {
                let (planned, missed) = grid.take_slot(now);
                if missed > 0 {
                    metrics.missed(runner.def().index, missed);
                }
                planned
            }
            Plan::Cron(cron) => cron_slot(cron, now),
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(instant_at(planned)) => {}
        }
        if !runner.run_once(planned).await {
            break;
        }
    }
}

/// The occurrence a cron activation belongs to: the latest one not after now.
fn cron_slot(cron: &croner::Cron, now: Millis) -> Millis {
    let Some(at) = chrono::DateTime::from_timestamp_millis(now) else {
        return now;
    };
    cron.find_previous_occurrence(&at, true)
        .map_or(now, |t| t.timestamp_millis())
}
