//! Probe endpoints for Kubernetes and load balancers: `/health`, `/health/live`,
//! `/health/ready`, `/health/startup` and `/health/NAME`. They read the latest state only.

use super::views::{self, check_views, code_for, latest_of, CheckView};
use super::ApiContext;
use crate::checks::Status;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use warp::http::{Response, StatusCode};

#[derive(Serialize)]
struct Health<'a> {
    status: Status,
    timestamp: String,
    checks: views::Ordered<'a, CheckView<'a>>,
}

/// How long a rendered probe body is served without a change of state: its `timestamp` is
/// at most this old.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// A probe response rendered for one version of the state.
struct Rendered {
    version: u64,
    at: Instant,
    response: Response<Vec<u8>>,
}

/// The last rendering of each probe body. Load balancers may ask thousands of times a second;
/// the state changes at most once per result.
#[derive(Default)]
pub struct Renders {
    health: RwLock<Option<Arc<Rendered>>>,
    health_draft: RwLock<Option<Arc<Rendered>>>,
    ready: RwLock<Option<Arc<Rendered>>>,
}

fn copy(response: &Response<Vec<u8>>) -> Response<Vec<u8>> {
    let mut out = Response::new(response.body().clone());
    *out.status_mut() = response.status();
    *out.headers_mut() = response.headers().clone();
    out
}

/// Serves the rendering in `slot` if it is of the current state and fresh; renders anew otherwise.
fn cached(
    ctx: &ApiContext,
    slot: &RwLock<Option<Arc<Rendered>>>,
    render: impl FnOnce() -> Response<Vec<u8>>,
) -> Response<Vec<u8>> {
    let version = ctx.state.version();
    if let Some(r) = slot.read().ok().and_then(|g| g.clone()) {
        if r.version == version && r.at.elapsed() < FRESH_FOR {
            return copy(&r.response);
        }
    }
    let response = render();
    if let Ok(mut g) = slot.write() {
        *g = Some(Arc::new(Rendered {
            version,
            at: Instant::now(),
            response: copy(&response),
        }));
    }
    response
}

/// `GET /health`: every check; 503 when unhealthy. Answers the IETF health+json draft format
/// when asked for it with `Accept: application/health+json`.
pub fn health(ctx: &ApiContext, accept: Option<&str>) -> Response<Vec<u8>> {
    if accept.is_some_and(|a| a.contains("application/health+json")) {
        cached(ctx, &ctx.renders().health_draft, || {
            let latest = latest_of(ctx.state.checks().iter());
            health_json_draft(ctx, ctx.state.overall(), &latest)
        })
    } else {
        cached(ctx, &ctx.renders().health, || render_health(ctx))
    }
}

fn render_health(ctx: &ApiContext) -> Response<Vec<u8>> {
    let latest = latest_of(ctx.state.checks().iter());
    let status = ctx.state.overall();
    views::json(
        code_for(status),
        &Health {
            status,
            timestamp: views::now(),
            checks: check_views(&latest),
        },
    )
}

/// The draft-inadarei-api-health-check format.
fn health_json_draft(
    ctx: &ApiContext,
    status: Status,
    latest: &[(
        &crate::state::CheckSlot,
        Option<std::sync::Arc<crate::result::CheckResult>>,
    )],
) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Component<'a> {
        component_id: &'a str,
        component_type: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        observed_value: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        observed_unit: Option<&'static str>,
        status: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        time: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<&'a str>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        status: &'static str,
        version: &'static str,
        release_id: &'static str,
        service_id: &'a str,
        description: String,
        checks: BTreeMap<String, Vec<Component<'a>>>,
    }
    fn word(s: Status) -> &'static str {
        match s {
            Status::Healthy => "pass",
            Status::Degraded | Status::Unknown => "warn",
            Status::Unhealthy => "fail",
        }
    }
    let mut checks = BTreeMap::new();
    for (slot, r) in latest {
        let r = r.as_deref();
        checks.insert(
            format!("{}:responseTime", slot.def.name),
            vec![Component {
                component_id: &slot.def.name,
                component_type: slot.def.kind,
                observed_value: r.map(crate::result::CheckResult::response_time_ms),
                observed_unit: r.map(|_| "ms"),
                status: word(r.map_or(Status::Unknown, |r| r.status)),
                time: r.map(|r| views::rfc3339(r.started_at)),
                output: r.and_then(|r| r.message.as_deref()),
            }],
        );
    }
    let service = ctx.state.service();
    let body = Body {
        status: word(status),
        version: "1",
        release_id: env!("CARGO_PKG_VERSION"),
        service_id: &service.name,
        description: format!("{} ({})", service.name, service.environment),
        checks,
    };
    views::json_as(code_for(status), &body, "application/health+json")
}

