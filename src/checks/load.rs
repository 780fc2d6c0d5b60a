//! `load`: the 1-minute load average per logical CPU.

use super::threshold::Thresholds;
use super::{BuildContext, Check, CheckConfig, FieldError, Observed, Outcome};
use crate::system;
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct LoadConfig {
    /// 1-minute load per CPU above which the check is degraded.
    #[serde(default = "default_warn")]
    pub warn: f64,
    /// 1-minute load per CPU above which the check is unhealthy.
    #[serde(default = "default_crit")]
    pub crit: f64,
}

fn default_warn() -> f64 {
    2.0
}
fn default_crit() -> f64 {
    4.0
}

impl CheckConfig for LoadConfig {
    const KIND: &'static str = "load";

    fn build(self, _ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        if self.warn < 0.0 {
            return Err(FieldError::new(
                "warn",
                "expected a load per CPU of 0 or more",
            ));
        }
        Ok(Arc::new(LoadCheck {
            thresholds: Thresholds::above(self.warn, self.crit)?,
        }))
    }
}

#[derive(Debug)]
pub struct LoadCheck {
    thresholds: Thresholds,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[async_trait]
impl Check for LoadCheck {
    async fn probe(&self) -> Outcome {
        let l = match system::load() {
            Ok(l) => l,
            Err(e) => return Outcome::unhealthy(e),
        };
        let per_cpu = l.one / l.cpus as f64;
        let mut message = format!(
            "load {:.2} {:.2} {:.2} on {} CPUs ({:.2} per CPU)",
            l.one, l.five, l.fifteen, l.cpus, per_cpu
        );
        if let Some(limit) = self.thresholds.describe(per_cpu) {
            message = format!("{message} ({limit})");
        }
        Outcome {
            status: self.thresholds.classify(per_cpu),
            message: Some(message),
            observed: Observed::new(),
        }
        .observe("load1", round2(l.one))
        .observe("load5", round2(l.five))
        .observe("load15", round2(l.fifteen))
        .observe("load1_per_cpu", round2(per_cpu))
        .observe("cpus", l.cpus)
    }

    fn target(&self) -> String {
        "load".into()
    }

    fn thresholds(&self) -> Observed {
        self.thresholds.to_json()
    }
}
