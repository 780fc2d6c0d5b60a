//! Reads what the engine needs from the store every round: burn rates and budgets of the SLOs,
//! the availability rules' figures, and each check's month so far (for resolution messages).
//! It runs beside the engine, so a slow read never holds up an alert.

use super::config::{Metric, Setup};
use super::engine::{MonthReading, Readings, SloReading};
use super::slo;
use crate::availability::Span;
use crate::store::summary::{self, Want};
use crate::store::Store;
use crate::time::Millis;
use chrono::{Datelike, TimeZone, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often the store is read.
pub const ROUND: Duration = Duration::from_secs(10);

/// The start of the UTC month holding `ms`.
pub fn month_start(ms: Millis) -> Millis {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return ms;
    };
    Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
        .single()
        .map_or(ms, |m| m.timestamp_millis())
}

fn span_ms(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// One reading of everything, at `now`.
///
/// # Errors
/// When the store cannot be read.
pub async fn read(store: &Store, setup: &Arc<Setup>) -> Result<Readings, crate::store::StoreError> {
    let now = store.now();
    let setup = setup.clone();
    store
        .read(move |conn| {
            let names: Vec<String> = setup.checks.iter().map(|c| c.name.clone()).collect();
            let at = now.ms;
            // Every span asked for once, whoever asks for it.
            let mut spans: Vec<Span> = slo::SPANS
                .iter()
                .map(|d| Span::new(at - span_ms(*d), at))
                .collect();
            let index =
                |spans: &mut Vec<Span>, span: Span| match spans.iter().position(|s| *s == span) {
                    Some(i) => i,
                    None => {
                        spans.push(span);
                        spans.len() - 1
                    }
                };
            let month = index(&mut spans, Span::new(month_start(at), at));
            let slo_windows: Vec<usize> = setup
                .slos
                .iter()
                .map(|s| index(&mut spans, Span::new(at - span_ms(s.window), at)))
                .collect();
            let rule_windows: Vec<Option<usize>> = setup
                .rules
                .iter()
                .map(|r| match r.metric {
                    Metric::Availability(w) => {
                        Some(index(&mut spans, Span::new(at - span_ms(w), at)))
                    }
                    _ => None,
                })
                .collect();
            let all = summary::summaries(conn, &names, &spans, now, Want::Availability)?;
            let figures = |span: usize, check: usize| {
                let a = &all[span][check].availability;
                (a.observed_seconds, a.downtime_seconds)
            };
            Ok(Readings {
                at_ms: at,
                slos: setup
                    .slos
                    .iter()
                    .zip(&slo_windows)
                    .map(|(s, w)| {
                        Some(SloReading {
                            spans: [0, 1, 2, 3].map(|i| figures(i, s.check)),
                            window_downtime_seconds: figures(*w, s.check).1,
                        })
                    })
                    .collect(),
                availability: setup
                    .rules
                    .iter()
                    .zip(&rule_windows)
                    .map(|(r, w)| w.and_then(|w| all[w][r.check].availability.percent))
                    .collect(),
                month: (0..names.len())
                    .map(|c| {
                        let (observed, down) = figures(month, c);
                        Some(MonthReading {
                            at_ms: at,
                            observed_seconds: observed,
                            downtime_seconds: down,
                        })
                    })
                    .collect(),
            })
        })
        .await
}

/// Reads every [`ROUND`] (the first at once) until stopped.
pub async fn run(
    store: Store,
    setup: Arc<Setup>,
    tx: mpsc::Sender<Readings>,
    stop: CancellationToken,
) {
    let mut failing = false;
    loop {
        match read(&store, &setup).await {
            Ok(r) => {
                failing = false;
                if tx.send(r).await.is_err() {
                    return;
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::error!(error = %e, "Could not read the store for SLOs and availability rules; they keep their last state.");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(ROUND) => {}
            () = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_starts_at_utc_midnight_on_its_first() {
        let t = Utc
            .with_ymd_and_hms(2026, 12, 2, 7, 30, 0)
            .unwrap()
            .timestamp_millis();
        let m = Utc
            .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(month_start(t), m);
        assert_eq!(month_start(m), m);
    }
}
