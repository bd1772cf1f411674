//! The webhook retry schedule: exponential backoff with jitter, honouring
//! the endpoint's `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::runtime::{Backoff, RetryPolicy};

/// When failed deliveries are tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRetry {
    /// Attempts, backoff and jitter. Default: 8 attempts, 5 s × 4 per
    /// attempt (5 s, 20 s, 80 s, 5 min 20 s, 21 min, 85 min, 5 h 41 min),
    /// capped at 10 h, ±20 % jitter.
    pub policy: RetryPolicy,
    /// Longest `Retry-After` honoured (default 1 h); a longer one waits this.
    pub max_retry_after: Duration,
}

impl Default for WebhookRetry {
    fn default() -> Self {
        Self {
            policy: RetryPolicy {
                max_attempts: 8,
                backoff: Backoff::Exponential {
                    initial: Duration::from_secs(5),
                    factor: 4.0,
                    max: Duration::from_secs(10 * 3600),
                },
                jitter: 0.2,
            },
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl WebhookRetry {
    /// A schedule with `policy` and the default `Retry-After` cap.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// Sets the longest `Retry-After` honoured.
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = limit;
        self
    }

    /// The delay before the attempt after `attempt` failed, or `None` when
    /// `attempt` was the last one. A `Retry-After` longer than the schedule
    /// wins (up to [`max_retry_after`](Self::max_retry_after)).
    pub fn next_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if !self.policy.should_retry(attempt) {
            return None;
        }
        let scheduled = self.policy.delay(attempt);
        Some(match retry_after {
            Some(wanted) => scheduled.max(wanted.min(self.max_retry_after)),
            None => scheduled,
        })
    }
}

/// Reads a `Retry-After` value: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_grows_and_ends() {
        let r = WebhookRetry::new(RetryPolicy::exponential(
            3,
            Duration::from_secs(1),
            Duration::from_secs(60),
        ));
        assert_eq!(r.next_delay(1, None), Some(Duration::from_secs(1)));
        assert_eq!(r.next_delay(2, None), Some(Duration::from_secs(2)));
        assert_eq!(r.next_delay(3, None), None);
    }

    #[test]
    fn retry_after_wins_when_longer_but_is_capped() {
        let r = WebhookRetry::new(RetryPolicy::fixed(5, Duration::from_secs(1)))
            .max_retry_after(Duration::from_secs(30));
        let d = |s| Some(Duration::from_secs(s));
        assert_eq!(r.next_delay(1, d(10)), d(10));
        assert_eq!(r.next_delay(1, d(0)), d(1));
        assert_eq!(r.next_delay(1, d(3600)), d(30));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
