//! What the SQL kinds (`postgres`, `mysql`) judge the same way: connection usage against
//! `warn`/`crit`, and a `query` whose first value must equal `expect`.

use super::threshold::Thresholds;
use super::{FieldError, Outcome, Status};

/// Connection limits from `warn`/`crit` (percent of `max_connections`), if either is set.
///
/// # Errors
/// Names the key when a percentage is out of range or the two are in the wrong order.
pub fn connection_limits(
    warn: Option<f64>,
    crit: Option<f64>,
) -> Result<Option<Thresholds>, FieldError> {
    match (warn, crit) {
        (None, None) => Ok(None),
        (w, c) => Thresholds::percent(w.unwrap_or(100.0), c.unwrap_or(100.0)).map(Some),
    }
}

/// `expect` only means something with a `query`.
///
/// # Errors
/// Names `expect` when it stands alone.
pub fn check_query_keys(query: Option<&str>, expect: Option<&str>) -> Result<(), FieldError> {
    match (query, expect) {
        (None, Some(_)) => Err(FieldError::new(
            "expect",
            "needs a `query` whose result it is compared with",
        )),
        _ => Ok(()),
    }
}

/// Worsens `outcome` when `percent` of the connections in use crosses a limit.
pub fn judge_connections(outcome: &mut Outcome, limits: Option<&Thresholds>, percent: f64) {
    if let Some(t) = limits {
        let crossed = t.describe(percent).unwrap_or_default();
        outcome.worsen(
            t.classify(percent),
            format!("{percent}% of connections in use ({crossed})"),
        );
    }
}

/// Records a query's first value and fails the outcome when it is not `expected`.
pub fn judge_query(outcome: Outcome, got: Option<String>, expected: Option<&str>) -> Outcome {
    let mut outcome = outcome.observe("query_result", got.clone());
    if let Some(expected) = expected {
        if got.as_deref() != Some(expected) {
            let shown = got.map_or("no row".into(), |g| format!("`{g}`"));
            outcome.worsen(
                Status::Unhealthy,
                format!("query returned {shown}, expected `{expected}`"),
            );
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_result_other_than_expected_fails() {
        let out = judge_query(Outcome::healthy(), Some("DOWN".into()), Some("UP"));
        assert_eq!(out.status, Status::Unhealthy);
        assert_eq!(
            out.message.as_deref(),
            Some("query returned `DOWN`, expected `UP`")
        );
        let out = judge_query(Outcome::healthy(), None, Some("UP"));
        assert_eq!(
            out.message.as_deref(),
            Some("query returned no row, expected `UP`")
        );
        assert_eq!(
            judge_query(Outcome::healthy(), Some("UP".into()), Some("UP")).status,
            Status::Healthy
        );
    }

    #[test]
    fn connection_usage_past_the_limits_worsens() {
        let limits = connection_limits(Some(50.0), Some(90.0)).unwrap();
        let mut out = Outcome::healthy();
        judge_connections(&mut out, limits.as_ref(), 60.0);
        assert_eq!(out.status, Status::Degraded);
        assert!(connection_limits(None, None).unwrap().is_none());
        assert_eq!(check_query_keys(None, Some("x")).unwrap_err().key, "expect");
    }
}
