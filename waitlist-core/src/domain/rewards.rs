//! Granting rewards for referrals and delivering them exactly once.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    Clock, DomainError, DomainEventPublisher, DomainStores, EmailSend, EmailService, SystemClock,
};
use crate::events::{EmailKind, RewardDeliveryMethod, RewardEarned};
use crate::providers::{ProviderError, Recorder};
use crate::store::{DeliveryClaim, UserReward};

/// What a reward webhook receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardWebhookPayload {
    /// The user's reward.
    pub user_reward_id: String,
    /// The user.
    pub user_id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The reward definition.
    pub reward_id: String,
    /// The reward code.
    pub code: String,
}

/// Delivers a reward to an external system (an HTTP webhook, usually).
#[async_trait]
pub trait RewardWebhook: Send + Sync + Debug {
    /// Delivers `payload`; receivers should deduplicate on `user_reward_id`.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] when a retry may succeed.
    async fn deliver(&self, payload: &RewardWebhookPayload) -> Result<(), ProviderError>;
}

/// Records reward webhooks instead of calling out; can be told to fail.
pub type RecordingRewardWebhook = Recorder<RewardWebhookPayload>;

#[async_trait]
impl RewardWebhook for Recorder<RewardWebhookPayload> {
    async fn deliver(&self, payload: &RewardWebhookPayload) -> Result<(), ProviderError> {
        self.record(payload).map(|_| ())
    }
}

/// What a delivery attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewardDelivery {
    /// Delivered now by `method`.
    Delivered(RewardDeliveryMethod),
    /// It had been delivered before: nothing done.
    AlreadyDelivered,
    /// Another worker is delivering it now.
    InProgress,
}

/// Grants rewards by the campaign's rules and delivers them by email or
/// webhook, exactly once per user reward: the store's delivery claim
/// (compare-and-set with a lease) admits one worker at a time, and a reward
/// marked delivered is never delivered again.
#[derive(Debug)]
pub struct RewardService {
    stores: DomainStores,
    email: Arc<EmailService>,
    webhook: Option<Arc<dyn RewardWebhook>>,
    publisher: Option<DomainEventPublisher>,
    lease: Duration,
    clock: Arc<dyn Clock>,
}

impl RewardService {
    /// Reads campaigns and rewards from `stores`; delivers by email through
    /// `email`; no webhook, no publisher, 60 s lease.
    pub fn new(stores: &DomainStores, email: Arc<EmailService>) -> Self {
        Self {
            stores: stores.clone(),
            email,
            webhook: None,
            publisher: None,
            lease: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
        }
    }

    /// Delivers webhook rewards through `webhook`.
    pub fn with_webhook(mut self, webhook: Arc<dyn RewardWebhook>) -> Self {
        self.webhook = Some(webhook);
        self
    }

