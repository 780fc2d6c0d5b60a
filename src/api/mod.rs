//! The HTTP API (warp): probes, status, metrics, history and pages.
//!
//! Every endpoint reads the latest in-memory state or the store; none runs a check. Every
//! path also answers with a trailing slash and under the `/api/v1` prefix.

mod alerts;
mod auth;
mod history;
mod pages;
mod probes;
mod push;
mod status;
pub mod views;

use crate::metrics::Metrics;
use crate::redact::Secret;
use crate::state::State;
use crate::store::writer::StoreMonitor;
use crate::store::Store;
use crate::system::CpuGauge;
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use warp::http::{Response, StatusCode};
use warp::{Filter, Rejection};

/// What the handlers read.
pub struct ApiParts {
    pub state: State,
    pub store: Store,
    /// How the store writer is doing (it may be failing while reads still work).
    pub store_monitor: StoreMonitor,
    /// The alert engine's state, and acknowledgements.
    pub alerting: crate::alerts::AlertingHandle,
    pub metrics: Arc<Metrics>,
    pub token: Option<Secret>,
    /// The directory holding the database, whose disk `/health/detailed` reports.
    pub data_dir: PathBuf,
    /// Tokens of the push checks.
    pub push: crate::checks::push::PushTokens,
}

/// The handlers' view of the daemon: one `Arc`, so a request clones a pointer, not the parts.
#[derive(Clone)]
pub struct ApiContext(Arc<Shared>);

pub struct Shared {
    parts: ApiParts,
    pub(crate) cpu: CpuGauge,
    /// Probe bodies rendered once per change of state, not once per request.
    pub(crate) renders: probes::Renders,
    /// The status page's drawn history, redrawn every few seconds at most.
    status_history: pages::status::Cache,
}

impl ApiContext {
    pub fn new(parts: ApiParts) -> Self {
        ApiContext(Arc::new(Shared {
            parts,
            cpu: CpuGauge::default(),
            renders: probes::Renders::default(),
            status_history: pages::status::Cache::default(),
        }))
    }
}

impl ApiContext {
    pub(crate) fn cpu(&self) -> &CpuGauge {
        &self.0.cpu
    }

    fn status_history(&self) -> &pages::status::Cache {
        &self.0.status_history
    }

    pub(crate) fn renders(&self) -> &probes::Renders {
        &self.0.renders
    }
}

impl std::ops::Deref for ApiContext {
    type Target = ApiParts;

    fn deref(&self) -> &ApiParts {
        &self.0.parts
    }
}

type Reply = Response<Vec<u8>>;

/// All routes, with the `/api/v1` prefix variant and JSON errors.
pub fn routes(ctx: ApiContext) -> impl Filter<Extract = (Reply,), Error = Infallible> + Clone {
    let probes = probe_routes(ctx.clone());
    let ctx_pages = ctx.clone();
    let others = other_routes(ctx);
    // The probes that load balancers and kubelets call many times a second are tried first,
    // unboxed, ahead of the `/api/v1` prefix and the other routes: about a tenth more
    // requests a second on /health/live than behind them. An unprefixed path is tried
    // against each group once.
    let prefixed = warp::path!("api" / "v1" / ..).and(probes.clone().or(others.clone()).unify());
    let pages = page_routes(ctx_pages);
    probes
        .or(prefixed)
        .unify()
        .or(others)
        .unify()
        .or(pages)
        .unify()
        .recover(handle_rejection)
        .unify()
}

/// Adds the context to a filter's extractions.
fn with_ctx(ctx: ApiContext) -> impl Filter<Extract = (ApiContext,), Error = Infallible> + Clone {
    warp::any().map(move || ctx.clone())
}

/// The pages for people and feeds, outside the `/api/v1` prefix.
fn page_routes(ctx: ApiContext) -> warp::filters::BoxedFilter<(Reply,)> {
    let get = warp::get();
    let viewer = || auth::page_viewer(ctx.clone());
    let status = get
        .and(warp::path::end())
        .and(with_ctx(ctx.clone()))
        .and(viewer())
        .then(pages::status::page);
    let check = get
        .and(warp::path!("checks" / String))
        .and(with_ctx(ctx.clone()))
        .and(viewer())
        .then(|name, ctx, viewer| pages::check::page(ctx, name, viewer));
    let badge = get
        .and(warp::path!("badge" / String))
        .and(with_ctx(ctx.clone()))
        .and(warp::query::<HashMap<String, String>>())
        .then(|file, ctx, q| pages::badge::badge(ctx, file, q));
    let feed = get
        .and(warp::path!("feed.atom"))
        .and(with_ctx(ctx.clone()))
        .and(viewer())
        .then(pages::feed::feed);
    let report = get
        .and(warp::path!("report"))
        .and(with_ctx(ctx.clone()))
        .and(warp::query::<HashMap<String, String>>())
        .and(viewer())
        .then(pages::report::page);
    status
        .or(check)
        .unify()
        .or(badge)
        .unify()
        .or(feed)
        .unify()
        .or(report)
        .unify()
        .boxed()
}

