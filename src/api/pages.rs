//! HTML pages for the browser, rendered from `templates/`.

use super::views;
use super::ApiContext;
use crate::availability::Span;
use crate::checks::Status;
use crate::store::summary::{self, Want};
use askama::Template;
use chrono::Utc;
use warp::http::{Response, StatusCode};

struct CheckRow {
    name: String,
    kind: &'static str,
    critical: bool,
    status: &'static str,
    circuit_open: bool,
    message: Option<String>,
    response: String,
    availability: String,
    last_checked: String,
}

#[derive(Template)]
#[template(path = "pages/status.html")]
struct StatusPage {
    service: String,
    environment: String,
    overall: &'static str,
    generated: String,
    uptime: String,
    summary: String,
    checks: Vec<CheckRow>,
    hidden_messages: bool,
}

/// `GET /`: the status page. Without the token (when one is set) it hides error messages.
pub async fn status_page(ctx: ApiContext, authorized: bool) -> Response<Vec<u8>> {
    let names = ctx.state.names();
    let now = ctx.store.now();
    let availability: Vec<Option<f64>> = ctx
        .store
        .read(move |conn| {
            let day = Span::new(now.ms - 86_400_000, now.ms);
            let summaries = summary::summary(conn, &names, day, now, Want::Availability)?;
            Ok(summaries.iter().map(|s| s.availability.percent).collect())
        })
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "Status page: availability unavailable.");
            vec![None; ctx.state.checks().len()]
        });
    let show_messages = authorized || ctx.token.is_none();
    let mut counts = [0usize; 4];
    let checks = ctx
        .state
        .checks()
        .iter()
        .zip(availability)
        .map(|(slot, avail)| {
            let r = slot.latest();
            let status = r.as_ref().map_or(Status::Unknown, |r| r.status);
            counts[status as usize] += 1;
            CheckRow {
                name: slot.def.name.clone(),
                kind: slot.def.kind,
                critical: slot.def.critical,
                status: status.as_str(),
                circuit_open: r
                    .as_ref()
                    .is_some_and(|r| r.circuit == crate::breaker::CircuitState::Open),
                message: if show_messages {
                    r.as_ref().and_then(|r| r.message.clone())
                } else {
                    None
                },
                response: r
                    .as_ref()
                    .map_or("–".into(), |r| format!("{:.1} ms", r.response_time_ms())),
                availability: avail.map_or("no data".into(), |p| format!("{p:.3} %")),
                last_checked: r.as_ref().map_or("never".into(), |r| {
                    r.started_at.format("%H:%M:%S UTC").to_string()
                }),
            }
        })
        .collect();
    let service = ctx.state.service();
    let up = ctx.state.uptime_seconds();
    let page = StatusPage {
        service: service.name.clone(),
        environment: service.environment.clone(),
        overall: ctx.state.overall().as_str(),
        generated: Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        uptime: format!("{}h {:02}m", up / 3600, (up % 3600) / 60),
        summary: format!(
            "{} checks: {} healthy, {} degraded, {} unhealthy, {} unknown",
            ctx.state.checks().len(),
            counts[Status::Healthy as usize],
            counts[Status::Degraded as usize],
            counts[Status::Unhealthy as usize],
            counts[Status::Unknown as usize]
        ),
        checks,
        hidden_messages: !show_messages,
    };
    match page.render() {
        Ok(html) => views::respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            html.into_bytes(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "Could not render the status page.");
            views::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
        }
    }
}
