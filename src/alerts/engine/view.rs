//! What readers see of the engine: the views of alerts and SLOs in its snapshot, replaced
//! after every change, and what an acknowledgement answers.

use super::{Alert, Engine, Held};
use crate::alerts::slo::BurnRates;
use crate::alerts::{AlertKind, AlertState, Level};
use crate::time::rfc3339_ms;
use serde::Serialize;

/// An alert as the API and the status page see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    pub id: i64,
    pub kind: AlertKind,
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub level: Level,
    pub state: AlertState,
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why it has not been announced, while it is held back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<&'static str>,
}

/// An SLO as the API sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloView {
    pub name: String,
    pub check: String,
    pub objective: f64,
    pub window: String,
    pub error_budget: Option<BudgetView>,
    pub burn_rates: BurnRates,
    /// `fast` or `slow` while a burn-rate pair is over its factor.
    pub burning: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetView {
    pub total_minutes: f64,
    pub used_minutes: f64,
    pub remaining_minutes: f64,
    pub remaining_percent: f64,
}

/// The engine's state for readers, replaced after every change.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Open alerts, oldest first.
    pub alerts: Vec<AlertView>,
    pub slos: Vec<SloView>,
}

/// What an acknowledgement found.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// Acknowledged now or before; the journal sequence of the change.
    Acknowledged(AlertView, u64),
    AlreadyResolved,
    NotFound,
}

impl Engine {
    pub(super) fn view(&self, a: &Alert) -> AlertView {
        AlertView {
            id: a.id,
            kind: a.kind,
            check: self.check_name(a).to_string(),
            rule: a.rule.clone(),
            level: a.level,
            state: a.state,
            started_at: rfc3339_ms(a.started_ms),
            acknowledged_at: a.acked_ms.and_then(rfc3339_ms),
            value: a.value,
            message: a.message.clone(),
            held: a.detail.held.map(Held::as_str),
        }
    }

    pub(super) fn publish(&mut self) {
        self.stale = false;
        let alerts = self
            .alerts
            .values()
            .filter(|a| a.is_open())
            .map(|a| self.view(a))
            .collect();
        let slos = self
            .setup
            .slos
            .iter()
            .zip(&self.slos)
            .map(|(def, s)| SloView {
                name: def.name.clone(),
                check: self.setup.checks[def.check].name.clone(),
                objective: def.objective,
                window: crate::duration::format(def.window),
                error_budget: s.budget.map(|b| BudgetView {
                    total_minutes: (b.total_seconds / 60.0 * 100.0).round() / 100.0,
                    used_minutes: (b.used_seconds / 60.0 * 100.0).round() / 100.0,
                    remaining_minutes: b.remaining_minutes(),
                    remaining_percent: b.remaining_percent,
                }),
                burn_rates: round_rates(s.rates),
                burning: s.rates.burning().map(|p| p.label),
            })
            .collect();
        if let Ok(mut snap) = self.snapshot.write() {
            *snap = Snapshot { alerts, slos };
        }
    }
}

fn round_rates(r: BurnRates) -> BurnRates {
    let round = |v: Option<f64>| v.map(|v| (v * 100.0).round() / 100.0);
    BurnRates {
        m5: round(r.m5),
        m30: round(r.m30),
        h1: round(r.h1),
        h6: round(r.h6),
    }
}
