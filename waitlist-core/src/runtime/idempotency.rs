//! Duplicate suppression by message id.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::sync::lock;
use crate::Result;

/// The state of an idempotency key when a delivery claims it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First claim (or an earlier claim expired): run the effect.
    Acquired,
    /// Another delivery of the same id is running now: try again later.
    InProgress,
    /// The effect already ran: acknowledge without running it again.
    Done,
}

/// Remembers which message ids a group has handled.
///
/// Host services may implement it on their database or Redis (for example
/// `SET key NX PX lease` for [`claim`](Self::claim)).
#[async_trait]
pub trait IdempotencyStore: Send + Sync + Debug {
    /// Claims `key` for `lease` (after which an unfinished claim expires).
    ///
    /// # Errors
    /// If the store cannot be reached; the runtime then retries the delivery.
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim>;

    /// Marks `key` done; later claims within `ttl` answer [`Claim::Done`].
    ///
    /// # Errors
    /// If the store cannot be reached.
    async fn complete(&self, key: &str, ttl: Duration) -> Result<()>;

    /// Drops a claim whose effect did not complete, so a retry may run it.
    ///
    /// # Errors
    /// If the store cannot be reached.
    async fn release(&self, key: &str) -> Result<()>;
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    done: bool,
    expires: Instant,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Keys in the order their current expiry was set; purged from the front.
    expiries: VecDeque<(Instant, String)>,
}

/// In-memory [`IdempotencyStore`] whose entries expire after their TTL.
///
/// Memory is bounded by the number of ids seen within the longest TTL.
#[derive(Debug, Default)]
pub struct MemoryIdempotencyStore {
    state: Mutex<State>,
}

impl MemoryIdempotencyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live entries (expired ones may linger until the next call).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the store holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: recover it.
        lock(&self.state)
    }

    fn set(state: &mut State, key: &str, entry: Entry) {
        state.entries.insert(key.to_owned(), entry);
        state.expiries.push_back((entry.expires, key.to_owned()));
    }

    fn purge(state: &mut State, now: Instant) {
        while let Some((at, _)) = state.expiries.front() {
            if *at > now {
                break;
            }
            if let Some((at, key)) = state.expiries.pop_front() {
                if state.entries.get(&key).is_some_and(|e| e.expires <= at) {
                    state.entries.remove(&key);
                }
            }
        }
    }
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim> {
        let now = Instant::now();
        let mut state = self.lock();
        Self::purge(&mut state, now);
        if let Some(entry) = state.entries.get(key) {
            if entry.expires > now {
                return Ok(if entry.done {
                    Claim::Done
                } else {
                    Claim::InProgress
                });
            }
        }
        Self::set(
            &mut state,
            key,
            Entry {
                done: false,
                expires: now + lease,
            },
        );
        Ok(Claim::Acquired)
    }

    async fn complete(&self, key: &str, ttl: Duration) -> Result<()> {
        let mut state = self.lock();
        Self::set(
            &mut state,
            key,
            Entry {
                done: true,
                expires: Instant::now() + ttl,
            },
        );
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<()> {
        self.lock().entries.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completed_key_answers_done_until_its_ttl() {
        let store = MemoryIdempotencyStore::new();
        let lease = Duration::from_secs(30);
        assert_eq!(store.claim("g/1", lease).await.ok(), Some(Claim::Acquired));
        assert_eq!(
            store.claim("g/1", lease).await.ok(),
            Some(Claim::InProgress)
        );
        store.complete("g/1", Duration::from_millis(30)).await.ok();
        assert_eq!(store.claim("g/1", lease).await.ok(), Some(Claim::Done));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.claim("g/1", lease).await.ok(), Some(Claim::Acquired));
    }

    #[tokio::test]
    async fn released_claim_can_be_taken_again() {
        let store = MemoryIdempotencyStore::new();
        let lease = Duration::from_secs(30);
        assert_eq!(store.claim("k", lease).await.ok(), Some(Claim::Acquired));
        store.release("k").await.ok();
        assert_eq!(store.claim("k", lease).await.ok(), Some(Claim::Acquired));
    }

    #[tokio::test]
    async fn expired_entries_are_purged() {
        let store = MemoryIdempotencyStore::new();
        for i in 0..1000 {
            let key = format!("k{i}");
            store.claim(&key, Duration::ZERO).await.ok();
            store.complete(&key, Duration::ZERO).await.ok();
        }
        store.claim("last", Duration::from_secs(1)).await.ok();
        assert_eq!(store.len(), 1);
    }
}