/// `/health`, `/health/live`, `/health/ready` and `/health/startup`.
fn probe_routes(ctx: ApiContext) -> impl Filter<Extract = (Reply,), Error = Rejection> + Clone {
    let get = warp::get();
    let health = get
        .and(warp::path!("health"))
        .and(with_ctx(ctx.clone()))
        .and(warp::header::optional::<String>("accept"))
        .map(|ctx: ApiContext, accept: Option<String>| probes::health(&ctx, accept.as_deref()));
    let live = get
        .and(warp::path!("health" / "live"))
        .and(with_ctx(ctx.clone()))
        .map(|ctx: ApiContext| probes::live(&ctx));
    let ready = get
        .and(warp::path!("health" / "ready"))
        .and(with_ctx(ctx.clone()))
        .map(|ctx: ApiContext| probes::ready(&ctx));
    let startup = get
        .and(warp::path!("health" / "startup"))
        .and(with_ctx(ctx))
        .map(|ctx: ApiContext| probes::startup(&ctx));
    live.or(health)
        .unify()
        .or(ready)
        .unify()
        .or(startup)
        .unify()
}

fn other_routes(ctx: ApiContext) -> warp::filters::BoxedFilter<(Reply,)> {
    let c = ctx.clone();
    let with = move || with_ctx(c.clone());
    let protected = || auth::require(ctx.clone());
    let get = warp::get();
    let query = || warp::query::<HashMap<String, String>>();

    let detailed = get
        .and(warp::path!("health" / "detailed"))
        .and(protected())
        .and(with())
        .then(status::detailed);
    // Reserved names are the other /health/ paths; rejecting them here lets their own
    // rejection (401 for /health/detailed without the token) stand.
    let one = get
        .and(warp::path!("health" / String))
        .and_then(|name: String| async move {
            if crate::config::RESERVED_NAMES.contains(&name.as_str()) {
                Err(warp::reject::not_found())
            } else {
                Ok(name)
            }
        })
        .and(with())
        .then(|name, ctx| probes::one(ctx, name));
    let status = get
        .and(warp::path!("status"))
        .and(with())
        .map(|ctx: ApiContext| status::status(&ctx));
    let metrics = get
        .and(warp::path!("metrics"))
        .and(with())
        .and(warp::header::optional::<String>("accept"))
        .map(|ctx: ApiContext, accept: Option<String>| {
            let format = crate::metrics::Format::negotiate(accept.as_deref());
            let body = ctx.metrics.render(
                ctx.state.overall(),
                &ctx.store_monitor.health(),
                Some(&ctx.alerting),
            );
            let body = match format {
                crate::metrics::Format::Text => crate::metrics::to_prometheus_text(&body),
                crate::metrics::Format::OpenMetrics => body,
            };
            views::respond(StatusCode::OK, format.content_type(), body.into_bytes())
        });
    let history = get
        .and(warp::path!("checks" / String / "history"))
        .and(protected())
        .and(with())
        .and(query())
        .then(|name, ctx, q| history::history(ctx, name, q));
    let availability = get
        .and(warp::path!("availability"))
        .and(protected())
        .and(with())
        .and(query())
        .then(history::availability);
    let incidents = get
        .and(warp::path!("incidents"))
        .and(protected())
        .and(with())
        .and(query())
        .then(history::incidents);
    let alerts = get
        .and(warp::path!("alerts"))
        .and(protected())
        .and(with())
        .and(query())
        .then(alerts::list);
    // The path first: a GET elsewhere must stay a 404, not become a 405 of this route.
    let ack = warp::path!("alerts" / String / "ack")
        .and(warp::post())
        .and(protected())
        .and(with())
        .then(|id, ctx| alerts::ack(ctx, id));
    // Cron jobs often only have `curl URL` (a GET) at hand, so GET is accepted too.
    let push = warp::post()
        .or(warp::get())
        .unify()
        .and(warp::path!("push" / String))
        .and(with())
        .and(query())
        .map(
            |token: String, ctx: ApiContext, q: HashMap<String, String>| {
                push::push(&ctx, &token, &q)
            },
        );

    detailed
        .or(one)
        .unify()
        .or(status)
        .unify()
        .or(metrics)
        .unify()
        .or(history)
        .unify()
        .or(availability)
        .unify()
        .or(incidents)
        .unify()
        .or(alerts)
        .unify()
        .or(ack)
        .unify()
        .or(push)
        .unify()
        .boxed()
}

async fn handle_rejection(r: Rejection) -> Result<Reply, Infallible> {
    let (code, message) = if r.is_not_found() {
        (StatusCode::NOT_FOUND, "not found".to_string())
    } else if r.find::<auth::Unauthorized>().is_some() {
        let mut response = views::error(
            StatusCode::UNAUTHORIZED,
            "this endpoint needs Authorization: Bearer <token>",
        );
        response.headers_mut().insert(
            warp::http::header::WWW_AUTHENTICATE,
            warp::http::HeaderValue::from_static("Bearer"),
        );
        return Ok(response);
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed".to_string(),
        )
    } else if let Some(e) = r.find::<warp::reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, e.to_string())
    } else {
        tracing::warn!(rejection = ?r, "Unhandled rejection.");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error".to_string(),
        )
    };
    Ok(views::error(code, message))
}
