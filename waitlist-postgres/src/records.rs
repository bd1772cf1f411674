//! Referrals, rewards, the email log, analytics buckets and fraud signals.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use waitlist_core::events::{Granularity, RewardDeliveryMethod};
use waitlist_core::store::{
    AnalyticsBucket, AnalyticsStore, DeliveryClaim, EmailLogStore, FraudSignal, FraudSignalStore,
    Referral, ReferralStatus, ReferralStore, Reward, RewardStore, SentEmail, StoreError,
    StoreResult, TimeRange, UserReward,
};

use crate::columns::{name_of, parse_name, Columns};
use crate::error::{count, insert_error, minus, plus, store_error, to_i64};
use crate::PgStore;

/// Two-key advisory lock class of `record_signal` (one lock per campaign,
/// kind and value, so concurrent observations of a value count each other).
const SIGNAL_LOCK_CLASS: i32 = 0x5349_474E; // "SIGN"

fn referral_from_row(row: &PgRow) -> StoreResult<Referral> {
    let col = Columns::of(row, "referral");
    Ok(Referral {
        id: col.get("id")?,
        campaign_id: col.get("campaign_id")?,
        referrer_id: col.get("referrer_id")?,
        referred_id: col.get("referred_id")?,
        status: col.name("status", "referral status")?,
        created_at: col.get("created_at")?,
        verified_at: col.get("verified_at")?,
    })
}

fn reward_from_row(row: &PgRow) -> StoreResult<Reward> {
    let col = Columns::of(row, "reward");
    let Json(method): Json<RewardDeliveryMethod> = col.get("method")?;
    Ok(Reward {
        id: col.get("id")?,
        campaign_id: col.get("campaign_id")?,
        name: col.get("name")?,
        method,
        code_prefix: col.get("code_prefix")?,
    })
}

fn user_reward_from_row(row: &PgRow) -> StoreResult<UserReward> {
    let col = Columns::of(row, "user reward");
    let attempts: i64 = col.get("attempts")?;
    Ok(UserReward {
        id: col.get("id")?,
        campaign_id: col.get("campaign_id")?,
        user_id: col.get("user_id")?,
        reward_id: col.get("reward_id")?,
        code: col.get("code")?,
        status: col.name("status", "delivery status")?,
        attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
        last_error: col.get("last_error")?,
        lease_until: col.get("lease_until")?,
        earned_at: col.get("earned_at")?,
        delivered_at: col.get("delivered_at")?,
    })
}

fn bucket_from_row(row: &PgRow) -> StoreResult<AnalyticsBucket> {
    let col = Columns::of(row, "analytics bucket");
    Ok(AnalyticsBucket {
        campaign_id: col.get("campaign_id")?,
        granularity: col.name("granularity", "granularity")?,
        start: col.get("start_at")?,
        signups: col.unsigned("signups", "bucket count")?,
        verifications: col.unsigned("verifications", "bucket count")?,
        referrals: col.unsigned("referrals", "bucket count")?,
        emails_sent: col.unsigned("emails_sent", "bucket count")?,
        rewards_delivered: col.unsigned("rewards_delivered", "bucket count")?,
    })
}

#[async_trait]
impl ReferralStore for PgStore {
    async fn insert_referral(&self, referral: Referral) -> StoreResult<()> {
        let done = sqlx::query(&self.sql(
            "INSERT INTO {s}.referrals
                 (campaign_id, id, referrer_id, referred_id, status, created_at, verified_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (campaign_id, id) DO NOTHING",
        ))
        .bind(&referral.campaign_id)
        .bind(&referral.id)
        .bind(&referral.referrer_id)
        .bind(&referral.referred_id)
        .bind(name_of(referral.status))
        .bind(referral.created_at)
        .bind(referral.verified_at)
        .execute(&self.pool)
        .await
        .map_err(insert_error("referral", &referral.id))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::already_exists("referral", referral.id));
        }
        Ok(())
    }

    async fn referral(
        &self,
        campaign_id: &str,
        referral_id: &str,
    ) -> StoreResult<Option<Referral>> {
        self.by_id("referrals", campaign_id, referral_id, referral_from_row)
            .await
    }

    /// One statement: the row is locked and read (`old`), updated unless
    /// the status is the same or the referral is blocked (the rule of
    /// [`ReferralStatus::moves_to`]), and the previous status returned.
    async fn set_referral_status(
        &self,
        campaign_id: &str,
        referral_id: &str,
        status: ReferralStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<ReferralStatus> {
        let previous: Option<String> = sqlx::query_scalar(&self.sql(
            "WITH old AS (
                 SELECT status FROM {s}.referrals
                 WHERE campaign_id = $1 AND id = $2 FOR UPDATE
             ), changed AS (
                 UPDATE {s}.referrals AS r SET
                     status = $3,
                     verified_at = CASE WHEN $3 = 'verified' THEN $4 ELSE r.verified_at END
                 FROM old
                 WHERE r.campaign_id = $1 AND r.id = $2
                   AND old.status <> $3 AND old.status <> 'blocked'
                 RETURNING 1
             )
             SELECT old.status FROM old",
        ))
        .bind(campaign_id)
        .bind(referral_id)
        .bind(name_of(status))
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        match previous {
            Some(name) => parse_name::<ReferralStatus>("referral status", &name),
            None => Err(StoreError::not_found("referral", referral_id)),
        }
    }

    async fn count_verified(&self, campaign_id: &str, referrer_id: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(&self.sql(
            "SELECT count(*) FROM {s}.referrals
             WHERE campaign_id = $1 AND referrer_id = $2 AND status = 'verified'",
        ))
        .bind(campaign_id)
        .bind(referrer_id)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        count(n)
    }

    async fn count_referrals(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        self.count_in("referrals", "created_at", campaign_id, range)
            .await
    }
}

