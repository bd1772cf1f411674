//! Fraud signals in memory, with bounded memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::store::model::{FraudSignal, SignalKind};
use crate::store::traits::{FraudSignalStore, StoreResult};
use crate::sync::lock;

type SignalKey = (String, SignalKind, String);

#[derive(Debug)]
struct Window {
    /// `(at, subject)`, one entry per subject.
    entries: VecDeque<(DateTime<Utc>, String)>,
    last: DateTime<Utc>,
    window: chrono::Duration,
}

#[derive(Debug, Default)]
struct Inner {
    windows: HashMap<SignalKey, Window>,
    since_sweep: usize,
}

/// Windowed fraud signals in memory.
///
/// Memory stays bounded however long it runs: observations older than their
/// window are evicted on every record of the same value and by a periodic
/// sweep; at most `max_values` values are tracked (the least recently seen
/// are dropped first) with at most `max_per_value` subjects each (counts
/// saturate there, far above any sensible threshold).
#[derive(Debug)]
pub struct MemoryFraudSignals {
    inner: Mutex<Inner>,
    max_values: usize,
    max_per_value: usize,
}

impl Default for MemoryFraudSignals {
    /// 100,000 values, 1,000 subjects per value.
    fn default() -> Self {
        Self::new(100_000, 1_000)
    }
}

impl MemoryFraudSignals {
    /// Tracks at most `max_values` values with `max_per_value` subjects each.
    pub fn new(max_values: usize, max_per_value: usize) -> Self {
        Self {
            inner: Mutex::default(),
            max_values: max_values.max(1),
            max_per_value: max_per_value.max(1),
        }
    }

    /// Values tracked now.
    pub fn tracked_values(&self) -> usize {
        lock(&self.inner).windows.len()
    }

    /// Observations held now, over all values.
    pub fn tracked_observations(&self) -> usize {
        let inner = lock(&self.inner);
        inner.windows.values().map(|w| w.entries.len()).sum()
    }

    fn sweep(&self, inner: &mut Inner, now: DateTime<Utc>) {
        inner.since_sweep = 0;
        inner.windows.retain(|_, w| now - w.last < w.window);
        // Evict down to 90% of the bound, so a full store does not sweep on
        // every record.
        let target = self.max_values - self.max_values / 10;
        let excess = inner.windows.len().saturating_sub(target);
        if excess > 0 {
            let mut lasts: Vec<DateTime<Utc>> = inner.windows.values().map(|w| w.last).collect();
            let (_, cutoff, _) = lasts.select_nth_unstable(excess - 1);
            let cutoff = *cutoff;
            let mut to_drop = excess;
            inner.windows.retain(|_, w| {
                if to_drop > 0 && w.last <= cutoff {
                    to_drop -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }
}

#[async_trait]
impl FraudSignalStore for MemoryFraudSignals {
    async fn record_signal(&self, signal: FraudSignal, window: Duration) -> StoreResult<u64> {
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let mut inner = lock(&self.inner);
        inner.since_sweep += 1;
        if inner.since_sweep >= 1024 || inner.windows.len() >= self.max_values {
            self.sweep(&mut inner, signal.at);
        }
        let FraudSignal {
            campaign_id,
            kind,
            value,
            subject_id,
            at,
        } = signal;
        let w = inner
            .windows
            .entry((campaign_id, kind, value))
            .or_insert_with(|| Window {
                entries: VecDeque::new(),
                last: at,
                window,
            });
        w.window = window;
        w.last = w.last.max(at);
        let since = at
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        while w.entries.front().is_some_and(|(t, _)| *t < since) {
            w.entries.pop_front();
        }
        let others = w
            .entries
            .iter()
            .filter(|(t, s)| *s != subject_id && *t >= since && *t <= at)
            .count() as u64;
        if !w.entries.iter().any(|(_, s)| *s == subject_id) {
            w.entries.push_back((at, subject_id));
            if w.entries.len() > self.max_per_value {
                w.entries.pop_front();
            }
        }
        Ok(others)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(value: &str, subject: &str, at_secs: i64) -> FraudSignal {
        FraudSignal {
            campaign_id: "c".into(),
            kind: SignalKind::Ip,
            value: value.into(),
            subject_id: subject.into(),
            at: DateTime::<Utc>::from_timestamp(at_secs, 0).unwrap_or_default(),
        }
    }

    #[tokio::test]
    async fn counts_other_subjects_within_the_window_once_each() {
        let s = MemoryFraudSignals::default();
        let w = Duration::from_secs(60);
        assert_eq!(s.record_signal(signal("ip", "a", 0), w).await, Ok(0));
        assert_eq!(s.record_signal(signal("ip", "b", 10), w).await, Ok(1));
        assert_eq!(s.record_signal(signal("ip", "b", 11), w).await, Ok(1));
        assert_eq!(s.record_signal(signal("ip", "c", 20), w).await, Ok(2));
        // `a` (t=0) is outside the window of t=65.
        assert_eq!(s.record_signal(signal("ip", "d", 65), w).await, Ok(2));
    }

    #[tokio::test]
    async fn memory_stays_bounded_over_a_long_run() {
        let s = MemoryFraudSignals::new(500, 10);
        let w = Duration::from_secs(60);
        for i in 0..50_000i64 {
            let value = format!("ip-{}", i % 5_000);
            s.record_signal(signal(&value, &format!("u{i}"), i), w)
                .await
                .ok();
            assert!(s.tracked_values() <= 500, "values {}", s.tracked_values());
        }
        assert!(s.tracked_observations() <= 500 * 10);
    }
}
