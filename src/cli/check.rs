//! `healthmon check`: every check once, now, with the Nagios exit codes.

use crate::checks::{Observed, Outcome, Status};
use crate::config::CheckDef;
use crate::duration;
use crate::state;
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

struct Ran {
    def: Arc<CheckDef>,
    outcome: Outcome,
    elapsed_ms: f64,
}

async fn probe(def: Arc<CheckDef>) -> Ran {
    let started = Instant::now();
    let mut outcome = match tokio::time::timeout(def.timeout, def.check.probe()).await {
        Ok(o) => o,
        Err(_) => Outcome::unhealthy(format!("timed out after {}", duration::format(def.timeout))),
    };
    outcome.message = outcome.message.map(|m| def.secrets.scrub(&m));
    Ran {
        def,
        outcome,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// The Nagios plugin exit code for a status.
pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::Healthy => 0,
        Status::Degraded => 1,
        Status::Unhealthy => 2,
        Status::Unknown => 3,
    }
}

pub async fn run(config: Option<&Path>, json: bool, critical_only: bool) -> ExitCode {
    let config = match super::load_config(config) {
        Ok(c) => c,
        Err(e) => return super::config_failure(&e),
    };
    crate::install_tls_provider();
    let defs: Vec<Arc<CheckDef>> = config
        .checks
        .into_iter()
        .filter(|d| d.critical || !critical_only)
        .collect();
    let ran = futures::future::join_all(defs.into_iter().map(probe)).await;
    let overall = state::overall(ran.iter().map(|r| (r.def.critical, r.outcome.status)));
    if json {
        print_json(overall, &ran);
    } else {
        print_table(overall, &ran);
    }
    ExitCode::from(exit_code(overall))
}

fn print_json(overall: Status, ran: &[Ran]) {
    #[derive(Serialize)]
    struct Item<'a> {
        status: Status,
        kind: &'a str,
        critical: bool,
        response_time_ms: f64,
        message: Option<&'a str>,
        observed: &'a Observed,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        status: Status,
        timestamp: String,
        checks: crate::api::views::Ordered<'a, Item<'a>>,
    }
    let checks = ran
        .iter()
        .map(|r| {
            let item = Item {
                status: r.outcome.status,
                kind: r.def.kind,
                critical: r.def.critical,
                response_time_ms: (r.elapsed_ms * 1000.0).round() / 1000.0,
                message: r.outcome.message.as_deref(),
                observed: &r.outcome.observed,
            };
            (r.def.name.as_str(), item)
        })
        .collect();
    let body = Body {
        status: overall,
        timestamp: crate::time::now(),
        checks: crate::api::views::Ordered(checks),
    };
    match serde_json::to_string_pretty(&body) {
        Ok(s) => super::emit(&format!("{s}\n")),
        Err(e) => eprintln!("healthmon: cannot print JSON: {e}"),
    }
}

fn print_table(overall: Status, ran: &[Ran]) {
    let count = |s: Status| ran.iter().filter(|r| r.outcome.status == s).count();
    let word = match overall {
        Status::Healthy => "OK",
        Status::Degraded => "WARNING",
        Status::Unhealthy => "CRITICAL",
        Status::Unknown => "UNKNOWN",
    };
    // Built whole, then written once: see `emit`.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{word}: {} checks, {} healthy, {} degraded, {} unhealthy",
        ran.len(),
        count(Status::Healthy),
        count(Status::Degraded),
        count(Status::Unhealthy)
    );
    if ran.is_empty() {
        super::emit(&out);
        return;
    }
    let width = ran
        .iter()
        .map(|r| r.def.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        out,
        "{:<10} {:<width$} {:<8} {:>10}  MESSAGE",
        "STATUS", "CHECK", "KIND", "TIME"
    );
    for r in ran {
        let name = if r.def.critical {
            format!("{}*", r.def.name)
        } else {
            r.def.name.clone()
        };
        let _ = writeln!(
            out,
            "{:<10} {:<width$} {:<8} {:>8.1}ms  {}",
            r.outcome.status.as_str(),
            name,
            r.def.kind,
            r.elapsed_ms,
            r.outcome.message.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(out, "(* critical)");
    super::emit(&out);
}