/// `GET /health/live`: the process serves; touches no dependency.
pub fn live(ctx: &ApiContext) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Live {
        status: &'static str,
        alive: bool,
        timestamp: String,
        uptime_seconds: u64,
    }
    views::json(
        StatusCode::OK,
        &Live {
            status: "alive",
            alive: true,
            timestamp: views::now(),
            uptime_seconds: ctx.state.uptime_seconds(),
        },
    )
}

/// `GET /health/ready`: 503 while a critical check is unhealthy or has no result yet.
pub fn ready(ctx: &ApiContext) -> Response<Vec<u8>> {
    cached(ctx, &ctx.renders().ready, || render_ready(ctx))
}

fn render_ready(ctx: &ApiContext) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Ready<'a> {
        status: &'static str,
        ready: bool,
        timestamp: String,
        checks: views::Ordered<'a, CheckView<'a>>,
    }
    let latest = latest_of(ctx.state.checks().iter().filter(|s| s.def.critical));
    let ready = ctx.state.ready();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = if ready { "ready" } else { "not_ready" };
    views::json(
        code,
        &Ready {
            status,
            ready,
            timestamp: views::now(),
            checks: check_views(&latest),
        },
    )
}

/// `GET /health/startup`: 503 until migrations ran and every check has a first result.
pub fn startup(ctx: &ApiContext) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Startup {
        started: bool,
        timestamp: String,
    }
    let started = ctx.state.started();
    let code = if started {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    views::json(
        code,
        &Startup {
            started,
            timestamp: views::now(),
        },
    )
}

/// `GET /health/NAME`: one check with its availability; 503 when it is unhealthy.
pub async fn one(ctx: ApiContext, name: String) -> Response<Vec<u8>> {
    let Some(slot) = ctx.state.check(&name) else {
        return group(&ctx, &name);
    };
    let latest = slot.latest();
    let availability = match super::status::availability_windows(&ctx, &name).await {
        Ok(a) => a.into_iter().map(|(w, a)| (w, a.percent)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, check = %name, "Could not read availability.");
            Vec::new()
        }
    };
    #[derive(Serialize)]
    struct One<'a> {
        name: &'a str,
        #[serde(flatten)]
        check: CheckView<'a>,
        observed: &'a crate::checks::Observed,
        availability: views::Ordered<'static, Option<f64>>,
        timestamp: String,
    }
    let empty = crate::checks::Observed::new();
    let view = CheckView::new(slot, latest.as_deref());
    let body = One {
        name: &slot.def.name,
        observed: latest.as_deref().map_or(&empty, |r| &r.observed),
        check: view,
        availability: views::Ordered(availability),
        timestamp: views::now(),
    };
    views::json(code_for(slot.status()), &body)
}

/// `GET /health/GROUP`: the checks of a `group`, with their combined status (a critical
/// check's failure makes it unhealthy, another's degrades it), 503 when unhealthy; 404 when
/// no check or group has the name.
fn group(ctx: &ApiContext, name: &str) -> Response<Vec<u8>> {
    let members: Vec<_> = ctx
        .state
        .checks()
        .iter()
        .filter(|s| s.def.group.as_deref() == Some(name))
        .collect();
    if members.is_empty() {
        return views::error(
            StatusCode::NOT_FOUND,
            format!("no check or group named `{name}`"),
        );
    }
    let status = crate::state::overall(members.iter().map(|s| (s.def.critical, s.status())));
    let latest = views::latest_of(members.into_iter());
    #[derive(Serialize)]
    struct Group<'a> {
        group: &'a str,
        status: Status,
        checks: views::Ordered<'a, CheckView<'a>>,
        timestamp: String,
    }
    views::json(
        code_for(status),
        &Group {
            group: name,
            status,
            checks: views::check_views(&latest),
            timestamp: views::now(),
        },
    )
}
