//! HTML pages and their companions for people and feeds: the status page, a page per check,
//! badges and the incidents feed. Rendered from `templates/pages/` with charts from
//! [`crate::svg`]; they read the latest state and the store's summary, never run a check.

pub mod badge;
pub mod check;
pub mod feed;
pub mod report;
pub mod status;

pub use crate::present::{day_cell, human, percent, when};

use super::views;
use warp::http::{header, HeaderValue, Response, StatusCode};

/// Who is looking: with `[server] token` set and not presented, error messages and targets
/// stay hidden, as the probes do.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub details: bool,
}

/// A random nonce for the page's own `<style>` and `<script>`: the CSP allows those two and
/// nothing else inline, so markup that slipped through escaping still could not run.
fn nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(askama::Template)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    nonce: &'a str,
    generated: String,
    title: &'a str,
    message: &'a str,
}

/// What a person sees when a page cannot be shown: an HTML page, not the API's JSON.
pub fn error_page(code: StatusCode, message: impl AsRef<str>) -> Response<Vec<u8>> {
    use askama::Template;
    let nonce = nonce();
    let title = code.canonical_reason().unwrap_or("Error");
    let page = ErrorPage {
        nonce: &nonce,
        generated: when(crate::time::now_ms()),
        title,
        message: message.as_ref(),
    };
    html(code, &nonce, page.render())
}

/// An HTML answer with the page's Content-Security-Policy.
fn html(code: StatusCode, nonce: &str, body: Result<String, askama::Error>) -> Response<Vec<u8>> {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "Could not render a page.");
            return views::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            );
        }
    };
    let mut response = views::respond(code, "text/html; charset=utf-8", body.into_bytes());
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
