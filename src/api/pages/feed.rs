//! `GET /feed.atom`: the incidents of the last 90 days as an Atom feed (RFC 4287), newest
//! first, so people can follow outages in a feed reader. An entry's update time is its end,
//! so readers show a resolution as news. First errors are hidden as on the pages.

use super::{human, Viewer};
use crate::store::queries;
use crate::svg::escape;
use crate::time::rfc3339_ms;
use std::fmt::Write;
use warp::http::{Response, StatusCode};

const DAYS: i64 = 90;
const ENTRIES: u32 = 100;

pub async fn feed(ctx: super::super::ApiContext, viewer: Viewer) -> Response<Vec<u8>> {
    let now = ctx.store.now();
    let read = ctx
        .store
        .read(move |conn| {
            queries::incidents(conn, None, now.ms - DAYS * 86_400_000, now.ms, ENTRIES)
        })
        .await;
    let rows = match read {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "Feed: the store cannot be read.");
            return super::super::views::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the health log cannot be read",
            );
        }
    };
    let name = &ctx.state.service().name;
    let service = escape(name);
    // A URN allows letters, digits and a few marks: the rest of a service's name becomes `-`.
    let urn: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stamp = |ms: i64| rfc3339_ms(ms).unwrap_or_default();
    let updated = rows
        .iter()
        .map(|r| r.ended_ms.unwrap_or(r.started_ms))
        .max()
        .unwrap_or(now.ms);
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>{service}: incidents</title>
<id>urn:healthmon:{urn}:incidents</id>
<updated>{}</updated>
<link rel="alternate" href="/"/>
<generator>healthmon</generator>
"#,
        stamp(updated)
    );
    for r in &rows {
        let check = escape(&r.check);
        let duration = human((r.ended_ms.unwrap_or(now.ms) - r.started_ms) as f64 / 1000.0);
        let (title, summary) = match r.ended_ms {
            Some(end) => (
                format!("{check} was down for {duration}"),
                format!(
                    "From {} to {}: {duration}.",
                    stamp(r.started_ms),
                    stamp(end)
                ),
            ),
            None => (
                format!("{check} is down"),
                format!("Since {}: {duration} so far.", stamp(r.started_ms)),
            ),
        };
        let error = match (&r.message, viewer.details) {
            (Some(m), true) => format!(" First error: {}", escape(m)),
            _ => String::new(),
        };
        let _ = write!(
            xml,
            r#"<entry>
<title>{title}</title>
<id>urn:healthmon:{urn}:incident:{id}</id>
<published>{published}</published>
<updated>{updated}</updated>
<link rel="alternate" href="/checks/{check}"/>
<summary>{summary}{error}</summary>
</entry>
"#,
            id = r.id,
            published = stamp(r.started_ms),
            updated = stamp(r.ended_ms.unwrap_or(r.started_ms)),
        );
    }
    xml.push_str("</feed>\n");
    super::super::views::respond(
        StatusCode::OK,
        "application/atom+xml; charset=utf-8",
        xml.into_bytes(),
    )
}
