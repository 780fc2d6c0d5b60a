//! Time as the whole program writes it: milliseconds since the Unix epoch inside, RFC 3339 UTC
//! with milliseconds outside (the API, messages, observed values).

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

pub fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

/// RFC 3339, UTC, milliseconds: the one timestamp format of the API.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// [`rfc3339`] of a millisecond timestamp; `None` only outside chrono's range.
pub fn rfc3339_ms(ms: Millis) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(rfc3339)
}

pub fn now() -> String {
    rfc3339(Utc::now())
}
