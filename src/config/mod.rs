//! The settings tree of `monitor.toml`: loading, `${VAR}` expansion, defaults and validation.
//!
//! Loading builds every check with the same constructors `run` uses, so `validate` rejects
//! exactly what `run` would. Every problem is collected and reported with its key path.

mod alerting;
pub mod env;
pub mod error;

pub use error::{ConfigError, ConfigErrors};

use crate::checks::push::PushTokens;
use crate::checks::{self, BuildContext, Check};
use crate::duration;
use crate::keys;
use crate::redact::Secret;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Names a check may not take: they are paths under `/health/`.
pub const RESERVED_NAMES: &[&str] = &["live", "ready", "startup", "detailed"];

/// Keys every check accepts, whatever its kind.
const COMMON_KEYS: &[&str] = &[
    "name",
    "kind",
    "critical",
    "description",
    "interval",
    "cron",
    "timeout",
    "failure_threshold",
    "success_threshold",
    "max_backoff",
    "alert",
    "notify",
    "depends_on",
    "group",
];

const SECTIONS: &[&str] = &[
    "service",
    "server",
    "storage",
    "scheduler",
    "defaults",
    "check",
    "alerting",
    "notifier",
    "alert",
    "slo",
    "maintenance",
];

/// The whole, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from.
    pub source: PathBuf,
    pub service: ServiceConfig,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub scheduler: SchedulerConfig,
    pub checks: Vec<Arc<CheckDef>>,
    /// Tokens of the push checks, for `/api/v1/push/TOKEN`.
    pub push: PushTokens,
    /// Rules, SLOs, maintenance, notifiers: what the alert engine runs on.
    pub alerting: Arc<crate::alerts::config::Setup>,
}

impl Config {
    /// Every secret the config holds: passwords and tokens of the checks, the server token.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.checks
            .iter()
            .flat_map(|c| c.secrets.iter())
            .chain(
                self.alerting
                    .notifiers
                    .iter()
                    .flat_map(|n| n.secrets.iter()),
            )
            .chain(self.server.token.as_ref().map(Secret::expose))
    }

    /// Settings that are valid but probably not what was meant; `validate` prints them and
    /// `run` logs them.
    pub fn warnings(&self) -> Vec<String> {
        self.checks
            .iter()
            // A passive check's timeout bounds nothing that can hang.
            .filter(|c| c.check.evaluate_every().is_none())
            .filter(|c| c.timeout > c.schedule.nominal_interval())
            .map(|c| {
                format!(
                    "check[{}].timeout: {} is longer than the check's interval ({}); while a probe hangs, the runs that fall due are skipped (healthmon_check_missed_runs_total)",
                    c.index,
                    duration::format(c.timeout),
                    duration::format(c.schedule.nominal_interval())
                )
            })
            .collect()
    }
}

/// `[service]`: who is being monitored; shown in `/status`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default = "default_service_name")]
    pub name: String,
    #[serde(default = "default_environment")]
    pub environment: String,
}

/// `[server]`: where the HTTP API listens and what protects it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// When set, `/health/detailed`, `/api/v1/*` history and pages that show errors want
    /// `Authorization: Bearer TOKEN`. Probes stay open.
    pub token: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(default = "default_listen")]
    listen: String,
    token: Option<String>,
}

/// `[storage]`: the SQLite health log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The SQLite file; created and migrated on start. Relative paths are from the working directory.
    #[serde(default = "default_db_path")]
    pub path: PathBuf,
    /// Raw results older than this are pruned; hourly rollups are kept.
    #[serde(
        default = "default_retention",
        deserialize_with = "duration::deserialize"
    )]
    pub retention: Duration,
    /// Hourly rollups older than this are pruned; kept for ever when unset.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub rollup_retention: Option<Duration>,
}

/// `[scheduler]`: how many probes may run at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// Threads the checks run on, apart from the HTTP server's. One suits thousands of
    /// checks; more only help probes that burn CPU.
    #[serde(default = "default_threads")]
    pub threads: usize,
}

/// When a check runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every this long; a whole number of seconds.
    Every(Duration),
    /// A six-field cron expression (seconds first), as tokio-cron-scheduler reads it.
    Cron(String),
}

