//! `GET /badge/NAME.svg`: a README badge of a check's state, or with `?window=30d` of its
//! availability over that window (at most 90 days). Public, as the state is on `/health`; it
//! never shows a message.

use crate::availability::Span;
use crate::checks::Status;
use crate::store::summary::{self, Want};
use crate::svg;
use std::collections::HashMap;
use warp::http::{header, HeaderValue, Response, StatusCode};

const MAX_WINDOW_MS: i64 = 90 * 86_400_000;

fn svg_response(code: StatusCode, body: String) -> Response<Vec<u8>> {
    let mut r = super::super::views::respond(code, "image/svg+xml", body.into_bytes());
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    r
}

pub async fn badge(
    ctx: super::super::ApiContext,
    file: String,
    q: HashMap<String, String>,
) -> Response<Vec<u8>> {
    let Some(name) = file.strip_suffix(".svg") else {
        return super::super::views::error(StatusCode::NOT_FOUND, "badges end in .svg");
    };
    let Some(slot) = ctx.state.check(name) else {
        return super::super::views::error(
            StatusCode::NOT_FOUND,
            format!("no check named `{name}`"),
        );
    };
    let Some(window) = q.get("window") else {
        let status = slot.latest().map_or(Status::Unknown, |r| r.status);
        let class = match status {
            Status::Healthy => "ok",
            Status::Degraded => "warn",
            Status::Unhealthy => "bad",
            Status::Unknown => "unk",
        };
        return svg_response(StatusCode::OK, svg::badge(name, status.as_str(), class));
    };
    let len = match crate::duration::parse(window) {
        Ok(d) if d.as_millis() > 0 && d.as_millis() <= MAX_WINDOW_MS as u128 => {
            d.as_millis() as i64
        }
        _ => {
            return super::super::views::error(
                StatusCode::BAD_REQUEST,
                format!(
                    "`window`: expected a duration up to 90d such as 30d or 24h, got `{window}`"
                ),
            )
        }
    };
    let now = ctx.store.now();
    let names = vec![name.to_string()];
    let read = ctx
        .store
        .read(move |conn| {
            summary::summary(
                conn,
                &names,
                Span::new(now.ms - len, now.ms),
                now,
                Want::Availability,
            )
        })
        .await;
    match read {
        Ok(s) => {
            let p = s.first().and_then(|s| s.availability.percent);
            let class = match p {
                None => "unk",
                Some(p) if p >= 99.9 => "ok",
                Some(p) if p >= 99.0 => "warn",
                Some(_) => "bad",
            };
            let value = p.map_or("no data".into(), |p| format!("{p:.2} %"));
            svg_response(
                StatusCode::OK,
                svg::badge(&format!("{name} {window}"), &value, class),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "Badge: the store cannot be read.");
            svg_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                svg::badge(name, "store error", "unk"),
            )
        }
    }
}
