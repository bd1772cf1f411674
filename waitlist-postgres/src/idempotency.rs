//! The runtime's idempotency keys on PostgreSQL.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use waitlist_core::runtime::{Claim, IdempotencyStore};
use waitlist_core::store::StoreError;

use crate::error::{micros, store_error};
use crate::PgStore;

/// Expired keys are deleted once every this many claims of a store.
const PURGE_EVERY: u64 = 1024;

fn runtime_error(e: StoreError) -> waitlist_core::Error {
    waitlist_core::Error::classified(e.is_transient(), e)
}

impl PgStore {
    /// Deletes expired idempotency keys and returns how many. `claim` does
    /// it every 1024 calls; hosts may also call it on a schedule.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn purge_expired_keys(&self) -> waitlist_core::Result<u64> {
        let done =
            sqlx::query(&self.sql("DELETE FROM {s}.idempotency_keys WHERE expires_at <= now()"))
                .execute(&self.pool)
                .await
                .map_err(|e| runtime_error(store_error(e)))?;
        Ok(done.rows_affected())
    }
}

/// Expiry uses the database clock (`now()`), so processes with skewed
/// clocks agree.
#[async_trait]
impl IdempotencyStore for PgStore {
    /// One `INSERT … ON CONFLICT DO UPDATE … WHERE expires_at <= now()`; a
    /// key it did not take is read to tell in-progress from done.
    async fn claim(&self, key: &str, lease: Duration) -> waitlist_core::Result<Claim> {
        if self.claims.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            if let Err(e) = self.purge_expired_keys().await {
                tracing::warn!(error = %e, "purging expired idempotency keys failed");
            }
        }
        let taken = sqlx::query(&self.sql(
            "INSERT INTO {s}.idempotency_keys AS k (key, done, expires_at)
             VALUES ($1, false, now() + $2 * interval '1 microsecond')
             ON CONFLICT (key) DO UPDATE SET done = false, expires_at = EXCLUDED.expires_at
             WHERE k.expires_at <= now()",
        ))
        .bind(key)
        .bind(micros(lease))
        .execute(&self.pool)
        .await
        .map_err(|e| runtime_error(store_error(e)))?;
        if taken.rows_affected() == 1 {
            return Ok(Claim::Acquired);
        }
        let done: Option<bool> = sqlx::query_scalar(
            &self
                .sql("SELECT done FROM {s}.idempotency_keys WHERE key = $1 AND expires_at > now()"),
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| runtime_error(store_error(e)))?;
        Ok(match done {
            Some(true) => Claim::Done,
            // Released or expired in between: the caller retries later.
            Some(false) | None => Claim::InProgress,
        })
    }

    async fn complete(&self, key: &str, ttl: Duration) -> waitlist_core::Result<()> {
        sqlx::query(&self.sql(
            "INSERT INTO {s}.idempotency_keys (key, done, expires_at)
             VALUES ($1, true, now() + $2 * interval '1 microsecond')
             ON CONFLICT (key) DO UPDATE SET done = true, expires_at = EXCLUDED.expires_at",
        ))
        .bind(key)
        .bind(micros(ttl))
        .execute(&self.pool)
        .await
        .map_err(|e| runtime_error(store_error(e)))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> waitlist_core::Result<()> {
        sqlx::query(&self.sql("DELETE FROM {s}.idempotency_keys WHERE key = $1"))
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(|e| runtime_error(store_error(e)))?;
        Ok(())
    }
}