impl Schedule {
    pub fn describe(&self) -> String {
        match self {
            Schedule::Every(d) => format!("every {}", duration::format(*d)),
            Schedule::Cron(expr) => format!("cron {expr}"),
        }
    }

    /// The nominal spacing of runs, used as the breaker's first back-off.
    pub fn nominal_interval(&self) -> Duration {
        match self {
            Schedule::Every(d) => *d,
            Schedule::Cron(expr) => cron_spacing(expr).unwrap_or(Duration::from_secs(60)),
        }
    }
}

/// One configured, built check.
#[derive(Debug)]
pub struct CheckDef {
    /// Position in the config; the check's id within one run.
    pub index: usize,
    pub name: String,
    pub kind: &'static str,
    /// Unhealthy if this fails; a non-critical failure only degrades.
    pub critical: bool,
    pub description: Option<String>,
    pub schedule: Schedule,
    pub timeout: Duration,
    /// Consecutive failures before the breaker opens and an incident starts.
    pub failure_threshold: u32,
    /// Consecutive successes that end an incident.
    pub success_threshold: u32,
    /// The longest the breaker waits before a trial probe.
    pub max_backoff: Duration,
    pub check: Arc<dyn Check>,
    /// The redacted target, for display.
    pub target: String,
    /// Secrets this check's config holds; scrubbed from every message it produces.
    pub secrets: crate::redact::Secrets,
    /// `alert = false`: no state alerts for it.
    pub alert: bool,
    /// The notifiers of its alerts as written (`None`: every notifier).
    pub notify: Option<Vec<String>>,
    /// The checks it depends on, as written.
    pub depends_on: Vec<String>,
    /// Its section of the status page; `None`: the ungrouped section.
    pub group: Option<String>,
}

#[derive(Deserialize)]
struct CommonFields {
    name: String,
    #[serde(default)]
    critical: bool,
    description: Option<String>,
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    interval: Option<Duration>,
    cron: Option<String>,
    /// Unset: 5 s, or the interval when that is shorter (see `build_check`).
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    timeout: Option<Duration>,
    #[serde(default = "default_failure_threshold")]
    failure_threshold: u32,
    #[serde(default = "default_success_threshold")]
    success_threshold: u32,
    #[serde(
        default = "default_max_backoff",
        deserialize_with = "duration::deserialize"
    )]
    max_backoff: Duration,
    #[serde(default = "default_true")]
    alert: bool,
    notify: Option<Vec<String>>,
    #[serde(default)]
    depends_on: Vec<String>,
    group: Option<String>,
}

fn default_true() -> bool {
    true
}

