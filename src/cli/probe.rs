//! `healthmon probe [URL]`: GET a running daemon's `/health/ready`; for a Docker HEALTHCHECK
//! in an image without curl.

use std::process::ExitCode;
use std::time::Duration;

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The URL to request: a bare base URL gets `/health/ready`; a URL with a path is used as is.
pub fn target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.path() != "/" && !u.path().is_empty() => url.to_string(),
        _ => format!("{}/health/ready", url.trim_end_matches('/')),
    }
}

pub async fn run(url: Option<&str>) -> ExitCode {
    crate::install_tls_provider();
    let target = target(url.unwrap_or(DEFAULT_URL));
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("healthmon probe: {e}");
            return ExitCode::FAILURE;
        }
    };
    let safe = crate::redact::redact_url(&target);
    let (line, code) = match client.get(&target).send().await {
        Ok(r) => (
            format!("{} {safe}", r.status().as_u16()),
            if r.status().is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            },
        ),
        Err(e) => {
            // reqwest's own message is "error sending request"; the root cause says why.
            let e = e.without_url();
            let mut root: &dyn std::error::Error = &e;
            while let Some(next) = root.source() {
                root = next;
            }
            (format!("unreachable {safe}: {root}"), ExitCode::FAILURE)
        }
    };
    super::emit(&format!("{line}\n"));
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_gets_the_readiness_path() {
        assert_eq!(
            target("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/health/ready"
        );
        assert_eq!(
            target("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/health/ready"
        );
        assert_eq!(target("http://h:1/health/live"), "http://h:1/health/live");
    }
}
