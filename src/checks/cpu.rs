//! `cpu`: percent of all CPUs busy over a short sample.

use super::threshold::{round1, Thresholds};
use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::duration;
use crate::system;
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize)]
pub struct CpuConfig {
    /// Percent busy above which the check is degraded.
    #[serde(default = "default_warn")]
    pub warn: f64,
    /// Percent busy above which the check is unhealthy.
    #[serde(default = "default_crit")]
    pub crit: f64,
    /// How long to sample; at least 200ms, and shorter than `timeout`.
    #[serde(default = "default_sample", deserialize_with = "duration::deserialize")]
    pub sample: Duration,
}

fn default_warn() -> f64 {
    80.0
}
fn default_crit() -> f64 {
    95.0
}
fn default_sample() -> Duration {
    Duration::from_millis(500)
}

impl CheckConfig for CpuConfig {
    const KIND: &'static str = "cpu";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        let thresholds = Thresholds::percent(self.warn, self.crit)?;
        if self.sample < sysinfo::MINIMUM_CPU_UPDATE_INTERVAL || self.sample >= ctx.timeout {
            return Err(FieldError::new(
                "sample",
                format!(
                    "expected a duration of at least 200ms and shorter than the timeout ({}), got {}",
                    duration::format(ctx.timeout),
                    duration::format(self.sample)
                ),
            ));
        }
        Ok(Arc::new(CpuCheck {
            thresholds,
            sample: self.sample,
        }))
    }
}

#[derive(Debug)]
pub struct CpuCheck {
    thresholds: Thresholds,
    sample: Duration,
}

#[async_trait]
impl Check for CpuCheck {
    async fn probe(&self) -> Outcome {
        let busy = match system::cpu_busy_over(self.sample).await {
            Ok(b) => b,
            Err(e) => return Outcome::unhealthy(e),
        };
        let pct = round1(busy);
        let mut message = format!("{pct}% busy over {}", duration::format(self.sample));
        if let Some(limit) = self.thresholds.describe(busy) {
            message = format!("{message} ({limit})");
        }
        Outcome {
            status: self.thresholds.classify(busy),
            message: Some(message),
            observed: Observed::new(),
        }
        .observe("percent_busy", pct)
    }

    fn target(&self) -> String {
        "cpu".into()
    }

    fn thresholds(&self) -> Observed {
        self.thresholds.to_json()
    }
}
