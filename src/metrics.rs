//! Prometheus metrics, prefixed `healthmon_`.
//!
//! Per-check handles are created once at start, so recording a result touches only atomics.

use crate::alerts::config::Setup;
use crate::alerts::AlertingHandle;
use crate::alerts::Level;
use crate::checks::Status;
use crate::config::CheckDef;
use crate::result::CheckResult;
use crate::store::writer::StoreHealth;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    check: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    check: String,
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelLabels {
    level: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotifierLabels {
    notifier: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SloLabels {
    slo: String,
    check: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BurnLabels {
    slo: String,
    check: String,
    window: String,
}

/// The handles of the alerting series, set from the engine's and the outbox's figures at each
/// scrape.
struct AlertMetrics {
    firing: [Gauge; 2],
    sent: Vec<Counter>,
    failed: Vec<Counter>,
    given_up: Vec<Counter>,
    outbox_depth: Gauge,
    budget: Vec<Gauge<f64, AtomicU64>>,
    burn: Vec<[Gauge<f64, AtomicU64>; 4]>,
    engine_dropped: Counter,
}

const BURN_WINDOWS: [&str; 4] = ["5m", "30m", "1h", "6h"];

impl AlertMetrics {
    fn register(registry: &mut Registry, setup: &Setup) -> Self {
        let mut firing_series = Series::<LevelLabels, Gauge>::default();
        let firing = [Level::Warning, Level::Critical].map(|l| {
            firing_series.add(
                LevelLabels {
                    level: l.as_str().into(),
                },
                Gauge::default(),
            )
        });
        let mut sent = Series::<NotifierLabels, Counter>::default();
        let mut failed = Series::<NotifierLabels, Counter>::default();
        let mut given_up = Series::<NotifierLabels, Counter>::default();
        let mut budget = Series::<SloLabels, Gauge<f64, AtomicU64>>::default();
        let mut burn = Series::<BurnLabels, Gauge<f64, AtomicU64>>::default();
        let labels = |n: &crate::alerts::config::NotifierDef| NotifierLabels {
            notifier: n.name.clone(),
            kind: n.kind.into(),
        };
        let m = AlertMetrics {
            sent: setup
                .notifiers
                .iter()
                .map(|n| sent.add(labels(n), Counter::default()))
                .collect(),
            failed: setup
                .notifiers
                .iter()
                .map(|n| failed.add(labels(n), Counter::default()))
                .collect(),
            given_up: setup
                .notifiers
                .iter()
                .map(|n| given_up.add(labels(n), Counter::default()))
                .collect(),
            budget: setup
                .slos
                .iter()
                .map(|s| {
                    budget.add(
                        SloLabels {
                            slo: s.name.clone(),
                            check: setup.checks[s.check].name.clone(),
                        },
                        Gauge::default(),
                    )
                })
                .collect(),
            burn: setup
                .slos
                .iter()
                .map(|s| {
                    BURN_WINDOWS.map(|w| {
                        burn.add(
                            BurnLabels {
                                slo: s.name.clone(),
                                check: setup.checks[s.check].name.clone(),
                                window: w.into(),
                            },
                            Gauge::default(),
                        )
                    })
                })
                .collect(),
            firing,
            outbox_depth: Gauge::default(),
            engine_dropped: Counter::default(),
        };
        registry.register(
            "alerts_firing",
            "Open alerts (firing or acknowledged), by level",
            firing_series,
        );
        registry.register(
            "notifications_sent",
            "Notifications the receiving server accepted, by notifier",
            sent,
        );
        registry.register(
            "notifications_failed",
            "Failed delivery attempts (each retried unless given up), by notifier",
            failed,
        );
        registry.register(
            "notifications_given_up",
            "Notifications given up on (refused for good, or undeliverable for retry_for)",
            given_up,
        );
        registry.register(
            "outbox_depth",
            "Notifications waiting to be delivered",
            m.outbox_depth.clone(),
        );
        registry.register(
            "slo_error_budget_remaining_ratio",
            "Share of the SLO's error budget left over its window (negative once overspent)",
            budget,
        );
        registry.register(
            "slo_burn_rate",
            "How fast the SLO's error budget burns over the window (1 = exactly over the SLO window)",
            burn,
        );
        registry.register(
            "alert_engine_results_dropped",
            "Results the alert engine never saw because it fell behind",
            m.engine_dropped.clone(),
        );
        m
    }

    fn update(&self, a: &AlertingHandle) {
        let snap = a.snapshot();
        for (i, level) in [Level::Warning, Level::Critical].into_iter().enumerate() {
            let n = snap.alerts.iter().filter(|v| v.level == level).count();
            self.firing[i].set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let set = |c: &Counter, v: u64| c.inner().store(v, std::sync::atomic::Ordering::Relaxed);
        let mut depth = 0;
        for (i, s) in a.notifier_stats().iter().enumerate() {
            use std::sync::atomic::Ordering::Relaxed;
            if let (Some(sent), Some(failed), Some(given_up)) =
                (self.sent.get(i), self.failed.get(i), self.given_up.get(i))
            {
                set(sent, s.sent.load(Relaxed));
                set(failed, s.failed.load(Relaxed));
                set(given_up, s.given_up.load(Relaxed));
            }
            depth += s.queued.load(Relaxed);
        }
        self.outbox_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        for (i, slo) in snap.slos.iter().enumerate() {
            if let (Some(g), Some(b)) = (self.budget.get(i), &slo.error_budget) {
                g.set(b.remaining_percent / 100.0);
            }
            if let Some(gs) = self.burn.get(i) {
                let r = &slo.burn_rates;
                for (g, v) in gs.iter().zip([r.m5, r.m30, r.h1, r.h6]) {
                    g.set(v.unwrap_or(0.0));
                }
            }
        }
        set(&self.engine_dropped, a.dropped_results());
    }
}

/// The series of one metric, written in the order they were added: the checks' order in the
/// config, then healthy, degraded, unhealthy. (A `Family` keeps a hash map, so its series came
/// out in a different order on every start.) The set of series is fixed at start.
#[derive(Debug)]
struct Series<L, M>(Vec<(L, M)>);

impl<L, M> Default for Series<L, M> {
    fn default() -> Self {
        Series(Vec::new())
    }
}

impl<L, M: Clone> Series<L, M> {
    /// Adds a series and returns the handle that updates it.
    fn add(&mut self, labels: L, metric: M) -> M {
        self.0.push((labels, metric.clone()));
        metric
    }
}

impl<L: EncodeLabelSet, M: EncodeMetric + TypedMetric> EncodeMetric for Series<L, M> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, metric) in &self.0 {
            metric.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const STATUSES: [Status; 3] = [Status::Healthy, Status::Degraded, Status::Unhealthy];

fn status_index(s: Status) -> Option<usize> {
    STATUSES.iter().position(|x| *x == s)
}

/// The handles of one check.
struct CheckMetrics {
    runs: [Counter; 3],
    is_status: [Gauge; 3],
    up: Gauge,
    response_time: Gauge<f64, AtomicU64>,
    circuit_open: Gauge,
    skipped: Counter,
    missed: Counter,
}

pub struct Metrics {
    registry: Registry,
    checks: Vec<CheckMetrics>,
    overall: Gauge,
    schedule_lag: Histogram,
    results_produced: Counter,
    results_stored: Counter,
    results_dropped: Counter,
    store_batches: Counter,
    store_errors: Counter,
    store_pending: Gauge,
    store_oldest_pending: Gauge<f64, AtomicU64>,
    store_failing: Gauge,
    alerts: AlertMetrics,
}

impl Metrics {
    pub fn new(defs: &[Arc<CheckDef>], alerting: &Setup) -> Self {
        let mut registry = Registry::with_prefix("healthmon");
        let mut runs = Series::<StatusLabels, Counter>::default();
        let mut is_status = Series::<StatusLabels, Gauge>::default();
        let mut up = Series::<CheckLabels, Gauge>::default();
        let mut response_time = Series::<CheckLabels, Gauge<f64, AtomicU64>>::default();
        let mut circuit_open = Series::<CheckLabels, Gauge>::default();
        let mut skipped = Series::<CheckLabels, Counter>::default();
        let mut missed = Series::<CheckLabels, Counter>::default();
        let mut build = Series::<BuildLabels, Gauge>::default();
        build
            .add(
                BuildLabels {
                    version: env!("CARGO_PKG_VERSION").into(),
                },
                Gauge::default(),
            )
            .set(1);

        let checks = defs
            .iter()
            .map(|d| {
                let labels = CheckLabels {
                    check: d.name.clone(),
                    kind: d.kind.into(),
                };
                let with_status = |s: Status| StatusLabels {
                    check: d.name.clone(),
                    kind: d.kind.into(),
                    status: s.as_str().into(),
                };
                CheckMetrics {
                    runs: STATUSES.map(|s| runs.add(with_status(s), Counter::default())),
                    is_status: STATUSES.map(|s| is_status.add(with_status(s), Gauge::default())),
                    up: up.add(labels.clone(), Gauge::default()),
                    response_time: response_time.add(labels.clone(), Gauge::default()),
                    circuit_open: circuit_open.add(labels.clone(), Gauge::default()),
                    skipped: skipped.add(labels.clone(), Counter::default()),
                    missed: missed.add(labels, Counter::default()),
                }
            })
            .collect();

        registry.register("check_runs", "Probes run, by result status", runs);
        registry.register(
            "check_status",
            "1 for the check's current status, 0 for the others",
            is_status,
        );
        registry.register(
            "check_up",
            "1 when the check's last probe was healthy or degraded",
            up,
        );
        registry.register(
            "check_response_time_seconds",
            "Duration of the check's last probe",
            response_time,
        );
        registry.register(
            "check_circuit_open",
            "1 while the check's circuit breaker is open",
            circuit_open,
        );
        registry.register(
            "check_skipped",
            "Scheduled runs skipped because the circuit breaker was open",
            skipped,
        );
        registry.register(
            "check_missed_runs",
            "Scheduled runs that could not start (the previous run was still going)",
            missed,
        );
        let overall = Gauge::default();
        registry.register(
            "status",
            "Overall status: 0 healthy, 1 unknown, 2 degraded, 3 unhealthy",
            overall.clone(),
        );
        let schedule_lag = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.5, 5.0,
        ]);
        registry.register(
            "schedule_lag_seconds",
            "Actual minus planned start of each probe",
            schedule_lag.clone(),
        );
        let results_produced = Counter::default();
        registry.register(
            "results_produced",
            "Check results produced by the runners",
            results_produced.clone(),
        );
        let results_stored = Counter::default();
        registry.register(
            "results_stored",
            "Check results committed to the SQLite health log",
            results_stored.clone(),
        );
        let store_batches = Counter::default();
        registry.register(
            "store_batches",
            "Transactions committed by the store writer",
            store_batches.clone(),
        );
        let results_dropped = Counter::default();
        registry.register(
            "results_dropped",
            "Check results not stored: refused while the store's queue was full, or unwritten at a stop",
            results_dropped.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Failed store transactions (each is retried)",
            store_errors.clone(),
        );
        let store_pending = Gauge::default();
        registry.register(
            "store_pending_changes",
            "Incident and alert changes handed to the store and not yet committed",
            store_pending.clone(),
        );
        let store_oldest_pending = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "store_oldest_pending_change_seconds",
            "Age of the oldest change not yet committed (0 when none)",
            store_oldest_pending.clone(),
        );
        let store_failing = Gauge::default();
        registry.register(
            "store_failing",
            "1 while the store refuses writes (locked, full, read-only)",
            store_failing.clone(),
        );
        registry.register("build_info", "Version of this healthmon", build);
        let alerts = AlertMetrics::register(&mut registry, alerting);

        Metrics {
            registry,
            checks,
            overall,
            schedule_lag,
            results_produced,
            results_stored,
            results_dropped,
            store_batches,
            store_errors,
            store_pending,
            store_oldest_pending,
            store_failing,
            alerts,
        }
    }

    pub fn record(&self, r: &CheckResult) {
        self.results_produced.inc();
        let Some(m) = self.checks.get(r.check) else {
            return;
        };
        if let Some(i) = status_index(r.status) {
            m.runs[i].inc();
            for (j, g) in m.is_status.iter().enumerate() {
                g.set(i64::from(i == j));
            }
        }
        m.up.set(i64::from(r.status != Status::Unhealthy));
        m.response_time.set(r.response_time.as_secs_f64());
        m.circuit_open
            .set(i64::from(r.circuit == crate::breaker::CircuitState::Open));
    }

    pub fn skipped(&self, check: usize) {
        if let Some(m) = self.checks.get(check) {
            m.skipped.inc();
        }
    }

    pub fn missed(&self, check: usize, runs: u64) {
        if let Some(m) = self.checks.get(check) {
            m.missed.inc_by(runs);
        }
    }

    pub fn schedule_lag(&self, seconds: f64) {
        self.schedule_lag.observe(seconds.max(0.0));
    }

    /// The OpenMetrics text, with the overall status, the store's health and the alerting
    /// figures as of now.
    pub fn render(
        &self,
        overall: Status,
        store: &StoreHealth,
        alerting: Option<&AlertingHandle>,
    ) -> String {
        if let Some(a) = alerting {
            self.alerts.update(a);
        }
        // The writer keeps its own counts (it must not depend on this module); they are
        // copied in at each scrape.
        let set = |c: &Counter, v: u64| c.inner().store(v, std::sync::atomic::Ordering::Relaxed);
        set(&self.results_stored, store.results_stored);
        set(&self.results_dropped, store.results_dropped);
        set(&self.store_batches, store.batches);
        set(&self.store_errors, store.errors);
        self.store_pending
            .set(i64::try_from(store.pending_ops).unwrap_or(i64::MAX));
        self.store_oldest_pending.set(store.oldest_pending_seconds);
        self.store_failing
            .set(i64::from(store.failing_since_ms.is_some()));
        self.overall.set(match overall {
            Status::Healthy => 0,
            Status::Unknown => 1,
            Status::Degraded => 2,
            Status::Unhealthy => 3,
        });
        let mut out = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The exposition formats `/metrics` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4: what every scraper and `promtool check metrics` read.
    Text,
    /// OpenMetrics 1.0, for a scraper whose `Accept` asks for it.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics only when the request's `Accept` names it.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Rewrites prometheus-client's OpenMetrics text as Prometheus text 0.0.4: a counter's HELP
/// and TYPE name its samples' `_total` name, and there is no `# EOF` or `# UNIT`.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            // Held until its TYPE line says whether the name needs `_total`.
            if let Some(h) = help.take() {
                out.push_str(h);
                out.push('\n');
            }
            help = Some(line);
            let _ = rest;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = if kind == "counter" && !name.ends_with("_total") {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            if let Some(h) = help.take() {
                let text = h
                    .strip_prefix("# HELP ")
                    .and_then(|r| r.split_once(' '))
                    .map_or("", |(_, t)| t);
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if let Some(h) = help.take() {
            out.push_str(h);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_names_counters_by_their_samples_and_has_no_eof() {
        let om = "# HELP healthmon_check_runs Probes run.\n# TYPE healthmon_check_runs counter\nhealthmon_check_runs_total{check=\"a\"} 3\n# HELP healthmon_status Overall.\n# TYPE healthmon_status gauge\nhealthmon_status 0\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP healthmon_check_runs_total Probes run.\n# TYPE healthmon_check_runs_total counter\nhealthmon_check_runs_total{check=\"a\"} 3\n# HELP healthmon_status Overall.\n# TYPE healthmon_status gauge\nhealthmon_status 0\n"
        );
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Text
        );
    }

    #[test]
    fn series_are_written_in_config_order_and_updated_through_their_handles() {
        // Names in an order no sort or hash would produce by chance.
        let names = [
            "zeta", "alpha", "mid", "beta", "omega", "gamma", "delta", "eta",
        ];
        let text: String = names
            .iter()
            .map(|n| format!("[[check]]\nname = \"{n}\"\nkind = \"memory\"\n"))
            .collect();
        let config =
            crate::config::parse(&text, std::path::Path::new("t.toml"), &|_| None).unwrap();
        let metrics = Metrics::new(&config.checks, &config.alerting);
        metrics.skipped(2);
        let out = metrics.render(Status::Healthy, &StoreHealth::default(), None);

        let up: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("healthmon_check_up{check=\""))
            .map(|l| l.split('"').next().unwrap())
            .collect();
        assert_eq!(up, names);
        let statuses: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("healthmon_check_runs_total{check=\"zeta\""))
            .map(|l| {
                l.split("status=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
            })
            .collect();
        assert_eq!(statuses, ["healthy", "degraded", "unhealthy"]);
        assert!(out.contains("healthmon_check_skipped_total{check=\"mid\",kind=\"memory\"} 1\n"));
        assert!(out.contains("healthmon_check_skipped_total{check=\"zeta\",kind=\"memory\"} 0\n"));
        assert!(out.contains("healthmon_build_info{version=\""));
        let again = Metrics::new(&config.checks, &config.alerting);
        again.skipped(2);
        assert_eq!(
            out,
            again.render(Status::Healthy, &StoreHealth::default(), None),
            "two starts with the same config and counts write the same text"
        );
    }
}
