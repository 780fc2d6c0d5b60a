//! `healthmon validate`: parse and build the config, print what would run.

use crate::config::Config;
use crate::duration;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

pub fn run(config: Option<&Path>) -> ExitCode {
    let config = match super::load_config(config) {
        Ok(c) => c,
        Err(e) => return super::config_failure(&e),
    };
    let mut out = String::new();
    describe(&config, &mut out);
    super::emit(&out);
    ExitCode::SUCCESS
}

fn describe(config: &Config, out: &mut String) {
    let _ = writeln!(out, "{} is valid.", config.source.display());
    let _ = writeln!(
        out,
        "  service   {} ({})",
        config.service.name, config.service.environment
    );
    let _ = writeln!(
        out,
        "  server    http://{}{}",
        config.server.listen,
        if config.server.token.is_some() {
            " (token required for history and details)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  storage   {} (raw results kept {})",
        config.storage.path.display(),
        duration::format(config.storage.retention)
    );
    let _ = writeln!(out, "  checks    {}", config.checks.len());
    for warning in config.warnings() {
        let _ = writeln!(out, "  warning   {warning}");
    }
    describe_alerting(config, out);
    if config.checks.is_empty() {
        return;
    }
    let width = config
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<width$} {:<8} {:<22} {:<8} {:<8} TARGET",
        "NAME", "KIND", "SCHEDULE", "TIMEOUT", "CRITICAL"
    );
    for c in &config.checks {
        let _ = writeln!(
            out,
            "{:<width$} {:<8} {:<22} {:<8} {:<8} {}",
            c.name,
            c.kind,
            c.schedule.describe(),
            duration::format(c.timeout),
            if c.critical { "yes" } else { "no" },
            c.target
        );
    }
}

/// The alerting part: timings, notifiers, rules, SLOs, maintenance, dependencies.
fn describe_alerting(config: &Config, out: &mut String) {
    let a = &config.alerting;
    let s = &a.settings;
    let reminders = s.reminders.map_or_else(
        || "no reminders".to_string(),
        |r| {
            format!(
                "reminders after {}, each {}× longer, at most {} apart",
                duration::format(r.first),
                r.backoff,
                duration::format(r.max)
            )
        },
    );
    let _ = writeln!(
        out,
        "  alerting  group_wait {}, {reminders}, flapping above {} % (until below {} %)",
        duration::format(s.group_wait),
        s.flapping.high,
        s.flapping.low
    );
    let names = |list: &[usize]| -> String {
        if list.len() == a.notifiers.len() && !list.is_empty() {
            "every notifier".into()
        } else if list.is_empty() {
            "nobody".into()
        } else {
            list.iter()
                .map(|n| a.notifiers[*n].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    if a.notifiers.is_empty() {
        let _ = writeln!(
            out,
            "  notifier  none: alerts are recorded (GET /api/v1/alerts) but nobody is told"
        );
    }
    for n in &a.notifiers {
        let _ = writeln!(
            out,
            "  notifier  {} ({}) {}",
            n.name,
            n.kind,
            n.notifier.target()
        );
    }
    for r in &a.rules {
        let t = &r.thresholds;
        let cmp = match t.direction {
            crate::alerts::rule::Direction::Above => "≥",
            crate::alerts::rule::Direction::Below => "≤",
        };
        let mut levels = Vec::new();
        if let Some(w) = t.warn {
            levels.push(format!("warning {cmp} {w}"));
        }
        if let Some(c) = t.crit {
            levels.push(format!("critical {cmp} {c}"));
        }
        let window = match r.metric {
            crate::alerts::config::Metric::ErrorRate(w)
            | crate::alerts::config::Metric::Availability(w) => {
                format!(" over {}", duration::format(w))
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  alert     {}: {} of {}{window}, {}, for {}, clears after {}; tells {}",
            r.name,
            r.metric.name(),
            config.checks[r.check].name,
            levels.join(", "),
            duration::format(r.hold_for),
            duration::format(r.clear_for),
            names(&r.notify)
        );
    }
    for slo in &a.slos {
        let budget = slo.window.as_secs_f64() * (100.0 - slo.objective) / 100.0 / 60.0;
        let _ = writeln!(
            out,
            "  slo       {}: {} % of {} over {} (error budget {budget:.1} min); tells {}",
            slo.name,
            slo.objective,
            config.checks[slo.check].name,
            duration::format(slo.window),
            names(&slo.notify)
        );
    }
    for m in &a.maintenance {
        let scope = if m.checks.is_empty() {
            "every check".to_string()
        } else {
            m.checks
                .iter()
                .map(|c| config.checks[*c].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "  maintenance {}: {} for {scope}",
            m.maintenance.name,
            m.maintenance.describe()
        );
    }
    for (c, check) in a.checks.iter().enumerate() {
        if !check.alert {
            let _ = writeln!(
                out,
                "  quiet     {}: no state alerts (alert = false)",
                check.name
            );
        }
        if !check.depends_on.is_empty() {
            let parents: Vec<&str> = check
                .depends_on
                .iter()
                .map(|p| config.checks[*p].name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "  depends   {} on {}: no new alerts while one is down",
                config.checks[c].name,
                parents.join(", ")
            );
        }
    }
}
