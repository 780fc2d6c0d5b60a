//! `GET /report?hours=N` (or `since`/`until`, `month`, `tz`, `check`): the report of
//! `healthmon report --format html`, built from the store on request.

use super::{html, nonce, Viewer};
use crate::report::period::Ask;
use crate::report::{self, render, Request};
use std::collections::HashMap;
use warp::http::{Response, StatusCode};

/// The longest period `GET /report` covers.
const MAX_DAYS: i64 = 400;

pub async fn page(
    ctx: super::super::ApiContext,
    q: HashMap<String, String>,
    viewer: Viewer,
) -> Response<Vec<u8>> {
    let bad = |e: String| super::error_page(StatusCode::BAD_REQUEST, e);
    let ask = Ask {
        hours: q.get("hours").cloned(),
        since: q.get("since").cloned(),
        until: q.get("until").cloned(),
        month: q.get("month").cloned(),
        tz: q.get("tz").cloned(),
    };
    let now = ctx.store.now();
    let period = match ask.resolve(now.ms, "") {
        Ok(p) => p,
        Err(e) => return bad(e.to_string()),
    };
    // A page anyone may ask for: its cost is bounded (the command has no such limit).
    if period.end - period.start > MAX_DAYS * 86_400_000 {
        return bad(format!(
            "a report page covers at most {MAX_DAYS} days; `healthmon report` covers any period"
        ));
    }
    let only: Vec<String> = q.get("check").into_iter().cloned().collect();
    let subjects = match report::subjects_of(
        ctx.state.checks().iter().map(|s| &*s.def),
        &ctx.alerting.setup,
        &only,
    ) {
        Ok(s) => s,
        Err(e) => return bad(e.trim_start_matches("--").to_string()),
    };
    let service = ctx.state.service().name.clone();
    let details = viewer.details;
    let built = ctx
        .store
        .read(move |conn| {
            let req = Request {
                service: &service,
                subjects: &subjects,
                period: &period,
                now,
                days: true,
                details,
            };
            report::build(conn, &req, &mut |_, _| {})
        })
        .await;
    match built {
        Ok(r) => {
            let nonce = nonce();
            html(
                StatusCode::OK,
                &nonce,
                render::html(&r, Some(&nonce), !details),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "Report page: the store cannot be read.");
            super::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the health log cannot be read",
            )
        }
    }
}
