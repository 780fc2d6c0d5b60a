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

/// A millisecond timestamp that serialises as [`rfc3339_ms`] does (`null` outside chrono's
/// range) without a heap allocation: `/health/detailed` writes thousands of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(pub Millis);

impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(t) = DateTime::from_timestamp_millis(self.0) else {
            return s.serialize_none();
        };
        let mut buf = [0u8; 24];
        match write_rfc3339_ms(t, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&rfc3339(t)),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` into `buf`, for the years 0 to 9999 (chrono's formatter, which
/// this matches, handles the others).
fn write_rfc3339_ms(t: DateTime<Utc>, buf: &mut [u8; 24]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let fields: [(u32, usize, usize); 7] = [
        (year, 0, 4),
        (t.month(), 5, 2),
        (t.day(), 8, 2),
        (t.hour(), 11, 2),
        (t.minute(), 14, 2),
        (t.second(), 17, 2),
        // A leap second's nanoseconds run past one second; chrono prints them as 60.xxx.
        (t.timestamp_subsec_millis() % 1000, 20, 3),
    ];
    buf.copy_from_slice(b"0000-00-00T00:00:00.000Z");
    for (mut value, at, width) in fields {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    std::str::from_utf8(buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_serialises_as_rfc3339_ms_does() {
        let mut t: i64 = -62_135_596_800_000; // 0001-01-01
        let step = 7_919_777_123; // about 92 days, with odd hours, minutes and milliseconds
        while t < 253_402_300_799_999 {
            let want = serde_json::to_string(&rfc3339_ms(t)).unwrap();
            assert_eq!(serde_json::to_string(&Stamp(t)).unwrap(), want, "at {t}");
            t += step;
        }
        for t in [
            0,
            999,
            1_000,
            951_782_400_000,
            1_709_164_800_123,
            i64::MAX,
            i64::MIN,
        ] {
            let want = serde_json::to_string(&rfc3339_ms(t)).unwrap();
            assert_eq!(serde_json::to_string(&Stamp(t)).unwrap(), want, "at {t}");
        }
    }
}
