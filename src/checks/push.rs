//! `push`: a passive check for jobs that report in (cron jobs, Celery beat, backups). The job
//! calls `POST /api/v1/push/TOKEN` (`?status=fail&message=...` reports a failure); no heartbeat
//! within `interval` + `grace` makes the check unhealthy.

use super::{BuildContext, Check, CheckConfig, FieldError, Outcome};
use crate::duration;
use crate::redact::Secret;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The longest time between two evaluations of a push check.
const EVALUATE_AT_LEAST_EVERY: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
pub struct PushConfig {
    /// The secret in the push URL; at least 16 characters.
    pub token: String,
    /// How late a heartbeat may be beyond `interval`. Default: a fifth of the interval.
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub grace: Option<Duration>,
}

/// The last report of a job.
#[derive(Debug, Clone)]
pub struct Beat {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub message: Option<String>,
}

/// What one push check has heard.
#[derive(Debug)]
pub struct Heartbeats {
    pub check: String,
    since: DateTime<Utc>,
    last: Mutex<Option<Beat>>,
}

impl Heartbeats {
    pub fn record(&self, beat: Beat) {
        if let Ok(mut g) = self.last.lock() {
            *g = Some(beat);
        }
    }

    fn last(&self) -> Option<Beat> {
        self.last.lock().ok().and_then(|g| g.clone())
    }
}

/// Push tokens of every push check, filled while the config is built.
#[derive(Default)]
pub struct Registry {
    building: RefCell<Vec<(Secret, Arc<Heartbeats>)>>,
}

impl Registry {
    /// The finished, shareable registry.
    pub fn finish(self) -> PushTokens {
        PushTokens {
            tokens: Arc::new(self.building.into_inner()),
        }
    }
}

/// Looks heartbeats up by token; cheap to clone.
#[derive(Clone, Default)]
pub struct PushTokens {
    tokens: Arc<Vec<(Secret, Arc<Heartbeats>)>>,
}

impl std::fmt::Debug for PushTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PushTokens({} checks)", self.tokens.len())
    }
}

