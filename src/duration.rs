//! Durations as written in `monitor.toml`: `500ms`, `10s`, `5m`, `1h`, `7d`, or a sum such as `1h30m`.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::time::Duration;

/// What every duration error says is expected, so all keys read the same.
pub const EXPECTED: &str = "a duration such as 500ms, 10s, 5m, 1h or 7d";

/// Parses `500ms`, `10s`, `5m`, `1h`, `7d` and sums of them (`1h30m`).
///
/// # Errors
/// Returns a message naming what was expected when the text is not a duration.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("expected {EXPECTED}, got `{text}`");
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let part = value.checked_mul(unit_ms).ok_or_else(bad)?;
        total = total
            .checked_add(Duration::from_millis(part))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// Formats a duration the way it would be written in the config (`1m30s`, `250ms`).
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    out
}

/// Serde adapter: `#[serde(deserialize_with = "duration::deserialize")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

/// Serde adapter for optional durations.
pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(DurationVisitor).map(Some)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "expected {EXPECTED} (a string with a unit), got the bare number {v}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_unit_parses() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn malformed_durations_say_what_was_expected() {
        for bad in [
            "",
            "10",
            "s",
            "10x",
            "1.5s",
            "-1s",
            "10 s",
            "99999999999999999999d",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("expected a duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["250ms", "10s", "1m30s", "2h", "7d", "1d1h1m1s1ms"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
