//! `memory`: percent of the machine's memory in use (total minus available).

use super::threshold::{round1, Thresholds};
use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::system;
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct MemoryConfig {
    /// Percent used above which the check is degraded.
    #[serde(default = "default_warn")]
    pub warn: f64,
    /// Percent used above which the check is unhealthy.
    #[serde(default = "default_crit")]
    pub crit: f64,
}

fn default_warn() -> f64 {
    85.0
}
fn default_crit() -> f64 {
    95.0
}

impl CheckConfig for MemoryConfig {
    const KIND: &'static str = "memory";

    fn build(self, _ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        Ok(Arc::new(MemoryCheck {
            thresholds: Thresholds::percent(self.warn, self.crit)?,
        }))
    }
}

#[derive(Debug)]
pub struct MemoryCheck {
    thresholds: Thresholds,
}

#[async_trait]
impl Check for MemoryCheck {
    async fn probe(&self) -> Outcome {
        let m = match system::memory() {
            Ok(m) => m,
            Err(e) => return Outcome::unhealthy(e),
        };
        let pct = round1(m.percent_used);
        let mut message = format!(
            "{pct}% used, {} available of {}",
            system::human_bytes(m.available_bytes),
            system::human_bytes(m.total_bytes)
        );
        if let Some(limit) = self.thresholds.describe(m.percent_used) {
            message = format!("{message} ({limit})");
        }
        Outcome {
            status: self.thresholds.classify(m.percent_used),
            message: Some(message),
            observed: Observed::new(),
        }
        .observe("percent_used", pct)
        .observe("total_bytes", m.total_bytes)
        .observe("available_bytes", m.available_bytes)
    }

    fn target(&self) -> String {
        "memory".into()
    }

    fn thresholds(&self) -> Observed {
        self.thresholds.to_json()
    }
}
