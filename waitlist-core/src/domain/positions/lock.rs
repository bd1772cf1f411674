//! Campaign-level serialisation of position recalculations.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::sync::lock;
use async_trait::async_trait;

/// Why a campaign lock could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock service (database) is unreachable; retrying may succeed.
    #[error("campaign lock unavailable: {0}")]
    Unavailable(String),
}

/// Holds a campaign lock; dropping it releases the lock.
pub struct CampaignLockGuard {
    _held: Box<dyn Send + Sync>,
}

impl fmt::Debug for CampaignLockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CampaignLockGuard")
    }
}

impl CampaignLockGuard {
    /// Wraps whatever keeps the lock (a transaction holding
    /// `pg_advisory_xact_lock`, a mutex guard, ...); dropping it must release.
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        Self {
            _held: Box::new(held),
        }
    }
}

/// Serialises work on one campaign across workers and processes.
///
/// The domain-events document takes `pg_advisory_xact_lock(hashtext(campaign_id))`;
/// a PostgreSQL implementation returns a guard owning that transaction.
///
/// # Contract
/// While a guard for a campaign is alive, `lock` for the same campaign does
/// not return; different campaigns never wait for each other.
#[async_trait]
pub trait CampaignLock: Send + Sync + fmt::Debug {
    /// Waits for and takes the campaign's lock.
    ///
    /// # Errors
    /// [`LockError::Unavailable`] when the lock service cannot be reached.
    async fn lock(&self, campaign_id: &str) -> Result<CampaignLockGuard, LockError>;
}

type Locks = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// An in-process [`CampaignLock`]: one async mutex per campaign, forgotten
/// once nobody holds or waits for it (memory stays bounded).
#[derive(Debug, Default, Clone)]
pub struct MemoryCampaignLock {
    locks: Locks,
}

impl MemoryCampaignLock {
    /// No campaign locked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Campaigns whose lock is held or awaited now.
    pub fn active(&self) -> usize {
        lock(&self.locks).len()
    }
}

struct MemoryGuard {
    campaign: String,
    locks: Locks,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for MemoryGuard {
    fn drop(&mut self) {
        let mut locks = lock(&self.locks);
        drop(self.guard.take());
        if locks
            .get(&self.campaign)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            locks.remove(&self.campaign);
        }
    }
}

#[async_trait]
impl CampaignLock for MemoryCampaignLock {
    async fn lock(&self, campaign_id: &str) -> Result<CampaignLockGuard, LockError> {
        let mutex = {
            let mut locks = lock(&self.locks);
            Arc::clone(locks.entry(campaign_id.to_owned()).or_default())
        };
        let guard = mutex.lock_owned().await;
        Ok(CampaignLockGuard::new(MemoryGuard {
            campaign: campaign_id.to_owned(),
            locks: Arc::clone(&self.locks),
            guard: Some(guard),
        }))
    }
}

impl crate::runtime::Transient for LockError {
    fn is_transient(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn second_lock_on_a_campaign_waits_and_other_campaigns_do_not() {
        let locks = MemoryCampaignLock::new();
        let held = locks.lock("a").await.expect("lock");
        let waiting = tokio::time::timeout(Duration::from_millis(50), locks.lock("a")).await;
        assert!(waiting.is_err(), "same campaign must wait");
        let other = tokio::time::timeout(Duration::from_millis(50), locks.lock("b")).await;
        assert!(other.is_ok(), "other campaign must not wait");
        drop(other);
        drop(held);
        let again = tokio::time::timeout(Duration::from_millis(50), locks.lock("a")).await;
        assert!(again.is_ok());
        drop(again);
        assert_eq!(locks.active(), 0, "released locks are forgotten");
    }
}
