//! Bearer-token protection for endpoints that show history and errors. Probes stay open.

use super::ApiContext;
use subtle::ConstantTimeEq;
use warp::Filter;

/// A request that lacked the token.
#[derive(Debug)]
pub struct Unauthorized;

impl warp::reject::Reject for Unauthorized {}

/// True when no token is configured, or the request carries `Authorization: Bearer TOKEN`.
/// The comparison takes the same time whatever the guess.
pub fn is_authorized(ctx: &ApiContext, header: Option<&str>) -> bool {
    let Some(token) = &ctx.token else { return true };
    let presented = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes()))
}

/// Rejects with [`Unauthorized`] unless [`is_authorized`].
pub fn require(ctx: ApiContext) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let ok = is_authorized(&ctx, header.as_deref());
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(warp::reject::custom(Unauthorized))
                }
            }
        })
        .untuple_one()
}

/// Whether the request is authorized, without rejecting (for pages that degrade instead).
pub fn check(ctx: ApiContext) -> impl Filter<Extract = (bool,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .map(move |h: Option<String>| is_authorized(&ctx, h.as_deref()))
}
