//! The latest result of every check, in memory: the only thing the probe endpoints read.

use crate::checks::Status;
use crate::config::{CheckDef, ServiceConfig};
use crate::result::CheckResult;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct State {
    inner: Arc<Inner>,
}

struct Inner {
    service: ServiceConfig,
    started: Instant,
    started_at: DateTime<Utc>,
    checks: Vec<CheckSlot>,
    by_name: HashMap<String, usize>,
    store_ready: AtomicBool,
    /// Checks still without a first result; `/health/startup` waits for zero.
    awaiting_first: AtomicUsize,
    /// Bumped on every result, so renderings of the state know when they are stale.
    version: AtomicU64,
}

/// One check: its definition and what it last reported.
pub struct CheckSlot {
    pub def: Arc<CheckDef>,
    latest: RwLock<Option<Arc<CheckResult>>>,
    last_failure: RwLock<Option<Arc<CheckResult>>>,
}

impl CheckSlot {
    pub fn latest(&self) -> Option<Arc<CheckResult>> {
        self.latest.read().ok().and_then(|g| g.clone())
    }

    /// The most recent unhealthy result, kept after recovery for `/health/detailed`.
    pub fn last_failure(&self) -> Option<Arc<CheckResult>> {
        self.last_failure.read().ok().and_then(|g| g.clone())
    }

    pub fn status(&self) -> Status {
        self.latest().map_or(Status::Unknown, |r| r.status)
    }
}

impl State {
    pub fn new(service: ServiceConfig, checks: &[Arc<CheckDef>]) -> Self {
        let slots: Vec<CheckSlot> = checks
            .iter()
            .map(|def| CheckSlot {
                def: def.clone(),
                latest: RwLock::new(None),
                last_failure: RwLock::new(None),
            })
            .collect();
        let by_name = checks
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect();
        State {
            inner: Arc::new(Inner {
                service,
                started: Instant::now(),
                started_at: Utc::now(),
                awaiting_first: AtomicUsize::new(slots.len()),
                checks: slots,
                by_name,
                store_ready: AtomicBool::new(false),
                version: AtomicU64::new(0),
            }),
        }
    }

    pub fn record(&self, result: Arc<CheckResult>) {
        let Some(slot) = self.inner.checks.get(result.check) else {
            return;
        };
        if result.status == Status::Unhealthy {
            if let Ok(mut g) = slot.last_failure.write() {
                *g = Some(result.clone());
            }
        }
        if let Ok(mut g) = slot.latest.write() {
            if g.replace(result).is_none() {
                self.inner.awaiting_first.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.inner.version.fetch_add(1, Ordering::Release);
    }

    /// Changes whenever a result is recorded.
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }

    pub fn checks(&self) -> &[CheckSlot] {
        &self.inner.checks
    }

    /// The checks' names, in config order (for reads that move them to a blocking task).
    pub fn names(&self) -> Vec<String> {
        self.inner
            .checks
            .iter()
            .map(|s| s.def.name.clone())
            .collect()
    }

    pub fn check(&self, name: &str) -> Option<&CheckSlot> {
        self.inner.by_name.get(name).map(|&i| &self.inner.checks[i])
    }

    pub fn service(&self) -> &ServiceConfig {
        &self.inner.service
    }

    pub fn uptime_seconds(&self) -> u64 {
        self.inner.started.elapsed().as_secs()
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.inner.started_at
    }

    /// Marks the store as opened and migrated.
    pub fn set_store_ready(&self) {
        self.inner.store_ready.store(true, Ordering::Release);
    }

    /// Migrations ran and every check has a first result.
    pub fn started(&self) -> bool {
        self.inner.store_ready.load(Ordering::Acquire)
            && self.inner.awaiting_first.load(Ordering::Acquire) == 0
    }

    /// The service's status: unhealthy if a critical check is; degraded if any check is
    /// degraded or a non-critical one unhealthy; unknown while a check has no result yet.
    pub fn overall(&self) -> Status {
        overall(
            self.inner
                .checks
                .iter()
                .map(|s| (s.def.critical, s.status())),
        )
    }

    /// Ready when no critical check is unhealthy or still unknown.
    pub fn ready(&self) -> bool {
        self.inner
            .checks
            .iter()
            .filter(|s| s.def.critical)
            .all(|s| matches!(s.status(), Status::Healthy | Status::Degraded))
    }
}

/// Combines check statuses by the contract's rule (pure, for tests).
pub fn overall(checks: impl Iterator<Item = (bool, Status)>) -> Status {
    checks
        .map(|(critical, status)| match (critical, status) {
            (false, Status::Unhealthy) => Status::Degraded,
            (_, s) => s,
        })
        .max()
        .unwrap_or(Status::Healthy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn overall_follows_the_contract() {
        assert_eq!(overall([].into_iter()), Healthy);
        assert_eq!(
            overall([(true, Healthy), (false, Healthy)].into_iter()),
            Healthy
        );
        assert_eq!(
            overall([(true, Healthy), (false, Unhealthy)].into_iter()),
            Degraded
        );
        assert_eq!(
            overall([(true, Degraded), (false, Healthy)].into_iter()),
            Degraded
        );
        assert_eq!(
            overall([(true, Unhealthy), (false, Healthy)].into_iter()),
            Unhealthy
        );
        assert_eq!(
            overall([(true, Unknown), (false, Healthy)].into_iter()),
            Unknown
        );
        assert_eq!(
            overall([(true, Unknown), (false, Unhealthy)].into_iter()),
            Degraded
        );
    }
}
