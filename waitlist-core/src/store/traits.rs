//! The repository traits. Host services implement them on their database.

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::*;
use super::StoreError;
use crate::domain::positions::rank_all;
use crate::events::Granularity;

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Campaign configuration and milestone bookkeeping.
#[async_trait]
pub trait CampaignStore: Send + Sync + Debug {
    /// The campaign, if it exists.
    async fn campaign(&self, campaign_id: &str) -> StoreResult<Option<Campaign>>;
    /// Inserts or replaces a campaign.
    async fn save_campaign(&self, campaign: Campaign) -> StoreResult<()>;
    /// Sets the campaign's points per referral.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown campaign.
    async fn set_points_per_referral(&self, campaign_id: &str, points: i64) -> StoreResult<()>;
    /// Records that `threshold` was reached; `true` only for the first call
    /// per campaign and threshold (compare-and-set).
    async fn claim_milestone(&self, campaign_id: &str, threshold: u64) -> StoreResult<bool>;
    /// Undoes [`claim_milestone`](Self::claim_milestone) after the
    /// announcement could not be published, so a retry can claim it again.
    async fn release_milestone(&self, campaign_id: &str, threshold: u64) -> StoreResult<()>;
}

/// Waitlist participants.
#[async_trait]
pub trait UserStore: Send + Sync + Debug {
    /// Adds a user and assigns its original (sign-up) position: 1 + the
    /// highest original position in the campaign (the first user gets 1),
    /// atomically per campaign, ignoring `user.original_position`. Returns
    /// the position assigned.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if the id is taken in the campaign
    /// (nothing is stored and no position is used up).
    async fn insert_user(&self, user: User) -> StoreResult<u64>;
    /// The user, if any.
    async fn user(&self, campaign_id: &str, user_id: &str) -> StoreResult<Option<User>>;
    /// How many users the campaign has.
    async fn count_users(&self, campaign_id: &str) -> StoreResult<u64>;
    /// Every user's ranking inputs (for a full recalculation).
    async fn standings(&self, campaign_id: &str) -> StoreResult<Vec<Standing>>;
    /// Marks the email verified at `at`; `false` if it already was.
    async fn set_email_verified(
        &self,
        campaign_id: &str,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Sets the verified-referral count (an absolute value, so idempotent).
    async fn set_verified_referrals(
        &self,
        campaign_id: &str,
        user_id: &str,
        count: u64,
    ) -> StoreResult<()>;
    /// Writes every user's rank (after a full recalculation).
    async fn save_positions(
        &self,
        campaign_id: &str,
        positions: &[(String, u64)],
    ) -> StoreResult<()>;
    /// Ranks every user of the campaign with `points_per_referral` by the
    /// rule of [`rank_all`](crate::domain::positions::rank_all) (score, then
    /// original position, then user id) and writes the positions that
    /// differ from the stored ones; returns how many users were ranked and
    /// how many positions changed. Idempotent: a second call changes nothing.
    ///
    /// The provided implementation reads [`standings`](Self::standings),
    /// sorts them and writes the differences with
    /// [`save_positions`](Self::save_positions). A database should do it in
    /// one statement (in SQL, `ROW_NUMBER() OVER (ORDER BY …)` in an
    /// `UPDATE` that touches only rows whose position changes). Called under
    /// the campaign lock.
    async fn recalculate_positions(
        &self,
        campaign_id: &str,
        points_per_referral: i64,
    ) -> StoreResult<RecalculatedPositions> {
        let standings = self.standings(campaign_id).await?;
        let stored: HashMap<&str, Option<u64>> = standings
            .iter()
            .map(|s| (s.user_id.as_str(), s.position))
            .collect();
        let writes: Vec<(String, u64)> = rank_all(&standings, points_per_referral)
            .into_iter()
            .filter(|(id, rank)| stored.get(id.as_str()).copied().flatten() != Some(*rank))
            .collect();
        if !writes.is_empty() {
            self.save_positions(campaign_id, &writes).await?;
        }
        Ok(RecalculatedPositions {
            users: standings.len() as u64,
            changed: writes.len() as u64,
        })
    }
    /// Applies one move: the user takes `new_position` and the users in
    /// [`PositionChange::shifted_range`] shift by one (in SQL, one `UPDATE`).
    async fn apply_position_change(
        &self,
        campaign_id: &str,
        change: &PositionChange,
    ) -> StoreResult<()>;
    /// Users who signed up in `range`.
    async fn count_signups(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64>;
    /// Users who verified their email in `range`.
    async fn count_verifications(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64>;
    /// The campaign's ranking version: 0 until the first
    /// [`bump_ranking_version`](Self::bump_ranking_version). Position
    /// services sharing the store (several processes) compare it with the
    /// version their cached ranking was built at.
    async fn ranking_version(&self, campaign_id: &str) -> StoreResult<u64>;
    /// Advances the campaign's ranking version by one and returns the new
    /// value (in SQL, one `UPDATE … RETURNING` or upsert). Called under the
    /// campaign lock after every change to positions or referral counts.
    async fn bump_ranking_version(&self, campaign_id: &str) -> StoreResult<u64>;
}

/// Referrals.
#[async_trait]
pub trait ReferralStore: Send + Sync + Debug {
    /// Adds a referral.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if the id is taken.
    async fn insert_referral(&self, referral: Referral) -> StoreResult<()>;
    /// The referral, if any.
    async fn referral(&self, campaign_id: &str, referral_id: &str)
        -> StoreResult<Option<Referral>>;
    /// Moves a referral to `status` and returns the previous status. A
    /// blocked referral stays blocked (returns `Blocked` and changes nothing)
    /// unless `status` is `Blocked` (the rule of
    /// [`ReferralStatus::moves_to`]).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown referral.
    async fn set_referral_status(
        &self,
        campaign_id: &str,
        referral_id: &str,
        status: ReferralStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<ReferralStatus>;
    /// Verified referrals made by `referrer_id` (blocked ones never count).
    async fn count_verified(&self, campaign_id: &str, referrer_id: &str) -> StoreResult<u64>;
    /// Referrals created in `range`.
    async fn count_referrals(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64>;
}

/// Rewards and the rewards users earned.
#[async_trait]
pub trait RewardStore: Send + Sync + Debug {
    /// Inserts or replaces a reward definition.
    async fn save_reward(&self, reward: Reward) -> StoreResult<()>;
    /// The reward definition, if any.
    async fn reward(&self, campaign_id: &str, reward_id: &str) -> StoreResult<Option<Reward>>;
    /// Records an earned reward; `false` (and no change) if the user already
    /// has this reward (one per user and reward definition).
    async fn grant_reward(&self, user_reward: UserReward) -> StoreResult<bool>;
    /// The user's reward, if any.
    async fn user_reward(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
    ) -> StoreResult<Option<UserReward>>;
    /// Claims the delivery (compare-and-set): a `Pending` reward, or a
    /// `Delivering` one whose lease ended ([`UserReward::claimable_at`]),
    /// becomes `Delivering` until `now + lease` and its attempt count grows
    /// by one; otherwise the answer is [`DeliveryClaim::refused`].
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user reward.
    async fn claim_delivery(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<DeliveryClaim>;
    /// Marks a claimed reward delivered.
    async fn complete_delivery(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Releases a claim after a failed attempt (back to `Pending`).
    async fn fail_delivery(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        error: &str,
    ) -> StoreResult<()>;
    /// Rewards delivered in `range`.
    async fn count_delivered(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64>;
}

/// The sent-email log, which also suppresses duplicate sends.
#[async_trait]
pub trait EmailLogStore: Send + Sync + Debug {
    /// Reserves `dedupe_key` at `now` unless it was reserved or sent within
    /// `window` before `now`; `true` when the caller may send.
    async fn reserve(
        &self,
        dedupe_key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> StoreResult<bool>;
    /// Drops a reservation whose send failed, so a retry may send.
    async fn release(&self, dedupe_key: &str) -> StoreResult<()>;
    /// Logs a sent email (confirms its reservation).
    async fn record_sent(&self, email: SentEmail) -> StoreResult<()>;
    /// Emails of the campaign sent in `range`.
    async fn count_sent(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64>;
}

/// Aggregated metrics.
#[async_trait]
pub trait AnalyticsStore: Send + Sync + Debug {
    /// Inserts or replaces the bucket (keyed by campaign, granularity, start).
    async fn upsert_bucket(&self, bucket: AnalyticsBucket) -> StoreResult<()>;
    /// Buckets of the campaign starting in `range`, oldest first.
    async fn buckets(
        &self,
        campaign_id: &str,
        granularity: Granularity,
        range: TimeRange,
    ) -> StoreResult<Vec<AnalyticsBucket>>;
}

/// Windowed observations for the fraud checks.
#[async_trait]
pub trait FraudSignalStore: Send + Sync + Debug {
    /// Records `signal` and returns how many *other* subjects were observed
    /// with the same campaign, kind and value within `window` before
    /// `signal.at`. Recording a subject again does not count it twice.
    /// Observations older than the window may be forgotten.
    async fn record_signal(&self, signal: FraudSignal, window: Duration) -> StoreResult<u64>;
}
