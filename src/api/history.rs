//! The JSON API over the stored history: raw results, availability and incidents.

use super::status::IncidentView;
use super::views;
use super::ApiContext;
use crate::availability::{Availability, Span};
use crate::duration;
use crate::store::queries::{self, HistoryRow, Latency};
use crate::store::summary::{self, Want};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use warp::http::{Response, StatusCode};

type Query = HashMap<String, String>;

/// Parses a time parameter: RFC 3339 or Unix seconds.
fn parse_time(key: &str, text: &str) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc).timestamp_millis());
    }
    text.parse::<i64>()
        .map(|s| s * 1000)
        .map_err(|_| format!("`{key}`: expected an RFC 3339 time (2026-01-31T12:00:00Z) or Unix seconds, got `{text}`"))
}

/// The `[from, to]` of a request: `from`/`to`, or `window` (default `default_window`) ending now.
fn range(q: &Query, default_window: &str) -> Result<Span, String> {
    let now = Utc::now().timestamp_millis();
    let to = q
        .get("to")
        .map(|t| parse_time("to", t))
        .transpose()?
        .unwrap_or(now);
    let from = match (q.get("from"), q.get("window")) {
        (Some(_), Some(_)) => return Err("give either `window` or `from`/`to`, not both".into()),
        (Some(f), None) => parse_time("from", f)?,
        (None, w) => {
            let w = w.map_or(default_window, String::as_str);
            let d = duration::parse(w).map_err(|e| format!("`window`: {e}"))?;
            to - d.as_millis() as i64
        }
    };
    if from > to {
        return Err("`from` must not be after `to`".into());
    }
    Ok(Span::new(from, to))
}

fn limit(q: &Query, default: u32, max: u32) -> Result<u32, String> {
    match q.get("limit") {
        None => Ok(default),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("`limit`: expected a number from 1 to {max}, got `{l}`")),
    }
}

#[derive(Serialize)]
struct HistoryItem {
    timestamp: Option<String>,
    #[serde(flatten)]
    row: HistoryRow,
}

/// `GET /api/v1/checks/NAME/history?from=&to=&limit=`: raw results, newest first.
pub async fn history(ctx: ApiContext, name: String, q: Query) -> Response<Vec<u8>> {
    if ctx.state.check(&name).is_none() {
        return views::error(StatusCode::NOT_FOUND, format!("no check named `{name}`"));
    }
    let (span, limit) = match range(&q, "24h").and_then(|s| Ok((s, limit(&q, 100, 10_000)?))) {
        Ok(v) => v,
        Err(e) => return views::error(StatusCode::BAD_REQUEST, e),
    };
    let lookup = name.clone();
    let rows = ctx
        .store
        .read(move |conn| match queries::check_id(conn, &lookup)? {
            Some(id) => queries::history(conn, id, span.start, span.end, limit),
            None => Ok(Vec::new()),
        })
        .await;
    match rows {
        Ok(rows) => {
            #[derive(Serialize)]
            struct Body {
                check: String,
                from: Option<String>,
                to: Option<String>,
                results: Vec<HistoryItem>,
            }
            let results = rows
                .into_iter()
                .map(|row| HistoryItem {
                    timestamp: views::rfc3339_ms(row.ts_ms),
                    row,
                })
                .collect();
            views::json(
                StatusCode::OK,
                &Body {
                    check: name,
                    from: views::rfc3339_ms(span.start),
                    to: views::rfc3339_ms(span.end),
                    results,
                },
            )
        }
        Err(e) => store_error(e),
    }
}

#[derive(Serialize)]
struct AvailabilityItem {
    #[serde(flatten)]
    availability: Availability,
    latency: Latency,
}

