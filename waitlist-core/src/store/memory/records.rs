//! In-memory referrals, rewards, the email log and analytics buckets.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{count_in, MemoryStore};
use crate::events::Granularity;
use crate::store::model::*;
use crate::store::traits::*;
use crate::store::StoreError;

fn granularity_id(g: Granularity) -> u8 {
    match g {
        Granularity::Hourly => 0,
        Granularity::Daily => 1,
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[async_trait]
impl ReferralStore for MemoryStore {
    async fn insert_referral(&self, referral: Referral) -> StoreResult<()> {
        let mut state = self.lock();
        if state
            .referrals
            .contains(&referral.campaign_id, &referral.id)
        {
            return Err(StoreError::already_exists("referral", referral.id));
        }
        if referral.status == ReferralStatus::Verified {
            *state
                .verified_by_referrer
                .or_default(&referral.campaign_id, &referral.referrer_id) += 1;
        }
        let campaign_id = referral.campaign_id.clone();
        state
            .referrals
            .insert(&campaign_id, referral.id.clone(), referral);
        Ok(())
    }

    async fn referral(
        &self,
        campaign_id: &str,
        referral_id: &str,
    ) -> StoreResult<Option<Referral>> {
        Ok(self.lock().referrals.get(campaign_id, referral_id).cloned())
    }

    async fn set_referral_status(
        &self,
        campaign_id: &str,
        referral_id: &str,
        status: ReferralStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<ReferralStatus> {
        let mut state = self.lock();
        let state = &mut *state;
        let referral = state
            .referrals
            .get_mut(campaign_id, referral_id)
            .ok_or_else(|| StoreError::not_found("referral", referral_id))?;
        let previous = referral.status;
        if !previous.moves_to(status) {
            return Ok(previous);
        }
        referral.status = status;
        if status == ReferralStatus::Verified {
            referral.verified_at = Some(at);
        }
        let count = state
            .verified_by_referrer
            .or_default(campaign_id, &referral.referrer_id);
        if status == ReferralStatus::Verified {
            *count += 1;
        } else if previous == ReferralStatus::Verified {
            *count = count.saturating_sub(1);
        }
        Ok(previous)
    }

    async fn count_verified(&self, campaign_id: &str, referrer_id: &str) -> StoreResult<u64> {
        Ok(self
            .lock()
            .verified_by_referrer
            .get(campaign_id, referrer_id)
            .copied()
            .unwrap_or(0))
    }

    async fn count_referrals(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        let state = self.lock();
        Ok(count_in(state.referrals.of(campaign_id), range, |r| {
            Some(r.created_at)
        }))
    }
}

#[async_trait]
impl RewardStore for MemoryStore {
    async fn save_reward(&self, reward: Reward) -> StoreResult<()> {
        let campaign_id = reward.campaign_id.clone();
        self.lock()
            .rewards
            .insert(&campaign_id, reward.id.clone(), reward);
        Ok(())
    }

    async fn reward(&self, campaign_id: &str, reward_id: &str) -> StoreResult<Option<Reward>> {
        Ok(self.lock().rewards.get(campaign_id, reward_id).cloned())
    }

    async fn grant_reward(&self, user_reward: UserReward) -> StoreResult<bool> {
        let mut state = self.lock();
        let once = (
            user_reward.campaign_id.clone(),
            user_reward.user_id.clone(),
            user_reward.reward_id.clone(),
        );
        if state.granted.contains(&once)
            || state
                .user_rewards
                .contains(&user_reward.campaign_id, &user_reward.id)
        {
            return Ok(false);
        }
        let campaign_id = user_reward.campaign_id.clone();
        state.granted.insert(once);
        state
            .user_rewards
            .insert(&campaign_id, user_reward.id.clone(), user_reward);
        Ok(true)
    }

    async fn user_reward(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
    ) -> StoreResult<Option<UserReward>> {
        Ok(self
            .lock()
            .user_rewards
            .get(campaign_id, user_reward_id)
            .cloned())
    }

    async fn claim_delivery(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<DeliveryClaim> {
        let mut state = self.lock();
        let ur = state.user_reward_mut(campaign_id, user_reward_id)?;
        if !ur.claimable_at(now) {
            return Ok(DeliveryClaim::refused(ur.status));
        }
        ur.status = DeliveryStatus::Delivering;
        ur.lease_until = Some(now + chrono_duration(lease));
        ur.attempts = ur.attempts.saturating_add(1);
        Ok(DeliveryClaim::Claimed(ur.clone()))
    }

    async fn complete_delivery(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let ur = state.user_reward_mut(campaign_id, user_reward_id)?;
        ur.status = DeliveryStatus::Delivered;
        ur.delivered_at = Some(at);
        ur.lease_until = None;
        ur.last_error = None;
        Ok(())
    }

    async fn fail_delivery(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        error: &str,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let ur = state.user_reward_mut(campaign_id, user_reward_id)?;
        if ur.status != DeliveryStatus::Delivered {
            ur.status = DeliveryStatus::Pending;
            ur.lease_until = None;
            ur.last_error = Some(error.to_owned());
        }
        Ok(())
    }

    async fn count_delivered(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        let state = self.lock();
        Ok(count_in(state.user_rewards.of(campaign_id), range, |r| {
            r.delivered_at
        }))
    }
}

#[async_trait]
impl EmailLogStore for MemoryStore {
    async fn reserve(
        &self,
        dedupe_key: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        let window = chrono_duration(window);
        if let Some(at) = state.email_reservations.get(dedupe_key) {
            if now < *at + window {
                return Ok(false);
            }
        }
        state.email_reservations.insert(dedupe_key.to_owned(), now);
        Ok(true)
    }

    async fn release(&self, dedupe_key: &str) -> StoreResult<()> {
        self.lock().email_reservations.remove(dedupe_key);
        Ok(())
    }

    async fn record_sent(&self, email: SentEmail) -> StoreResult<()> {
        let mut state = self.lock();
        state
            .email_reservations
            .insert(email.dedupe_key.clone(), email.sent_at);
        state.sent_emails.push(email);
        Ok(())
    }

    async fn count_sent(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        let state = self.lock();
        let of_campaign = state
            .sent_emails
            .iter()
            .filter(|e| e.campaign_id == campaign_id);
        Ok(count_in(of_campaign, range, |e| Some(e.sent_at)))
    }
}

#[async_trait]
impl AnalyticsStore for MemoryStore {
    async fn upsert_bucket(&self, bucket: AnalyticsBucket) -> StoreResult<()> {
        let k = (
            bucket.campaign_id.clone(),
            granularity_id(bucket.granularity),
            bucket.start,
        );
        self.lock().buckets.insert(k, bucket);
        Ok(())
    }

    async fn buckets(
        &self,
        campaign_id: &str,
        granularity: Granularity,
        range: TimeRange,
    ) -> StoreResult<Vec<AnalyticsBucket>> {
        let g = granularity_id(granularity);
        let from = (campaign_id.to_owned(), g, range.start);
        let to = (campaign_id.to_owned(), g, range.end);
        if range.end <= range.start {
            return Ok(Vec::new());
        }
        Ok(self
            .lock()
            .buckets
            .range(from..to)
            .map(|(_, b)| b.clone())
            .collect())
    }
}
