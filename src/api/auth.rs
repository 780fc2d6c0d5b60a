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

/// Whether a page may show details: the header as for the API, or `?token=` (a status page
/// left open on a screen has no way to send a header).
pub fn page_viewer(
    ctx: ApiContext,
) -> impl Filter<Extract = (super::pages::Viewer,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .map(
            move |h: Option<String>, q: std::collections::HashMap<String, String>| {
                let by_query = q
                    .get("token")
                    .is_some_and(|t| is_authorized(&ctx, Some(&format!("Bearer {t}"))));
                super::pages::Viewer {
                    details: by_query || is_authorized(&ctx, h.as_deref()),
                }
            },
        )
}