    /// Publishes `reward.earned` for granted rewards through `publisher`.
    pub fn with_publisher(mut self, publisher: DomainEventPublisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// How long a delivery claim lasts before another worker may take over.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Uses `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Grants every reward whose rule `verified_referrals` now satisfies
    /// (once per user and reward) and publishes `reward.earned` for each new
    /// one. Returns the new rewards.
    ///
    /// # Errors
    /// Store and publish errors (a failed publish leaves the reward granted;
    /// `job.reward.deliver` can still deliver it).
    pub async fn grant_for_referrals(
        &self,
        campaign_id: &str,
        user_id: &str,
        verified_referrals: u64,
    ) -> Result<Vec<UserReward>, DomainError> {
        let Some(campaign) = self.stores.campaigns.campaign(campaign_id).await? else {
            return Ok(Vec::new());
        };
        let mut granted = Vec::new();
        for rule in campaign
            .reward_rules
            .iter()
            .filter(|r| verified_referrals >= r.verified_referrals)
        {
            let prefix = self
                .stores
                .rewards
                .reward(campaign_id, &rule.reward_id)
                .await?
                .map_or_else(|| "REWARD".to_owned(), |r| r.code_prefix);
            let mut rng = fastrand::Rng::new();
            let suffix: String = (0..8)
                .map(|_| rng.alphanumeric().to_ascii_uppercase())
                .collect();
            let user_reward = UserReward::new(
                campaign_id,
                user_id,
                &rule.reward_id,
                format!("{prefix}-{suffix}"),
                self.clock.now(),
            );
            if self
                .stores
                .rewards
                .grant_reward(user_reward.clone())
                .await?
            {
                granted.push(user_reward);
            }
        }
        if let Some(publisher) = &self.publisher {
            for ur in &granted {
                let event = RewardEarned {
                    user_reward_id: ur.id.clone(),
                    user_id: ur.user_id.clone(),
                    campaign_id: ur.campaign_id.clone(),
                    reward_id: ur.reward_id.clone(),
                };
                publisher.reward_earned(&campaign.account_id, event).await?;
            }
        }
        Ok(granted)
    }

    /// Sends the reward email (with the code) for a user reward; suppressed
    /// when already sent (the email and reward workers share its key).
    ///
    /// # Errors
    /// [`DomainError::NotFound`], template, provider and store errors.
    pub async fn send_reward_email(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
    ) -> Result<EmailSend, DomainError> {
        let ur = self
            .stores
            .rewards
            .user_reward(campaign_id, user_reward_id)
            .await?
            .ok_or_else(|| DomainError::not_found("user reward", user_reward_id))?;
        self.email_for(&ur).await
    }

    async fn email_for(&self, ur: &UserReward) -> Result<EmailSend, DomainError> {
        let name = self
            .stores
            .rewards
            .reward(&ur.campaign_id, &ur.reward_id)
            .await?
            .map_or_else(|| ur.reward_id.clone(), |r| r.name);
        let mut data = Map::new();
        data.insert("code".into(), Value::from(ur.code.clone()));
        data.insert("reward_name".into(), Value::from(name));
        self.email
            .send_to_user(
                EmailKind::RewardEarned,
                &ur.campaign_id,
                &ur.user_id,
                &ur.id,
                data,
            )
            .await
    }

    /// Delivers a user reward by `method` (default: the reward's), exactly
    /// once.
    ///
    /// # Errors
    /// Provider errors (the claim is released, so a retry delivers),
    /// [`DomainError::NotFound`], store errors; [`DomainError::Invalid`]
    /// for a webhook reward without a configured webhook.
    pub async fn deliver(
        &self,
        campaign_id: &str,
        user_reward_id: &str,
        method: Option<RewardDeliveryMethod>,
    ) -> Result<RewardDelivery, DomainError> {
        let claim = self
            .stores
            .rewards
            .claim_delivery(campaign_id, user_reward_id, self.clock.now(), self.lease)
            .await?;
        let ur = match claim {
            DeliveryClaim::Claimed(ur) => ur,
            DeliveryClaim::AlreadyDelivered => return Ok(RewardDelivery::AlreadyDelivered),
            DeliveryClaim::InProgress => return Ok(RewardDelivery::InProgress),
        };
        let method = match method {
            Some(m) => m,
            None => self
                .stores
                .rewards
                .reward(campaign_id, &ur.reward_id)
                .await?
                .map_or(RewardDeliveryMethod::Email, |r| r.method),
        };
        let result = match method {
            RewardDeliveryMethod::Email => self.email_for(&ur).await.map(|_| ()),
            RewardDeliveryMethod::Webhook => match &self.webhook {
                Some(webhook) => {
                    let payload = RewardWebhookPayload {
                        user_reward_id: ur.id.clone(),
                        user_id: ur.user_id.clone(),
                        campaign_id: ur.campaign_id.clone(),
                        reward_id: ur.reward_id.clone(),
                        code: ur.code.clone(),
                    };
                    webhook.deliver(&payload).await.map_err(DomainError::from)
                }
                None => Err(DomainError::Invalid("no reward webhook configured".into())),
            },
        };
        match result {
            Ok(()) => {
                self.stores
                    .rewards
                    .complete_delivery(campaign_id, user_reward_id, self.clock.now())
                    .await?;
                Ok(RewardDelivery::Delivered(method))
            }
            Err(error) => {
                self.stores
                    .rewards
                    .fail_delivery(campaign_id, user_reward_id, &error.to_string())
                    .await?;
                Err(error)
            }
        }
    }
}
