//! Fraud signals in memory, with bounded memory.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::store::model::{FraudSignal, SignalKind};
use crate::store::traits::{FraudSignalStore, StoreResult};
use crate::sync::lock;

// hashbrown's default hasher (foldhash, seeded per map): several times
// cheaper than SipHash on these short keys, hashed on every record.
use hashbrown::HashMap;

type SignalKey = (String, SignalKind, String);

/// Windows with more subjects than this keep an index of their subjects
/// (below it a scan of the few entries is cheaper than hashing).
const INDEX_FROM: usize = 8;

#[derive(Debug)]
struct Window {
    /// `(at, subject)`, one entry per subject.
    entries: VecDeque<(DateTime<Utc>, String)>,
    /// The subjects of `entries` and their times, once `entries` has grown
    /// past [`INDEX_FROM`].
    index: Option<HashMap<String, DateTime<Utc>>>,
    /// `entries` is in time order (true until an observation arrives older
    /// than the newest held): counting is then a binary search.
    ordered: bool,
    last: DateTime<Utc>,
    window: chrono::Duration,
    /// `last + window`: the sweep drops the value from then on (the same
    /// test as `now - last >= window`, without a subtraction per value).
    expires: DateTime<Utc>,
}

impl Window {
    fn new(at: DateTime<Utc>, window: chrono::Duration) -> Self {
        Self {
            entries: VecDeque::new(),
            index: None,
            ordered: true,
            last: at,
            window,
            expires: expiry(at, window),
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, s)) = self.entries.pop_front() {
            if let Some(index) = &mut self.index {
                index.remove(&s);
            }
        }
        if self.entries.is_empty() {
            self.ordered = true;
        }
    }

    /// When `subject` was recorded, if it is held.
    fn time_of(&self, subject: &str) -> Option<DateTime<Utc>> {
        match &self.index {
            Some(index) => index.get(subject).copied(),
            None => self
                .entries
                .iter()
                .find(|(_, s)| s == subject)
                .map(|(t, _)| *t),
        }
    }

    /// Subjects other than `subject` held with a time in `since..=at`.
    /// (`held` is when `subject` was recorded, if it is held.)
    fn others(
        &self,
        subject: &str,
        held: Option<DateTime<Utc>>,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> u64 {
        if !self.ordered {
            return self
                .entries
                .iter()
                .filter(|(t, s)| s != subject && *t >= since && *t <= at)
                .count() as u64;
        }
        // In time order, so from `since` (everything older was popped) to
        // the last entry at or before `at`.
        // Usually everything held is inside (records arrive in time order),
        // so look before searching.
        let lo = match self.entries.front() {
            Some((t, _)) if *t < since => self.entries.partition_point(|(t, _)| *t < since),
            _ => 0,
        };
        let hi = match self.entries.back() {
            Some((t, _)) if *t > at => self.entries.partition_point(|(t, _)| *t <= at),
            _ => self.entries.len(),
        };
        let inside = hi.saturating_sub(lo);
        let own = held.is_some_and(|t| t >= since && t <= at);
        (inside - usize::from(own && inside > 0)) as u64
    }

    fn push(&mut self, at: DateTime<Utc>, subject: String) {
        if self.entries.back().is_some_and(|(t, _)| *t > at) {
            self.ordered = false;
        }
        if let Some(index) = &mut self.index {
            index.insert(subject.clone(), at);
        } else if self.entries.len() >= INDEX_FROM {
            let mut index: HashMap<String, DateTime<Utc>> =
                self.entries.iter().map(|(t, s)| (s.clone(), *t)).collect();
            index.insert(subject.clone(), at);
            self.index = Some(index);
        }
        self.entries.push_back((at, subject));
    }
}

fn expiry(last: DateTime<Utc>, window: chrono::Duration) -> DateTime<Utc> {
    last.checked_add_signed(window)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
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
///
/// A record costs O(1) amortised plus O(log n) in the value's window: a
/// window keeps its subjects in time order (counted by binary search; a
/// late, out-of-order observation turns that window to counting by scan
/// until it empties) and, past a few subjects, an index of them; the sweep
/// runs every 1,024 records or a quarter of the values tracked, whichever is
/// more, so its cost per record stays constant.
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
        inner.windows.retain(|_, w| now < w.expires);
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
        let sweep_every = (inner.windows.len() / 4).max(1024);
        if inner.since_sweep >= sweep_every || inner.windows.len() >= self.max_values {
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
            .or_insert_with(|| Window::new(at, window));
        w.window = window;
        w.last = w.last.max(at);
        w.expires = expiry(w.last, window);
        let since = at
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        while w.entries.front().is_some_and(|(t, _)| *t < since) {
            w.pop_front();
        }
        let held = w.time_of(&subject_id);
        let others = w.others(&subject_id, held, since, at);
        if held.is_none() {
            w.push(at, subject_id);
            if w.entries.len() > self.max_per_value {
                w.pop_front();
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

    /// The counts of the windows (binary search, subject index, out-of-order
    /// fallback) equal a plain scan over every observation kept.
    #[tokio::test]
    async fn counts_equal_a_scan_in_and_out_of_time_order() {
        let s = MemoryFraudSignals::default();
        let w = Duration::from_secs(60);
        let mut kept: Vec<(i64, String, String)> = Vec::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..4_000i64 {
            let value = format!("v{}", rng.usize(0..3));
            let subject = format!("s{}", rng.usize(0..40));
            // Mostly in time order, sometimes a late observation.
            let at = if rng.usize(0..10) == 0 {
                i / 4 - rng.i64(0..90)
            } else {
                i / 4
            };
            let got = s
                .record_signal(signal(&value, &subject, at), w)
                .await
                .unwrap_or(u64::MAX);
            // The model: drop what is older than the window of this record
            // from the front of the value's observations (as the store does),
            // count the others inside, keep a subject once.
            let since = at - 60;
            let mut mine: Vec<(i64, String)> = kept
                .iter()
                .filter(|(_, v, _)| *v == value)
                .map(|(t, _, s)| (*t, s.clone()))
                .collect();
            let drop = mine.iter().take_while(|(t, _)| *t < since).count();
            mine.drain(..drop);
            let expected = mine
                .iter()
                .filter(|(t, x)| *x != subject && *t >= since && *t <= at)
                .count() as u64;
            assert_eq!(got, expected, "record {i}");
            if !mine.iter().any(|(_, x)| *x == subject) {
                mine.push((at, subject));
            }
            kept.retain(|(_, v, _)| *v != value);
            kept.extend(mine.into_iter().map(|(t, x)| (t, value.clone(), x)));
        }
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