/// `GET /api/v1/availability?window=24h` or `?from=&to=`: per check availability, downtime,
/// incidents and latency percentiles.
pub async fn availability(ctx: ApiContext, q: Query) -> Response<Vec<u8>> {
    let span = match range(&q, "24h") {
        Ok(s) => s,
        Err(e) => return views::error(StatusCode::BAD_REQUEST, e),
    };
    let names = ctx.state.names();
    let now = ctx.store.now();
    let items = ctx
        .store
        .read(move |conn| {
            let summaries = summary::summary(conn, &names, span, now, Want::Latency)?;
            Ok(names
                .into_iter()
                .zip(summaries)
                .map(|(name, s)| {
                    let item = AvailabilityItem {
                        availability: s.availability,
                        latency: s.latency.unwrap_or_default(),
                    };
                    (name, item)
                })
                .collect::<Vec<_>>())
        })
        .await;
    match items {
        Ok(items) => {
            #[derive(Serialize)]
            struct Body<'a> {
                from: Option<String>,
                to: Option<String>,
                checks: views::Ordered<'a, &'a AvailabilityItem>,
            }
            let checks = views::Ordered(items.iter().map(|(n, i)| (n.as_str(), i)).collect());
            views::json(
                StatusCode::OK,
                &Body {
                    from: views::rfc3339_ms(span.start),
                    to: views::rfc3339_ms(span.end),
                    checks,
                },
            )
        }
        Err(e) => store_error(e),
    }
}

/// `GET /api/v1/incidents?check=&window=&from=&to=&limit=`: state changes, newest first.
pub async fn incidents(ctx: ApiContext, q: Query) -> Response<Vec<u8>> {
    let (span, limit) = match range(&q, "30d").and_then(|s| Ok((s, limit(&q, 100, 10_000)?))) {
        Ok(v) => v,
        Err(e) => return views::error(StatusCode::BAD_REQUEST, e),
    };
    let check = q.get("check").cloned();
    if let Some(name) = &check {
        if ctx.state.check(name).is_none() {
            return views::error(StatusCode::NOT_FOUND, format!("no check named `{name}`"));
        }
    }
    let rows = ctx
        .store
        .read(move |conn| {
            let id = match &check {
                Some(name) => match queries::check_id(conn, name)? {
                    Some(id) => Some(id),
                    None => return Ok(Vec::new()),
                },
                None => None,
            };
            queries::incidents(conn, id, span.start, span.end, limit)
        })
        .await;
    match rows {
        Ok(rows) => {
            #[derive(Serialize)]
            struct Item<'a> {
                id: i64,
                check: &'a str,
                #[serde(flatten)]
                view: IncidentView<'a>,
            }
            let now = Utc::now().timestamp_millis();
            let items: Vec<Item> = rows
                .iter()
                .map(|r| Item {
                    id: r.id,
                    check: &r.check,
                    view: IncidentView::from_row(r, now),
                })
                .collect();
            #[derive(Serialize)]
            struct Body<'a> {
                incidents: Vec<Item<'a>>,
            }
            views::json(StatusCode::OK, &Body { incidents: items })
        }
        Err(e) => store_error(e),
    }
}

fn store_error(e: crate::store::StoreError) -> Response<Vec<u8>> {
    tracing::error!(error = %e, "Could not read the health log.");
    views::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the health log cannot be read",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_accept_windows_or_explicit_times() {
        let q: Query = [("window".to_string(), "1h".to_string())].into();
        let s = range(&q, "24h").unwrap();
        assert_eq!(s.len(), 3_600_000);
        let q: Query = [
            ("from".into(), "2026-01-01T00:00:00Z".into()),
            ("to".into(), "1767229200".into()),
        ]
        .into();
        assert_eq!(range(&q, "24h").unwrap().len(), 3_600_000);
        let q: Query = [("from".into(), "yesterday".into())].into();
        assert!(range(&q, "24h").unwrap_err().contains("`from`"));
        let q: Query = [("limit".into(), "0".into())].into();
        assert!(limit(&q, 10, 100).is_err());
    }
}
