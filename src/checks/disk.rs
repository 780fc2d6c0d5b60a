//! `disk`: percent used of the filesystem holding `path`.

use super::threshold::{round1, Thresholds};
use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::system;
use async_trait::async_trait;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct DiskConfig {
    /// Any path on the filesystem to watch, e.g. `/` or `/var/lib/postgresql`.
    pub path: PathBuf,
    /// Percent used above which the check is degraded.
    #[serde(default = "default_warn")]
    pub warn: f64,
    /// Percent used above which the check is unhealthy.
    #[serde(default = "default_crit")]
    pub crit: f64,
}

fn default_warn() -> f64 {
    80.0
}
fn default_crit() -> f64 {
    90.0
}

impl CheckConfig for DiskConfig {
    const KIND: &'static str = "disk";

    fn build(self, _ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let thresholds = Thresholds::percent(self.warn, self.crit)?;
        if !self.path.is_absolute() {
            return Err(FieldError::new(
                "path",
                format!("expected an absolute path, got `{}`", self.path.display()),
            ));
        }
        Ok(Arc::new(DiskCheck {
            path: self.path,
            thresholds,
        }))
    }
}

#[derive(Debug)]
pub struct DiskCheck {
    path: PathBuf,
    thresholds: Thresholds,
}

#[async_trait]
impl Check for DiskCheck {
    async fn probe(&self) -> Outcome {
        let path = self.path.clone();
        let usage = match tokio::task::spawn_blocking(move || system::disk_usage(&path)).await {
            Ok(Ok(u)) => u,
            Ok(Err(e)) => {
                return Outcome::unhealthy(format!(
                    "cannot read usage of {}: {e}",
                    self.path.display()
                ))
            }
            Err(e) => return Outcome::unhealthy(format!("disk reading failed: {e}")),
        };
        let pct = round1(usage.percent_used);
        let mut message = format!(
            "{pct}% used, {} free of {}",
            system::human_bytes(usage.available_bytes),
            system::human_bytes(usage.total_bytes)
        );
        if let Some(limit) = self.thresholds.describe(usage.percent_used) {
            message = format!("{message} ({limit})");
        }
        Outcome {
            status: self.thresholds.classify(usage.percent_used),
            message: Some(message),
            observed: Observed::new(),
        }
        .observe("percent_used", pct)
        .observe("total_bytes", usage.total_bytes)
        .observe("available_bytes", usage.available_bytes)
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }

    fn thresholds(&self) -> Observed {
        self.thresholds.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    fn check(warn: f64, crit: f64) -> Arc<dyn Check> {
        let shared = crate::checks::Shared::default();
        let ctx = BuildContext::new(
            "d",
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(30),
            &shared,
        );
        DiskConfig {
            path: "/".into(),
            warn,
            crit,
        }
        .build(&ctx)
        .unwrap()
    }

    #[tokio::test]
    async fn the_root_filesystem_reports_its_usage() {
        let out = check(100.0, 100.0).probe().await;
        assert_eq!(out.status, Status::Healthy);
        let pct = out.observed["percent_used"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&pct));
    }

    #[tokio::test]
    async fn usage_past_crit_is_unhealthy() {
        let out = check(0.0, 0.0).probe().await;
        assert_eq!(out.status, Status::Unhealthy);
        assert!(out.message.unwrap().contains("above crit 0"));
    }
}
