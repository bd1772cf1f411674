//! Retry policy: how many attempts and how long to wait between them.

use std::time::Duration;

/// How the delay grows from one attempt to the next.
#[derive(Debug, Clone, PartialEq)]
pub enum Backoff {
    /// The same delay every time.
    Fixed(Duration),
    /// `initial + step × (attempt − 1)`, capped at `max`.
    Linear {
        /// Delay after the first failure.
        initial: Duration,
        /// Added for every further failure.
        step: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// `initial × factor^(attempt − 1)`, capped at `max`.
    Exponential {
        /// Delay after the first failure.
        initial: Duration,
        /// Growth factor (2.0 doubles).
        factor: f64,
        /// Upper bound.
        max: Duration,
    },
}

/// Max attempts, backoff and jitter of a consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; after the last failed attempt the
    /// message is dead-lettered. At least 1.
    pub max_attempts: u32,
    /// Delay growth.
    pub backoff: Backoff,
    /// Random spread as a fraction of the delay (0.2 = ±20%), in `[0, 1]`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 5 attempts, exponential from 1 s doubling up to 5 min, ±20% jitter.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff: Backoff::Exponential {
                initial: Duration::from_secs(1),
                factor: 2.0,
                max: Duration::from_secs(300),
            },
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff from `initial`, doubling, capped at `max`, no jitter.
    pub fn exponential(max_attempts: u32, initial: Duration, max: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            backoff: Backoff::Exponential {
                initial,
                factor: 2.0,
                max,
            },
            jitter: 0.0,
        }
    }

    /// Linear backoff: `step`, `2 × step`, `3 × step`, ... capped at 5 min
    /// ([`with_first_delay`](Self::with_first_delay) and
    /// [`with_max_delay`](Self::with_max_delay) change the start and the cap),
    /// no jitter.
    pub fn linear(max_attempts: u32, step: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            backoff: Backoff::Linear {
                initial: step,
                step,
                max: Duration::from_secs(300),
            },
            jitter: 0.0,
        }
    }

    /// The same delay between all attempts, no jitter.
    pub fn fixed(max_attempts: u32, delay: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            backoff: Backoff::Fixed(delay),
            jitter: 0.0,
        }
    }

    /// Sets the delay after the first failure (of a fixed policy: every delay).
    pub fn with_first_delay(mut self, first: Duration) -> Self {
        match &mut self.backoff {
            Backoff::Fixed(d) => *d = first,
            Backoff::Linear { initial, .. } | Backoff::Exponential { initial, .. } => {
                *initial = first;
            }
        }
        self
    }

    /// Caps the delay of a growing backoff (a fixed one keeps its delay).
    pub fn with_max_delay(mut self, cap: Duration) -> Self {
        if let Backoff::Linear { max, .. } | Backoff::Exponential { max, .. } = &mut self.backoff {
            *max = cap;
        }
        self
    }

    /// Sets the jitter fraction (clamped to `[0, 1]`).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Whether a delivery that failed on `attempt` may be tried again.
    pub fn should_retry(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// Delay before the attempt after `attempt` failed, without jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let n = attempt.max(1) - 1;
        match &self.backoff {
            Backoff::Fixed(d) => *d,
            Backoff::Linear { initial, step, max } => {
                let d = initial.saturating_add(step.saturating_mul(n));
                d.min(*max)
            }
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => {
                let exp = i32::try_from(n).unwrap_or(i32::MAX);
                let secs = initial.as_secs_f64() * factor.max(1.0).powi(exp);
                if secs.is_finite() && secs < max.as_secs_f64() {
                    Duration::from_secs_f64(secs)
                } else {
                    *max
                }
            }
        }
    }

    /// Delay before the next attempt after `attempt` failed, with jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.base_delay(attempt);
        if self.jitter <= 0.0 {
            return base;
        }
        let spread = (fastrand::f64() * 2.0 - 1.0) * self.jitter;
        base.mul_f64((1.0 + spread).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_and_caps() {
        let p = RetryPolicy::exponential(10, Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(p.base_delay(1), Duration::from_millis(100));
        assert_eq!(p.base_delay(2), Duration::from_millis(200));
        assert_eq!(p.base_delay(4), Duration::from_millis(800));
        assert_eq!(p.base_delay(5), Duration::from_secs(1));
        assert_eq!(p.base_delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn linear_matches_the_notification_schedule() {
        // 2 s, 4 s, 6 s as in the notification document.
        let p =
            RetryPolicy::linear(4, Duration::from_secs(2)).with_max_delay(Duration::from_secs(60));
        let delays: Vec<_> = (1..=3).map(|a| p.base_delay(a).as_secs()).collect();
        assert_eq!(delays, vec![2, 4, 6]);
    }

    #[test]
    fn linear_starts_where_told_and_stops_at_its_cap() {
        let p = RetryPolicy::linear(10, Duration::from_secs(2))
            .with_first_delay(Duration::from_secs(5))
            .with_max_delay(Duration::from_secs(10));
        let delays: Vec<_> = (1..=5).map(|a| p.base_delay(a).as_secs()).collect();
        assert_eq!(delays, vec![5, 7, 9, 10, 10]);
        assert_eq!(
            RetryPolicy::linear(3, Duration::from_secs(100)).base_delay(9),
            Duration::from_secs(300)
        );
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let p = RetryPolicy::fixed(3, Duration::from_secs(10)).with_jitter(0.2);
        for _ in 0..1000 {
            let d = p.delay(1).as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn last_attempt_is_not_retried() {
        let p = RetryPolicy::fixed(3, Duration::ZERO);
        assert!(p.should_retry(1));
        assert!(p.should_retry(2));
        assert!(!p.should_retry(3));
    }
}
