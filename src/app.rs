//! The daemon: builds every part from the config and runs until told to stop.
//!
//! Data flows one way: scheduler → check → breaker → result → fan-out (metrics, latest
//! state, incident tracker → store writer). On stop the producers go first and storage last:
//! the scheduler stops, probes in flight finish within their timeout, the writer commits
//! everything it was sent, then the HTTP server closes.

use crate::alerts::clock::Clock;
use crate::alerts::engine::Resume;
use crate::alerts::journal::Journal;
use crate::alerts::Alerting;
use crate::api::{self, ApiContext, ApiParts};
use crate::config::Config;
use crate::fanout::Fanout;
use crate::metrics::Metrics;
use crate::scheduler::Scheduler;
use crate::state::State;
use crate::store::writer::{CheckName, Writer, WriterHandle, WriterSettings};
use crate::store::{alerts as alert_store, queries, Store};
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A built, running daemon.
pub struct Application {
    address: SocketAddr,
    scheduler: Scheduler,
    writer: WriterHandle,
    server: JoinHandle<()>,
    stop_server: oneshot::Sender<()>,
    fanout: Fanout,
    alerting: Alerting,
}

/// What a clean stop reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopReport {
    pub produced: u64,
    pub stored: u64,
    pub dropped: u64,
}

impl Application {
    /// Opens the store, binds the listener, starts the writer, the server and the scheduler.
    ///
    /// # Errors
    /// When the database cannot be opened, the address cannot be bound, or the scheduler fails.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        crate::install_tls_provider();
        let db_path = config.storage.path.clone();
        let (store, writer_conn) = tokio::task::spawn_blocking(move || Store::open(&db_path))
            .await
            .context("opening the database")?
            .context("storage.path")?;
        let (open, alerts, pending, (last_alert, last_notification), instance) = store
            .read(|conn| {
                Ok((
                    queries::open_incidents(conn)?,
                    alert_store::open_alerts(conn)?,
                    alert_store::pending_notifications(conn)?,
                    alert_store::last_ids(conn)?,
                    alert_store::meta(conn, "instance")?,
                ))
            })
            .await
            .context("reading the incidents and alerts left open")?;
        let down: Vec<String> = open.iter().map(|(name, _)| name.clone()).collect();
        let resume = Resume {
            alerts,
            last_alert_id: last_alert,
            last_notification_id: last_notification,
            down: open
                .iter()
                .filter_map(|(name, started)| {
                    let i = config.checks.iter().position(|c| &c.name == name)?;
                    Some((i, *started))
                })
                .collect(),
            instance,
        };
        let metrics = std::sync::Arc::new(Metrics::new(&config.checks, &config.alerting));
        let state = State::new(config.service.clone(), &config.checks);

        let settings =
            WriterSettings::new(config.storage.retention, config.storage.rollup_retention);
        let names: Vec<CheckName> = config
            .checks
            .iter()
            .map(|c| CheckName {
                name: c.name.clone(),
                kind: c.kind.to_string(),
            })
            .collect();
        let writer = Writer::new(writer_conn, &names, settings)
            .context("registering this run in the database")?;
        let run_id = writer.run_id();
        store.set_current_run(run_id);
        let (writer_input, writer) = writer.spawn().context("starting the store writer")?;
        state.set_store_ready();
        let journal: std::sync::Arc<dyn Journal> = std::sync::Arc::new(writer_input.clone());
        let (alerting, engine_input, alerting_handle) = Alerting::start(
            config.alerting.clone(),
            store.clone(),
            journal,
            Clock::system(),
            resume,
            pending,
        );

        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| {
                format!("cannot listen on {} (server.listen)", config.server.listen)
            })?;
        let address = listener.local_addr().context("reading the bound address")?;
        let data_dir = config
            .storage
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(
                || std::path::PathBuf::from("."),
                std::path::Path::to_path_buf,
            );
        let ctx = ApiContext::new(ApiParts {
            state: state.clone(),
            store: store.clone(),
            store_monitor: writer_input.monitor(),
            alerting: alerting_handle,
            metrics: metrics.clone(),
            token: config.server.token.clone(),
            data_dir,
            push: config.push.clone(),
        });
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(
            warp::serve(api::routes(ctx))
                .incoming(listener)
                .graceful(async move {
                    let _ = stopped.await;
                })
                .run(),
        );

        let fanout = Fanout::new(
            &config.checks,
            &down,
            state,
            metrics.clone(),
            writer_input,
            Some(engine_input),
        );
        let scheduler =
            Scheduler::start(&config.checks, fanout.clone(), metrics, &config.scheduler).await?;
        tracing::info!(
            addr = %address,
            checks = config.checks.len(),
            database = %store.path().display(),
            run = run_id,
            "Listening."
        );
        Ok(Application {
            address,
            scheduler,
            writer,
            server,
            stop_server,
            fanout,
            alerting,
        })
    }

    /// The address the server is bound to (useful with port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Runs until `shutdown` resolves, then stops in order and reports what was stored.
    ///
    /// # Errors
    /// When the HTTP server or the store writer ends on its own: the daemon cannot go on.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<StopReport> {
        let Application {
            scheduler,
            writer,
            mut server,
            stop_server,
            fanout,
            alerting,
            ..
        } = self;
        let writer = writer.finished();
        tokio::pin!(writer);
        let mut failure = None;
        tokio::select! {
            () = shutdown => {}
            ended = &mut server => failure = Some(format!("the HTTP server stopped unexpectedly: {ended:?}")),
            report = &mut writer => {
                // The writer only ends once every sender is gone, which cannot happen before the
                // scheduler stops: it died.
                anyhow::bail!("the store writer stopped unexpectedly ({report:?})");
            }
        }
        scheduler.stop().await;
        let produced = fanout.produced();
        // The fan-out was the engine's input; once the engine and the outbox have put their
        // last changes in the writer's lanes, the writer drains, commits and ends.
        drop(fanout);
        alerting.stop().await;
        let report = writer
            .await
            .context("the store writer died during shutdown")?;
        let _ = stop_server.send(());
        if failure.is_none() {
            let _ = server.await;
        }
        let report = StopReport {
            produced,
            stored: report.stored,
            dropped: report.dropped,
        };
        tracing::info!(
            results_produced = report.produced,
            results_stored = report.stored,
            results_dropped = report.dropped,
            "Stopped."
        );
        match failure {
            Some(f) => Err(anyhow::anyhow!(f)),
            None => Ok(report),
        }
    }
}