#[async_trait]
impl RewardStore for PgStore {
    async fn save_reward(&self, reward: Reward) -> StoreResult<()> {
        sqlx::query(&self.sql(
            "INSERT INTO {s}.rewards (campaign_id, id, name, method, code_prefix)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (campaign_id, id) DO UPDATE SET
                 name = EXCLUDED.name, method = EXCLUDED.method,
                 code_prefix = EXCLUDED.code_prefix",
        ))
        .bind(&reward.campaign_id)
        .bind(&reward.id)
        .bind(&reward.name)
        .bind(Json(reward.method))
        .bind(&reward.code_prefix)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn reward(&self, campaign_id: &str, reward_id: &str) -> StoreResult<Option<Reward>> {
        self.by_id("rewards", campaign_id, reward_id, reward_from_row)
            .await
    }

    /// `INSERT … ON CONFLICT DO NOTHING`: the id and (user, reward) are both
    /// unique.
    async fn grant_reward(&self, user_reward: UserReward) -> StoreResult<bool> {
        let done = sqlx::query(&self.sql(
            "INSERT INTO {s}.user_rewards
                 (campaign_id, id, user_id, reward_id, code, status, attempts, last_error,
                  lease_until, earned_at, delivered_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT DO NOTHING",
        ))
        .bind(&user_reward.campaign_id)
        .bind(&user_reward.id)
        .bind(&user_reward.user_id)
        .bind(&user_reward.reward_id)
        .bind(&user_reward.code)
        .bind(name_of(user_reward.status))
        .bind(i64::from(user_reward.attempts))
        .bind(&user_reward.last_error)
        .bind(user_reward.lease_until)
        .bind(user_reward.earned_at)
        .bind(user_reward.delivered_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn user_reward(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
    ) -> StoreResult<Option<UserReward>> {
        self.by_id(
            "user_rewards",
            campaign_id,
            user_reward_id,
            user_reward_from_row,
        )
        .await
    }

    /// One `UPDATE … WHERE status = 'pending' OR (status = 'delivering' AND
    /// lease ended) RETURNING *` (the rule of [`UserReward::claimable_at`]);
    /// only when it matched nothing is the reward read to say why.
    async fn claim_delivery(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<DeliveryClaim> {
        let row = sqlx::query(&self.sql(
            "UPDATE {s}.user_rewards SET
                 status = 'delivering',
                 lease_until = $4,
                 attempts = LEAST(attempts + 1, 4294967295)
             WHERE campaign_id = $1 AND id = $2
               AND (status = 'pending'
                    OR (status = 'delivering' AND (lease_until IS NULL OR lease_until <= $3)))
             RETURNING *",
        ))
        .bind(campaign_id)
        .bind(user_reward_id)
        .bind(now)
        .bind(plus(now, lease))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        if let Some(row) = row {
            return Ok(DeliveryClaim::Claimed(user_reward_from_row(&row)?));
        }
        match self.user_reward(campaign_id, user_reward_id).await? {
            None => Err(StoreError::not_found("user reward", user_reward_id)),
            Some(refused) => Ok(DeliveryClaim::refused(refused.status)),
        }
    }

    async fn complete_delivery(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.update_one(
            "user reward",
            "UPDATE {s}.user_rewards SET
                 status = 'delivered', delivered_at = $3, lease_until = NULL, last_error = NULL
             WHERE campaign_id = $1 AND id = $2",
            campaign_id,
            user_reward_id,
            at,
        )
        .await
    }

    /// One `UPDATE`: a delivered reward stays as it is.
    async fn fail_delivery(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        error: &str,
    ) -> StoreResult<()> {
        self.update_one(
            "user reward",
            "UPDATE {s}.user_rewards SET
                 status = CASE WHEN status = 'delivered' THEN status ELSE 'pending' END,
                 lease_until = CASE WHEN status = 'delivered' THEN lease_until ELSE NULL END,
                 last_error = CASE WHEN status = 'delivered' THEN last_error ELSE $3 END
             WHERE campaign_id = $1 AND id = $2",
            campaign_id,
            user_reward_id,
            error,
        )
        .await
    }

    async fn count_delivered(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        self.count_in("user_rewards", "delivered_at", campaign_id, range)
            .await
    }
}

#[async_trait]
impl EmailLogStore for PgStore {
    /// `INSERT … ON CONFLICT DO UPDATE … WHERE reserved_at <= now − window`.
    async fn reserve(
        &self,
        dedupe_key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> StoreResult<bool> {
        let done = sqlx::query(&self.sql(
            "INSERT INTO {s}.email_reservations AS e (dedupe_key, reserved_at) VALUES ($1, $2)
             ON CONFLICT (dedupe_key) DO UPDATE SET reserved_at = EXCLUDED.reserved_at
             WHERE e.reserved_at <= $3",
        ))
        .bind(dedupe_key)
        .bind(now)
        .bind(minus(now, window))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, dedupe_key: &str) -> StoreResult<()> {
        sqlx::query(&self.sql("DELETE FROM {s}.email_reservations WHERE dedupe_key = $1"))
            .bind(dedupe_key)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// One statement: confirms the reservation at `sent_at` and logs the email.
    async fn record_sent(&self, email: SentEmail) -> StoreResult<()> {
        sqlx::query(&self.sql(
            "WITH reserved AS (
                 INSERT INTO {s}.email_reservations (dedupe_key, reserved_at) VALUES ($1, $6)
                 ON CONFLICT (dedupe_key) DO UPDATE SET reserved_at = EXCLUDED.reserved_at
             )
             INSERT INTO {s}.sent_emails (dedupe_key, campaign_id, user_id, kind, to_address, sent_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        ))
        .bind(&email.dedupe_key)
        .bind(&email.campaign_id)
        .bind(&email.user_id)
        .bind(Json(email.kind))
        .bind(&email.to)
        .bind(email.sent_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn count_sent(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        self.count_in("sent_emails", "sent_at", campaign_id, range)
            .await
    }
}

#[async_trait]
impl AnalyticsStore for PgStore {
    async fn upsert_bucket(&self, bucket: AnalyticsBucket) -> StoreResult<()> {
        sqlx::query(&self.sql(
            "INSERT INTO {s}.analytics_buckets
                 (campaign_id, granularity, start_at, signups, verifications, referrals,
                  emails_sent, rewards_delivered)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (campaign_id, granularity, start_at) DO UPDATE SET
                 signups = EXCLUDED.signups, verifications = EXCLUDED.verifications,
                 referrals = EXCLUDED.referrals, emails_sent = EXCLUDED.emails_sent,
                 rewards_delivered = EXCLUDED.rewards_delivered",
        ))
        .bind(&bucket.campaign_id)
        .bind(name_of(bucket.granularity))
        .bind(bucket.start)
        .bind(to_i64(bucket.signups, "signups")?)
        .bind(to_i64(bucket.verifications, "verifications")?)
        .bind(to_i64(bucket.referrals, "referrals")?)
        .bind(to_i64(bucket.emails_sent, "emails sent")?)
        .bind(to_i64(bucket.rewards_delivered, "rewards delivered")?)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn buckets(
        &self,
        campaign_id: &str,
        granularity: Granularity,
        range: TimeRange,
    ) -> StoreResult<Vec<AnalyticsBucket>> {
        let rows = sqlx::query(&self.sql(
            "SELECT * FROM {s}.analytics_buckets
             WHERE campaign_id = $1 AND granularity = $2 AND start_at >= $3 AND start_at < $4
             ORDER BY start_at",
        ))
        .bind(campaign_id)
        .bind(name_of(granularity))
        .bind(range.start)
        .bind(range.end)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(bucket_from_row).collect()
    }
}

#[async_trait]
impl FraudSignalStore for PgStore {
    /// In one transaction: an advisory lock on (campaign, kind, value), so
    /// concurrent observations of one value see each other; then one
    /// statement that forgets observations older than the window, records
    /// the subject (its first time in the window is kept) and counts the
    /// other subjects within the window.
    async fn record_signal(&self, signal: FraudSignal, window: Duration) -> StoreResult<u64> {
        let kind = name_of(signal.kind);
        let since = minus(signal.at, window);
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3 || '/' || $4))")
            .bind(SIGNAL_LOCK_CLASS)
            .bind(&signal.campaign_id)
            .bind(&kind)
            .bind(&signal.value)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let others: i64 = sqlx::query_scalar(&self.sql(
            "WITH forgotten AS (
                 DELETE FROM {s}.fraud_signals
                 WHERE campaign_id = $1 AND kind = $2 AND value = $3
                   AND at < $6 AND subject_id <> $4
             ), recorded AS (
                 INSERT INTO {s}.fraud_signals AS f (campaign_id, kind, value, subject_id, at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (campaign_id, kind, value, subject_id)
                 DO UPDATE SET at = EXCLUDED.at WHERE f.at < $6
             )
             SELECT count(*) FROM {s}.fraud_signals
             WHERE campaign_id = $1 AND kind = $2 AND value = $3
               AND subject_id <> $4 AND at >= $6 AND at <= $5",
        ))
        .bind(&signal.campaign_id)
        .bind(&kind)
        .bind(&signal.value)
        .bind(&signal.subject_id)
        .bind(signal.at)
        .bind(since)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        count(others)
    }
}
