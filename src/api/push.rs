//! `POST /api/v1/push/TOKEN`: a heartbeat from a job watched by a `push` check.

use super::views;
use super::ApiContext;
use crate::checks::push::Beat;
use chrono::Utc;
use serde::Serialize;
use std::collections::HashMap;
use warp::http::{Response, StatusCode};

/// Longest job message kept.
const MESSAGE_LIMIT: usize = 300;

/// Records a heartbeat. `?status=ok|fail` (default ok) and `?message=...` are optional. An
/// unknown token is 404 and records nothing.
pub fn push(ctx: &ApiContext, token: &str, query: &HashMap<String, String>) -> Response<Vec<u8>> {
    let Some(beats) = ctx.push.find(token) else {
        return views::error(StatusCode::NOT_FOUND, "unknown push token");
    };
    let ok = match query
        .get("status")
        .map(|s| s.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("ok" | "up" | "success") => true,
        Some("fail" | "failure" | "down" | "error") => false,
        Some(other) => {
            return views::error(
                StatusCode::BAD_REQUEST,
                format!("`status`: expected ok or fail, got `{other}`"),
            );
        }
    };
    let message = query
        .get("message")
        .map(|m| m.chars().take(MESSAGE_LIMIT).collect::<String>())
        .filter(|m| !m.is_empty());
    beats.record(Beat {
        at: Utc::now(),
        ok,
        message,
    });
    #[derive(Serialize)]
    struct Body<'a> {
        ok: bool,
        check: &'a str,
        status: &'static str,
    }
    views::json(
        StatusCode::OK,
        &Body {
            ok: true,
            check: &beats.check,
            status: if ok { "ok" } else { "fail" },
        },
    )
}
