//! JSON shapes shared by the endpoints, and response helpers.

use crate::checks::Status;
use crate::result::CheckResult;
use crate::state::CheckSlot;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::sync::Arc;
use warp::http::{header, Response, StatusCode};

pub use crate::time::{now, rfc3339, rfc3339_ms};

/// A JSON object whose keys keep the given order (the config's order of checks).
pub struct Ordered<'a, V>(pub Vec<(&'a str, V)>);

impl<V: Serialize> Serialize for Ordered<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A check as `/health`, `/health/ready` and `/status` show it.
#[derive(Serialize)]
pub struct CheckView<'a> {
    pub status: Status,
    pub kind: &'a str,
    pub critical: bool,
    pub response_time_ms: Option<f64>,
    pub last_checked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
    pub circuit: &'static str,
}

impl<'a> CheckView<'a> {
    pub fn new(slot: &'a CheckSlot, latest: Option<&'a CheckResult>) -> Self {
        CheckView {
            status: latest.map_or(Status::Unknown, |r| r.status),
            kind: slot.def.kind,
            critical: slot.def.critical,
            response_time_ms: latest.map(CheckResult::response_time_ms),
            last_checked: latest.map(|r| rfc3339(r.started_at)),
            message: latest.and_then(|r| r.message.as_deref()),
            circuit: latest.map_or("closed", |r| r.circuit.as_str()),
        }
    }
}

/// The latest result of each slot, held so views can borrow from it.
pub fn latest_of<'a>(
    slots: impl Iterator<Item = &'a CheckSlot>,
) -> Vec<(&'a CheckSlot, Option<Arc<CheckResult>>)> {
    slots.map(|s| (s, s.latest())).collect()
}

pub fn check_views<'a>(
    latest: &'a [(&'a CheckSlot, Option<Arc<CheckResult>>)],
) -> Ordered<'a, CheckView<'a>> {
    Ordered(
        latest
            .iter()
            .map(|(slot, r)| (slot.def.name.as_str(), CheckView::new(slot, r.as_deref())))
            .collect(),
    )
}

/// A JSON response that no cache keeps.
pub fn json<T: Serialize>(code: StatusCode, body: &T) -> Response<Vec<u8>> {
    json_as(code, body, "application/json")
}

pub fn json_as<T: Serialize>(
    code: StatusCode,
    body: &T,
    content_type: &'static str,
) -> Response<Vec<u8>> {
    match serde_json::to_vec(body) {
        Ok(bytes) => respond(code, content_type, bytes),
        Err(e) => {
            tracing::error!(error = %e, "Could not serialize a response.");
            respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                br#"{"error":"internal error"}"#.to_vec(),
            )
        }
    }
}

pub fn respond(code: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
}

/// `{"error": "..."}` with the given code.
pub fn error(code: StatusCode, message: impl Into<String>) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Body {
        error: String,
    }
    json(
        code,
        &Body {
            error: message.into(),
        },
    )
}

/// 200 unless the status is unhealthy (503), as load balancers expect.
pub fn code_for(status: Status) -> StatusCode {
    if status == Status::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}