impl PushTokens {
    /// The heartbeats for `token`. Every registered token is compared, in constant time each,
    /// so the answer's timing says nothing about how close a guess was.
    pub fn find(&self, token: &str) -> Option<Arc<Heartbeats>> {
        let mut found = None;
        for (secret, beats) in self.tokens.iter() {
            if bool::from(secret.expose().as_bytes().ct_eq(token.as_bytes())) {
                found = Some(beats.clone());
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

impl CheckConfig for PushConfig {
    const KIND: &'static str = "push";

    fn build(self, ctx: &BuildContext) -> Result<Arc<dyn Check>, FieldError> {
        if self.token.len() < 16
            || !self
                .token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(FieldError::new(
                "token",
                "expected at least 16 characters of A-Z, a-z, 0-9, `-` and `_`",
            ));
        }
        let registry = ctx.push_registry;
        if registry
            .building
            .borrow()
            .iter()
            .any(|(t, _)| t.expose() == self.token)
        {
            return Err(FieldError::new(
                "token",
                "already used by another push check",
            ));
        }
        ctx.secret(&self.token);
        let interval = ctx.interval;
        let grace = self.grace.unwrap_or(interval / 5);
        let beats = Arc::new(Heartbeats {
            check: ctx.name.to_string(),
            since: Utc::now(),
            last: Mutex::new(None),
        });
        registry
            .building
            .borrow_mut()
            .push((Secret::new(self.token), beats.clone()));
        Ok(Arc::new(PushCheck {
            beats,
            interval,
            grace,
        }))
    }
}

#[derive(Debug)]
pub struct PushCheck {
    beats: Arc<Heartbeats>,
    interval: Duration,
    grace: Duration,
}

/// Judges the heartbeats as of `now` (pure, for tests).
fn judge(beats: &Heartbeats, now: DateTime<Utc>, interval: Duration, grace: Duration) -> Outcome {
    let allowed = chrono::Duration::from_std(interval + grace).unwrap_or(chrono::Duration::MAX);
    let expect = format!(
        "expected every {}, grace {}",
        duration::format(interval),
        duration::format(grace)
    );
    let ago = |t: DateTime<Utc>| {
        duration::format((now - t).to_std().unwrap_or_default().max(Duration::ZERO) / 1000 * 1000)
    };
    match beats.last() {
        None if now - beats.since > allowed => Outcome::unhealthy(format!(
            "no heartbeat since healthmon started {} ago ({expect})",
            ago(beats.since)
        )),
        None => {
            Outcome::healthy().with_message(format!("waiting for the first heartbeat ({expect})"))
        }
        Some(beat) => {
            let outcome = if now - beat.at > allowed {
                Outcome::unhealthy(format!("no heartbeat for {} ({expect})", ago(beat.at)))
            } else if !beat.ok {
                Outcome::unhealthy(format!(
                    "the job reported a failure: {}",
                    beat.message.as_deref().unwrap_or("no message")
                ))
            } else {
                let note = beat
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                Outcome::healthy()
                    .with_message(format!("last heartbeat {} ago{note}", ago(beat.at)))
            };
            outcome
                .observe("last_heartbeat", crate::time::rfc3339(beat.at))
                .observe(
                    "seconds_since_heartbeat",
                    (now - beat.at).num_milliseconds() as f64 / 1000.0,
                )
        }
    }
}

#[async_trait]
impl Check for PushCheck {
    async fn probe(&self) -> Outcome {
        judge(&self.beats, Utc::now(), self.interval, self.grace)
    }

    fn target(&self) -> String {
        "POST /api/v1/push/<token>".into()
    }

    fn thresholds(&self) -> super::Observed {
        let mut m = super::Observed::new();
        m.insert(
            "expected_every".into(),
            duration::format(self.interval).into(),
        );
        m.insert("grace".into(), duration::format(self.grace).into());
        m
    }

    fn uses_breaker(&self) -> bool {
        false
    }

    /// Evaluated at least every 30 s, so a daily job's missed heartbeat is noticed within
    /// half a minute of its deadline rather than up to a day later.
    fn evaluate_every(&self) -> Option<Duration> {
        Some(
            self.interval
                .min(EVALUATE_AT_LEAST_EVERY)
                .max(Duration::from_secs(1)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    fn beats(since: DateTime<Utc>) -> Heartbeats {
        Heartbeats {
            check: "job".into(),
            since,
            last: Mutex::new(None),
        }
    }

    #[test]
    fn heartbeats_on_time_are_healthy_and_late_ones_are_not() {
        let t0 = Utc::now();
        let (every, grace) = (Duration::from_secs(60), Duration::from_secs(10));
        let b = beats(t0);
        assert_eq!(
            judge(&b, t0 + chrono::Duration::seconds(30), every, grace).status,
            Status::Healthy
        );
        assert_eq!(
            judge(&b, t0 + chrono::Duration::seconds(71), every, grace).status,
            Status::Unhealthy
        );
        b.record(Beat {
            at: t0 + chrono::Duration::seconds(65),
            ok: true,
            message: None,
        });
        let on_time = judge(&b, t0 + chrono::Duration::seconds(130), every, grace);
        assert_eq!(on_time.status, Status::Healthy);
        assert!(on_time.observed.contains_key("last_heartbeat"));
        let late = judge(&b, t0 + chrono::Duration::seconds(136), every, grace);
        assert_eq!(late.status, Status::Unhealthy);
        assert!(late.message.unwrap().starts_with("no heartbeat for 1m11s"));
    }

    #[test]
    fn a_reported_failure_is_unhealthy_with_its_message() {
        let t0 = Utc::now();
        let b = beats(t0);
        b.record(Beat {
            at: t0,
            ok: false,
            message: Some("disk full".into()),
        });
        let out = judge(&b, t0, Duration::from_secs(60), Duration::ZERO);
        assert_eq!(out.status, Status::Unhealthy);
        assert!(out.message.unwrap().contains("disk full"));
    }

    #[test]
    fn tokens_are_found_only_when_equal() {
        let b = Arc::new(beats(Utc::now()));
        let tokens = PushTokens {
            tokens: Arc::new(vec![(Secret::new("abcdefghijklmnop"), b)]),
        };
        assert!(tokens.find("abcdefghijklmnop").is_some());
        assert!(tokens.find("abcdefghijklmnoq").is_none());
        assert!(tokens.find("").is_none());
    }
}