fn default_service_name() -> String {
    "healthmon".into()
}
fn default_environment() -> String {
    "production".into()
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_db_path() -> PathBuf {
    "healthmon.db".into()
}
fn default_retention() -> Duration {
    Duration::from_secs(90 * 86_400)
}
fn default_threads() -> usize {
    1
}
fn default_max_concurrent() -> usize {
    256
}
fn default_interval() -> Duration {
    Duration::from_secs(30)
}
/// The timeout of a check that sets none: 5 s, but never longer than its interval, so a
/// hanging probe by default is cut before it can hold up the runs after it.
fn default_timeout(interval: Duration) -> Duration {
    Duration::from_secs(5).min(interval)
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_success_threshold() -> u32 {
    1
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(300)
}

/// The config file to read: `-c FILE`, else `$HEALTHMON_CONFIG`, else `./monitor.toml`.
pub fn locate(cli: Option<&Path>) -> PathBuf {
    if let Some(path) = cli {
        return path.to_path_buf();
    }
    match std::env::var_os("HEALTHMON_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("monitor.toml"),
    }
}

/// Reads, expands and validates the config at `path`.
///
/// # Errors
/// Every problem found, each naming its key or line.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    parse(&text, path, &|name| std::env::var(name).ok())
}

/// Parses config text; `lookup` resolves `${VAR}` (the environment, or a map in tests).
///
/// # Errors
/// Every problem found, each naming its key or line.
pub fn parse(
    text: &str,
    source: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let root: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: source.to_path_buf(),
        message: syntax_message(text, &e),
    })?;
    let mut root = toml::Value::Table(root);
    let mut errors = Vec::new();
    env::expand_tree(&mut root, "", lookup, &mut errors);
    let toml::Value::Table(mut root) = root else {
        unreachable!("a parsed document is a table")
    };

    debug_assert!(alerting::SECTIONS.iter().all(|s| SECTIONS.contains(s)));
    for key in root.keys() {
        if !SECTIONS.contains(&key.as_str()) {
            let message = match key.as_str() {
                "alerts" | "notifiers" | "slos" | "checks" => format!(
                    "unknown section; did you mean [[{}]]?",
                    key.trim_end_matches('s')
                ),
                _ => format!("unknown section; expected one of {}", SECTIONS.join(", ")),
            };
            errors.push(ConfigError::invalid(key.clone(), message));
        }
    }

    let service = section::<ServiceConfig>(&mut root, "service", &mut errors);
    let server = section::<RawServer>(&mut root, "server", &mut errors).and_then(|raw| {
        match raw.listen.parse::<SocketAddr>() {
            Ok(listen) => Some(ServerConfig {
                listen,
                token: raw.token.filter(|t| !t.is_empty()).map(Secret::new),
            }),
            Err(_) => {
                errors.push(ConfigError::invalid(
                    "server.listen",
                    format!(
                        "expected an IP address and port such as 127.0.0.1:8080, got `{}`",
                        raw.listen
                    ),
                ));
                None
            }
        }
    });
    let storage = section::<StorageConfig>(&mut root, "storage", &mut errors);
    let scheduler = section::<SchedulerConfig>(&mut root, "scheduler", &mut errors);
    if let Some(s) = &scheduler {
        if s.max_concurrent == 0 {
            errors.push(ConfigError::invalid(
                "scheduler.max_concurrent",
                "expected at least 1",
            ));
        }
        if !(1..=64).contains(&s.threads) {
            errors.push(ConfigError::invalid(
                "scheduler.threads",
                "expected 1 to 64",
            ));
        }
    }

    let defaults = match root.remove("defaults") {
        None => toml::Table::new(),
        Some(toml::Value::Table(t)) => t,
        Some(_) => {
            errors.push(ConfigError::invalid(
                "defaults",
                "expected a table ([defaults])",
            ));
            toml::Table::new()
        }
    };
    check_default_keys(&defaults, &mut errors);

    let (checks, push) = match root.remove("check") {
        None => (Vec::new(), PushTokens::default()),
        Some(toml::Value::Array(items)) => build_checks(items, &defaults, &mut errors),
        Some(_) => {
            errors.push(ConfigError::invalid(
                "check",
                "expected an array of tables ([[check]])",
            ));
            (Vec::new(), PushTokens::default())
        }
    };

    let alerting = alerting::build(&mut root, service.as_ref(), &checks, &mut errors);

    match (service, server, storage, scheduler, alerting) {
        (Some(service), Some(server), Some(storage), Some(scheduler), Some(alerting))
            if errors.is_empty() =>
        {
            Ok(Config {
                source: source.to_path_buf(),
                service,
                server,
                storage,
                scheduler,
                checks,
                push,
                alerting: Arc::new(alerting),
            })
        }
        _ => Err(ConfigErrors(errors)),
    }
}

/// Deserializes one optional `[name]` section, defaults when absent.
fn section<T: serde::de::DeserializeOwned>(
    root: &mut toml::Table,
    name: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let value = root
        .remove(name)
        .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
    match keys::deserialize::<T>(value, name) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e.into());
            None
        }
    }
}

/// TOML's own message already carries line and column; keep it on one line.
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let reason = e.message().to_string();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {reason}")
        }
        None => reason,
    }
}

fn check_default_keys(defaults: &toml::Table, errors: &mut Vec<ConfigError>) {
    for key in defaults.keys() {
        let known = COMMON_KEYS.contains(&key.as_str())
            || checks::KINDS
                .iter()
                .any(|k| (k.fields)().contains(&key.as_str()));
        if key == "name" || !known {
            errors.push(ConfigError::invalid(
                format!("defaults.{key}"),
                "not a key any check accepts",
            ));
        }
    }
}

