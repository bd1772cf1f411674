//! The campaign lock: `pg_advisory_xact_lock(hashtext(campaign_id))`.

use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::Transaction;
use waitlist_core::domain::{CampaignLock, CampaignLockGuard, LockError};

/// Serialises work on a campaign across processes with a transaction-level
/// advisory lock, `pg_advisory_xact_lock(hashtext(campaign_id))` (the key of
/// the domain-events document).
///
/// The guard owns the transaction that took the lock and one pooled
/// connection; dropping the guard rolls the transaction back, which releases
/// the lock. If the connection breaks, PostgreSQL releases the lock with it.
///
/// The key is the campaign id alone, not the store's schema: deployments
/// sharing one database (in different schemas) serialise on the same ids.
/// The store's own advisory locks (signups, fraud signals, migrations) use
/// two-key locks, a key space apart, so they never wait for this one.
#[derive(Clone)]
pub struct PgCampaignLock {
    pool: PgPool,
}

impl fmt::Debug for PgCampaignLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCampaignLock")
            .field("pool_size", &self.pool.size())
            .finish()
    }
}

impl PgCampaignLock {
    /// Locks through `pool` (one connection per lock held).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// The transaction holding the advisory lock; ends it on drop.
struct Held {
    campaign: String,
    tx: Mutex<Option<Transaction<'static, Postgres>>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let tx = match self.tx.get_mut() {
            Ok(tx) => tx.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(tx) = tx else { return };
        let campaign = std::mem::take(&mut self.campaign);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = tx.rollback().await {
                        // The connection is closed then, and the lock with it.
                        tracing::warn!(campaign, error = %e, "releasing campaign lock failed");
                    }
                });
            }
            // Outside a runtime sqlx queues the rollback on the connection,
            // sent when the pool next uses or closes it.
            Err(_) => drop(tx),
        }
    }
}

#[async_trait]
impl CampaignLock for PgCampaignLock {
    async fn lock(&self, campaign_id: &str) -> Result<CampaignLockGuard, LockError> {
        let unavailable = |e: sqlx::Error| LockError::Unavailable(e.to_string());
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(campaign_id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        Ok(CampaignLockGuard::new(Held {
            campaign: campaign_id.to_owned(),
            tx: Mutex::new(Some(tx)),
        }))
    }
}
