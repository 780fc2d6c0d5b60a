//! The alerting sections of `monitor.toml` (`[alerting]`, `[[notifier]]`, `[[alert]]`,
//! `[[slo]]`, `[[maintenance]]`, and the checks' `alert`, `notify` and `depends_on` keys),
//! built into the engine's [`Setup`] with every name they refer to checked.

use super::{CheckDef, ConfigError, ServiceConfig};
use crate::alerts::config::{
    AlertingConfig, CheckAlerting, MaintenanceDef, NotifierDef, RuleConfig, Setup, SloConfig,
};
use crate::alerts::maintenance::MaintenanceConfig;
use crate::alerts::message::Service;
use crate::alerts::notify::{self, BuildContext};
use crate::keys;
use std::collections::HashMap;
use std::sync::Arc;

/// The sections this module reads.
pub(super) const SECTIONS: &[&str] = &["alerting", "notifier", "alert", "slo", "maintenance"];

/// Builds the alerting setup; problems go to `errors` (and `None` comes back if any).
pub(super) fn build(
    root: &mut toml::Table,
    service: Option<&ServiceConfig>,
    checks: &[Arc<CheckDef>],
    errors: &mut Vec<ConfigError>,
) -> Option<Setup> {
    let before = errors.len();
    let settings = match root.remove("alerting") {
        None => AlertingConfig::default().build().ok(),
        Some(v) => keys::deserialize::<AlertingConfig>(v, "alerting")
            .map_err(ConfigError::from)
            .and_then(|c| c.build().map_err(|e| e.at("alerting").into()))
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let service_name = service.map_or("healthmon", |s| s.name.as_str());
    let (notifiers, declared) = notifiers(tables(root, "notifier", errors), service_name, errors);
    let notifiers = &notifiers;
    let resolve_notify = |list: Option<&[String]>, key: &str, errors: &mut Vec<ConfigError>| {
        resolve_notify(list, key, notifiers, &declared, errors)
    };
    let names: HashMap<&str, usize> = checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let check_index = |name: &str, key: String, errors: &mut Vec<ConfigError>| {
        let found = names.get(name).copied();
        if found.is_none() {
            errors.push(ConfigError::invalid(
                key,
                format!("no check named `{name}`"),
            ));
        }
        found
    };

    let mut per_check = Vec::with_capacity(checks.len());
    for (i, def) in checks.iter().enumerate() {
        let path = format!("check[{}]", def.index);
        let notify = resolve_notify(def.notify.as_deref(), &format!("{path}.notify"), errors);
        let depends_on = def
            .depends_on
            .iter()
            .enumerate()
            .filter_map(|(j, parent)| {
                let key = format!("{path}.depends_on[{j}]");
                if parent == &def.name {
                    errors.push(ConfigError::invalid(key, "a check cannot depend on itself"));
                    return None;
                }
                check_index(parent, key, errors)
            })
            .collect::<Vec<_>>();
        per_check.push(CheckAlerting {
            name: def.name.clone(),
            critical: def.critical,
            alert: def.alert,
            notify,
            depends_on,
        });
        let _ = i;
    }
    if let Some(cycle) = dependency_cycle(&per_check) {
        errors.push(ConfigError::invalid(
            format!("check[{}].depends_on", checks[cycle[0]].index),
            format!(
                "depends on itself through {}",
                cycle
                    .iter()
                    .chain(cycle.first())
                    .map(|c| per_check[*c].name.as_str())
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
        ));
    }

    let mut rules = Vec::new();
    let mut rule_names: HashMap<String, usize> = HashMap::new();
    for (i, table) in tables(root, "alert", errors) {
        let path = format!("alert[{i}]");
        let Ok(raw) =
            keys::deserialize::<RuleConfig>(table, &path).map_err(|e| errors.push(e.into()))
        else {
            continue;
        };
        if let Some(first) = rule_names.insert(raw.name.clone(), i) {
            errors.push(ConfigError::invalid(
                format!("{path}.name"),
                format!(
                    "duplicate name `{}`, already used by alert[{first}]",
                    raw.name
                ),
            ));
        }
        let check = check_index(&raw.check, format!("{path}.check"), errors);
        let notify = resolve_notify(raw.notify.as_deref(), &format!("{path}.notify"), errors);
        if let Some(check) = check {
            match raw.build(check, notify) {
                Ok(rule) => rules.push(rule),
                Err(e) => errors.push(e.at(&path).into()),
            }
        }
    }

    let mut slos = Vec::new();
    let mut slo_names: HashMap<String, usize> = HashMap::new();
    for (i, table) in tables(root, "slo", errors) {
        let path = format!("slo[{i}]");
        let Ok(raw) =
            keys::deserialize::<SloConfig>(table, &path).map_err(|e| errors.push(e.into()))
        else {
            continue;
        };
        let name = raw.name.clone().unwrap_or_else(|| raw.check.clone());
        if let Some(first) = slo_names.insert(name.clone(), i) {
            errors.push(ConfigError::invalid(
                format!("{path}.name"),
                format!(
                    "duplicate SLO `{name}`, already defined by slo[{first}] (give one a `name`)"
                ),
            ));
        }
        let check = check_index(&raw.check, format!("{path}.check"), errors);
        let notify = resolve_notify(raw.notify.as_deref(), &format!("{path}.notify"), errors);
        if let Some(check) = check {
            match raw.build(check, notify) {
                Ok(slo) => slos.push(slo),
                Err(e) => errors.push(e.at(&path).into()),
            }
        }
    }

    let mut maintenance = Vec::new();
    for (i, table) in tables(root, "maintenance", errors) {
        let path = format!("maintenance[{i}]");
        let Ok(raw) =
            keys::deserialize::<MaintenanceConfig>(table, &path).map_err(|e| errors.push(e.into()))
        else {
            continue;
        };
        let covered: Vec<usize> = raw
            .checks
            .iter()
            .enumerate()
            .filter_map(|(j, name)| check_index(name, format!("{path}.checks[{j}]"), errors))
            .collect();
        match raw.build() {
            Ok(m) => maintenance.push(MaintenanceDef {
                maintenance: m,
                checks: covered,
            }),
            Err(e) => errors.push(e.at(&path).into()),
        }
    }

    if errors.len() > before {
        return None;
    }
    Some(Setup {
        service: Service {
            name: service_name.to_string(),
            environment: service.map_or_else(|| "production".into(), |s| s.environment.clone()),
        },
        settings: settings?,
        checks: per_check,
        rules,
        slos,
        maintenance,
        notifiers: notifiers.clone(),
    })
}

/// The tables of an array-of-tables section, with their positions.
fn tables(
    root: &mut toml::Table,
    section: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<(usize, toml::Value)> {
    match root.remove(section) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| {
                if item.is_table() {
                    Some((i, item))
                } else {
                    errors.push(ConfigError::invalid(
                        format!("{section}[{i}]"),
                        format!("expected a table ([[{section}]])"),
                    ));
                    None
                }
            })
            .collect(),
        Some(_) => {
            errors.push(ConfigError::invalid(
                section,
                format!("expected an array of tables ([[{section}]])"),
            ));
            Vec::new()
        }
    }
}

/// The notifiers that were built, and the names of all declared (so a `notify` naming one
/// whose own table is broken is not reported twice).
fn notifiers(
    items: Vec<(usize, toml::Value)>,
    service: &str,
    errors: &mut Vec<ConfigError>,
) -> (Vec<NotifierDef>, Vec<String>) {
    let mut out: Vec<NotifierDef> = Vec::new();
    let mut declared = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items {
        let path = format!("notifier[{i}]");
        let toml::Value::Table(mut table) = item else {
            continue;
        };
        let kind_name = match table.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(_) => {
                errors.push(ConfigError::invalid(
                    format!("{path}.kind"),
                    "expected a string",
                ));
                continue;
            }
            None => {
                errors.push(ConfigError::invalid(
                    format!("{path}.kind"),
                    format!("is required; expected one of {}", notify::kind_names()),
                ));
                continue;
            }
        };
        declared.push(match table.get("name") {
            Some(toml::Value::String(n)) => n.clone(),
            _ => kind_name.clone(),
        });
        let Some(kind) = notify::kind(&kind_name) else {
            errors.push(ConfigError::invalid(
                format!("{path}.kind"),
                format!(
                    "unknown kind `{kind_name}`; expected one of {}",
                    notify::kind_names()
                ),
            ));
            continue;
        };
        let name = match table.remove("name") {
            None => kind.name.to_string(),
            Some(toml::Value::String(n)) if valid_name(&n) => n,
            Some(other) => {
                errors.push(ConfigError::invalid(
                    format!("{path}.name"),
                    format!("expected 1 to 64 characters of a-z, 0-9, `-` and `_`, got {other}"),
                ));
                continue;
            }
        };
        if let Some(first) = seen.insert(name.clone(), i) {
            errors.push(ConfigError::invalid(
                format!("{path}.name"),
                format!("duplicate notifier `{name}`, already used by notifier[{first}] (give each a `name`)"),
            ));
            continue;
        }
        let ctx = BuildContext::new(&name, service);
        match kind.build(table, &ctx, &path) {
            Ok(notifier) => out.push(NotifierDef {
                name: name.clone(),
                kind: kind.name,
                notifier,
                secrets: ctx.into_secrets(),
            }),
            Err(e) => errors.push(e.into()),
        }
    }
    (out, declared)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Notifier indexes for a `notify` list: every notifier when it is absent.
fn resolve_notify(
    list: Option<&[String]>,
    key: &str,
    notifiers: &[NotifierDef],
    declared: &[String],
    errors: &mut Vec<ConfigError>,
) -> Vec<usize> {
    let Some(list) = list else {
        return (0..notifiers.len()).collect();
    };
    list.iter()
        .enumerate()
        .filter_map(|(j, name)| {
            let found = notifiers.iter().position(|n| &n.name == name);
            if found.is_none() && !declared.contains(name) {
                let known: Vec<&str> = declared.iter().map(String::as_str).collect();
                errors.push(ConfigError::invalid(
                    format!("{key}[{j}]"),
                    if known.is_empty() {
                        format!("no notifier named `{name}`: no [[notifier]] is configured")
                    } else {
                        format!(
                            "no notifier named `{name}`; expected one of {}",
                            known.join(", ")
                        )
                    },
                ));
            }
            found
        })
        .collect()
}

/// A cycle in `depends_on`, as the indexes along it, if there is one.
fn dependency_cycle(checks: &[CheckAlerting]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        c: usize,
        checks: &[CheckAlerting],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[c] = Mark::Open;
        path.push(c);
        for &p in &checks[c].depends_on {
            match marks[p] {
                Mark::Open => {
                    let from = path.iter().position(|x| *x == p).unwrap_or(0);
                    return Some(path[from..].to_vec());
                }
                Mark::New => {
                    if let Some(cycle) = visit(p, checks, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[c] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; checks.len()];
    (0..checks.len()).find_map(|c| {
        if marks[c] == Mark::New {
            visit(c, checks, &mut marks, &mut Vec::new())
        } else {
            None
        }
    })
}