fn build_checks(
    items: Vec<toml::Value>,
    defaults: &toml::Table,
    errors: &mut Vec<ConfigError>,
) -> (Vec<Arc<CheckDef>>, PushTokens) {
    let shared = checks::Shared::default();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let path = format!("check[{index}]");
        let toml::Value::Table(own) = item else {
            errors.push(ConfigError::invalid(path, "expected a table ([[check]])"));
            continue;
        };
        // Names are claimed before building, so a duplicate is reported even when the
        // first check of that name has other errors.
        if let Some(name) = own.get("name").and_then(|v| v.as_str()) {
            match names.get(name) {
                Some(first) => errors.push(ConfigError::invalid(
                    format!("{path}.name"),
                    format!("duplicate name `{name}`, already used by check[{first}]"),
                )),
                None => {
                    names.insert(name.to_string(), index);
                }
            }
        }
        match build_check(index, &path, own, defaults, &shared) {
            Ok(def) => out.push(Arc::new(def)),
            Err(mut e) => errors.append(&mut e),
        }
    }
    // A group is a page section, and names are unique across checks and groups.
    for def in &out {
        if let Some(group) = &def.group {
            let path = format!("check[{}].group", def.index);
            if group.trim().is_empty() {
                errors.push(ConfigError::invalid(path, "expected a non-empty name"));
            } else if names.contains_key(group) {
                errors.push(ConfigError::invalid(
                    path,
                    format!("`{group}` is the name of a check; a group needs a name of its own"),
                ));
            }
        }
    }
    (out, shared.push_registry.finish())
}

fn build_check(
    index: usize,
    path: &str,
    own: toml::Table,
    defaults: &toml::Table,
    shared: &checks::Shared,
) -> Result<CheckDef, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let kind_name = match own.get("kind") {
        Some(toml::Value::String(k)) => k.clone(),
        Some(_) => {
            return Err(vec![ConfigError::invalid(
                format!("{path}.kind"),
                "expected a string",
            )])
        }
        None => {
            return Err(vec![ConfigError::invalid(
                format!("{path}.kind"),
                format!("is required; expected one of {}", checks::kind_names()),
            )])
        }
    };
    let Some(kind) = checks::kind(&kind_name) else {
        return Err(vec![ConfigError::invalid(
            format!("{path}.kind"),
            format!(
                "unknown kind `{kind_name}`; expected one of {}",
                checks::kind_names()
            ),
        )]);
    };
    let kind_fields = (kind.fields)();

    let mut common = toml::Table::new();
    let mut specific = toml::Table::new();
    let own_schedule = own.contains_key("interval") || own.contains_key("cron");
    let mut merged = own.clone();
    for (key, value) in defaults {
        let is_schedule = key == "interval" || key == "cron";
        if !(merged.contains_key(key) || is_schedule && own_schedule) {
            merged.insert(key.clone(), value.clone());
        }
    }
    for (key, value) in merged {
        if key == "kind" {
            continue;
        }
        if COMMON_KEYS.contains(&key.as_str()) {
            common.insert(key, value);
        } else if kind_fields.contains(&key.as_str()) {
            specific.insert(key, value);
        } else if own.contains_key(&key) {
            let mut expected: Vec<&str> = kind_fields.to_vec();
            expected.extend(COMMON_KEYS.iter().filter(|k| **k != "kind"));
            errors.push(ConfigError::invalid(
                format!("{path}.{key}"),
                format!(
                    "unknown key for kind `{}`; expected one of {}",
                    kind.name,
                    expected.join(", ")
                ),
            ));
        }
        // Otherwise it came from [defaults] and is meant for other kinds.
    }

    let common: CommonFields = match keys::deserialize(toml::Value::Table(common), path) {
        Ok(c) => c,
        Err(e) => {
            errors.push(e.into());
            return Err(errors);
        }
    };

    validate_name(&common.name, path, &mut errors);
    let schedule = match (common.interval, common.cron) {
        (Some(_), Some(_)) => {
            errors.push(ConfigError::invalid(
                format!("{path}.cron"),
                "set either interval or cron, not both",
            ));
            None
        }
        (None, Some(expr)) => match normalize_cron(&expr) {
            Ok(expr) => Some(Schedule::Cron(expr)),
            Err(message) => {
                errors.push(ConfigError::invalid(format!("{path}.cron"), message));
                None
            }
        },
        (interval, None) => {
            let interval = interval.unwrap_or_else(default_interval);
            if interval.as_millis() % 1000 != 0 || interval.is_zero() {
                errors.push(ConfigError::invalid(
                    format!("{path}.interval"),
                    format!(
                        "expected a whole number of seconds, at least 1s (the scheduler ticks in seconds), got {}",
                        duration::format(interval)
                    ),
                ));
                None
            } else {
                Some(Schedule::Every(interval))
            }
        }
    };
    let interval = schedule
        .as_ref()
        .map_or_else(default_interval, Schedule::nominal_interval);
    let timeout = common.timeout.unwrap_or_else(|| default_timeout(interval));
    if timeout.is_zero() {
        errors.push(ConfigError::invalid(
            format!("{path}.timeout"),
            format!("expected {} greater than 0", duration::EXPECTED),
        ));
    }
    if common.failure_threshold == 0 {
        errors.push(ConfigError::invalid(
            format!("{path}.failure_threshold"),
            "expected at least 1",
        ));
    }
    if common.success_threshold == 0 {
        errors.push(ConfigError::invalid(
            format!("{path}.success_threshold"),
            "expected at least 1",
        ));
    }

    let ctx = BuildContext::new(&common.name, timeout, interval, shared);
    let check = match kind.build(specific, &ctx, path) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(e.into());
            None
        }
    };
    let secrets = ctx.into_secrets();

    match (schedule, check) {
        (Some(schedule), Some(check)) if errors.is_empty() => {
            // The evaluation cadence a kind asks for, on whole seconds like every interval.
            let schedule = match check.evaluate_every() {
                Some(every) => Schedule::Every(Duration::from_secs(every.as_secs().max(1))),
                None => schedule,
            };
            let nominal = schedule.nominal_interval();
            Ok(CheckDef {
                index,
                target: check.target(),
                name: common.name,
                kind: kind.name,
                critical: common.critical,
                description: common.description,
                schedule,
                timeout,
                failure_threshold: common.failure_threshold,
                success_threshold: common.success_threshold,
                max_backoff: common.max_backoff.max(nominal),
                check,
                secrets,
                alert: common.alert,
                notify: common.notify,
                depends_on: common.depends_on,
                group: common.group,
            })
        }
        _ => Err(errors),
    }
}

