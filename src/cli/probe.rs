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
    match client.get(&target).send().await {
        Ok(r) if r.status().is_success() => {
            println!(
                "{} {}",
                r.status().as_u16(),
                crate::redact::redact_url(&target)
            );
            ExitCode::SUCCESS
        }
        Ok(r) => {
            println!(
                "{} {}",
                r.status().as_u16(),
                crate::redact::redact_url(&target)
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            println!(
                "unreachable {}: {}",
                crate::redact::redact_url(&target),
                e.without_url()
            );
            ExitCode::FAILURE
        }
    }
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
