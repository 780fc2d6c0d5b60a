//! `GET /api/v1/alerts` (the stored alerts with their notifications) and
//! `POST /api/v1/alerts/ID/ack`.

use super::views;
use super::ApiContext;
use crate::alerts::engine::AckOutcome;
use crate::store::alerts::{self as alert_store, AlertFilter, AlertRow, NotificationState};
use serde::Serialize;
use std::collections::HashMap;
use warp::http::{Response, StatusCode};

#[derive(Serialize)]
struct NotificationView {
    notifier: String,
    event: String,
    state: String,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct AlertJson {
    id: i64,
    kind: String,
    check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
    level: String,
    state: String,
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledged_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    notifications: Vec<NotificationView>,
}

impl AlertJson {
    fn new(a: AlertRow, notes: Vec<NotificationState>) -> Self {
        AlertJson {
            id: a.id,
            kind: a.kind,
            check: a.check,
            rule: a.rule,
            level: a.level,
            state: a.state,
            started_at: views::rfc3339_ms(a.started_ms),
            resolved_at: a.resolved_ms.and_then(views::rfc3339_ms),
            acknowledged_at: a.acknowledged_ms.and_then(views::rfc3339_ms),
            duration_seconds: a
                .resolved_ms
                .map(|end| (end - a.started_ms).max(0) as f64 / 1000.0),
            value: a.value,
            message: a.message,
            notifications: notes
                .into_iter()
                .map(|n| NotificationView {
                    notifier: n.notifier,
                    event: n.event,
                    state: n.state,
                    attempts: n.attempts,
                    sent_at: n.sent_ms.and_then(views::rfc3339_ms),
                    error: n.error,
                })
                .collect(),
        }
    }
}

/// `GET /api/v1/alerts?check=&state=&limit=`: newest first.
pub async fn list(ctx: ApiContext, q: HashMap<String, String>) -> Response<Vec<u8>> {
    let state = q.get("state").cloned();
    if let Some(s) = &state {
        if !["firing", "acknowledged", "resolved"].contains(&s.as_str()) {
            return views::error(
                StatusCode::BAD_REQUEST,
                format!("`state`: expected firing, acknowledged or resolved, got `{s}`"),
            );
        }
    }
    let check = q.get("check").cloned();
    if let Some(name) = &check {
        if ctx.state.check(name).is_none() {
            return views::error(StatusCode::NOT_FOUND, format!("no check named `{name}`"));
        }
    }
    let limit = match q.get("limit").map(|l| l.parse::<u32>()) {
        None => 100,
        Some(Ok(n)) if (1..=10_000).contains(&n) => n,
        Some(_) => {
            return views::error(
                StatusCode::BAD_REQUEST,
                "`limit`: expected a number from 1 to 10000",
            )
        }
    };
    let filter = AlertFilter {
        check,
        state,
        limit,
    };
    match ctx
        .store
        .read(move |conn| alert_store::list_alerts(conn, &filter))
        .await
    {
        Ok(rows) => {
            #[derive(Serialize)]
            struct Body {
                alerts: Vec<AlertJson>,
            }
            let alerts = rows
                .into_iter()
                .map(|(a, n)| AlertJson::new(a, n))
                .collect();
            views::json(StatusCode::OK, &Body { alerts })
        }
        Err(e) => {
            tracing::error!(error = %e, "Could not read the alerts.");
            views::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the alerts cannot be read",
            )
        }
    }
}

/// `POST /api/v1/alerts/ID/ack`: no more reminders for a firing alert until it resolves.
pub async fn ack(ctx: ApiContext, id: String) -> Response<Vec<u8>> {
    let Ok(id) = id.parse::<i64>() else {
        return views::error(StatusCode::NOT_FOUND, format!("no alert {id}"));
    };
    match ctx.alerting.acknowledge(id).await {
        Some(AckOutcome::Acknowledged(view, seq)) => {
            // Answer once it is recorded, so the next GET shows it; a failing store delays
            // the record, not the acknowledgement (the engine has it already).
            ctx.store_monitor
                .wait_committed(seq, std::time::Duration::from_secs(5))
                .await;
            views::json(StatusCode::OK, &view)
        }
        Some(AckOutcome::AlreadyResolved) => views::error(
            StatusCode::CONFLICT,
            format!("alert {id} is resolved; there is nothing to acknowledge"),
        ),
        Some(AckOutcome::NotFound) => {
            views::error(StatusCode::NOT_FOUND, format!("no open alert {id}"))
        }
        None => views::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the alert engine is stopping",
        ),
    }
}