fn validate_name(name: &str, path: &str, errors: &mut Vec<ConfigError>) {
    let key = format!("{path}.name");
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if name.is_empty() || name.len() > 64 || !valid_chars {
        errors.push(ConfigError::invalid(
            key,
            format!("expected 1 to 64 characters of a-z, 0-9, `-` and `_`, got `{name}`"),
        ));
    } else if RESERVED_NAMES.contains(&name) {
        errors.push(ConfigError::invalid(
            key,
            format!("`{name}` is reserved (it is the path /health/{name}); choose another name"),
        ));
    }
}

/// Accepts five-field (minute first) or six-field (second first) cron; returns six fields.
fn normalize_cron(expr: &str) -> Result<String, String> {
    let fields = expr.split_whitespace().count();
    let six = match fields {
        5 => format!("0 {}", expr.trim()),
        6 => expr.trim().to_string(),
        _ => {
            return Err(format!(
                "expected a cron expression of 5 fields (min hour dom month dow) or 6 (sec first), got `{expr}`"
            ))
        }
    };
    parse_cron(&six).map_err(|e| format!("expected a valid cron expression, got `{expr}`: {e}"))?;
    Ok(six)
}

/// Parses a six-field cron expression the way tokio-cron-scheduler does.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, croner::errors::CronError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(expr)
}

/// The gap between the next two occurrences of a cron schedule.
fn cron_spacing(expr: &str) -> Option<Duration> {
    let cron = parse_cron(expr).ok()?;
    let mut it = cron.iter_after(chrono::Utc::now());
    let a = it.next()?;
    let b = it.next()?;
    (b - a).to_std().ok()
}

#[cfg(test)]
mod tests;
