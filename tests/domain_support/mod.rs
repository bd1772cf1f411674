//! A whole domain stack on the memory bus, for the integration tests; the
//! notification tests' helpers in [`notifications`].
#![allow(dead_code, unreachable_pub)]

pub mod notifications;

use std::sync::Arc;
use std::time::{Duration, Instant};

use waitlist::conformance::eventually;
use waitlist::domain::{
    start_workers, DomainConfig, DomainServices, RecordingRewardWebhook, Timestamp,
};
use waitlist::events::{ReferralCreated, ReferralVerified, UserSignedUp};
use waitlist::prelude::*;
use waitlist::providers::RecordingEmailProvider;
use waitlist::store::{
    Campaign, MemoryStore, Referral, ReferralStatus, ReferralStore, RewardStore, User, UserReward,
    UserStore,
};

pub const CAMPAIGN: &str = "camp-1";
pub const ACCOUNT: &str = "acct-1";

pub struct Stack {
    pub bus: MemoryBus,
    pub store: Arc<MemoryStore>,
    pub emails: Arc<RecordingEmailProvider>,
    pub webhook: Arc<RecordingRewardWebhook>,
    pub services: Arc<DomainServices>,
    pub groups: Workers,
}

/// 2025-01-01T12:00:00Z.
pub fn t0() -> Timestamp {
    serde_json::from_value(serde_json::json!("2025-01-01T12:00:00Z")).expect("a timestamp")
}

impl Stack {
    /// Starts the four domain groups on a fresh bus with `campaign`.
    pub async fn start(campaign: Campaign) -> Self {
        let bus = MemoryBus::new();
        let store = Arc::new(MemoryStore::new());
        waitlist::store::CampaignStore::save_campaign(&*store, campaign)
            .await
            .expect("campaign saved");
        let emails = Arc::new(RecordingEmailProvider::new());
        let webhook = Arc::new(RecordingRewardWebhook::new());
        let services = Arc::new(
            DomainServices::in_memory(
                Arc::clone(&store),
                EventPublisher::new(Arc::new(bus.clone())),
                emails.clone(),
            )
            .reward_webhook(webhook.clone())
            .build()
            .expect("services"),
        );
        let mut stack = Self {
            bus,
            store,
            emails,
            webhook,
            services,
            groups: Workers::new(),
        };
        stack.run_groups().await;
        stack
    }

    pub async fn run_groups(&mut self) {
        let config = DomainConfig {
            retry: RetryPolicy::fixed(60, Duration::from_millis(20)),
            position_wait: Duration::from_millis(20),
            ..DomainConfig::default()
        };
        let queue: Arc<dyn Queue> = Arc::new(self.bus.clone());
        let started = start_workers(&self.services, &config, queue)
            .await
            .expect("groups start");
        self.groups.append(started);
    }

    /// The host's signup: store the user, publish `user.signed_up`.
    pub async fn signup(&self, user_id: &str, email: &str, ip: &str, device: &str) {
        let mut user = User::new(CAMPAIGN, user_id, email, t0());
        user.signup_ip = Some(ip.into());
        user.device_fingerprint = Some(device.into());
        user.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0".into());
        self.store.insert_user(user).await.expect("user stored");
        self.services
            .events
            .user_signed_up(
                ACCOUNT,
                UserSignedUp {
                    user_id: user_id.into(),
                    campaign_id: CAMPAIGN.into(),
                    email: email.into(),
                },
            )
            .await
            .expect("published");
    }

    /// Signs up ann, bob and cid, each from an IP and a device of their own.
    pub async fn signup_three(&self) {
        for (i, name) in ["ann", "bob", "cid"].iter().enumerate() {
            let (email, ip, device) = (
                format!("{name}@example.com"),
                format!("10.0.0.{i}"),
                format!("dev-{i}"),
            );
            self.signup(name, &email, &ip, &device).await;
        }
    }

    /// The host's referral: store it, publish `referral.created`.
    pub async fn refer(&self, referral_id: &str, referrer: &str, referred: &str) {
        let r = Referral::new(CAMPAIGN, referral_id, referrer, referred, t0());
        self.store
            .insert_referral(r)
            .await
            .expect("referral stored");
        self.services
            .events
            .referral_created(
                ACCOUNT,
                ReferralCreated {
                    referral_id: referral_id.into(),
                    referrer_id: referrer.into(),
                    referred_id: referred.into(),
                    campaign_id: CAMPAIGN.into(),
                },
            )
            .await
            .expect("published");
    }

    pub fn verified_event(referral_id: &str, referrer: &str, referred: &str) -> ReferralVerified {
        ReferralVerified {
            referral_id: referral_id.into(),
            referrer_id: referrer.into(),
            referred_id: referred.into(),
            campaign_id: CAMPAIGN.into(),
            points_per_referral: 1,
        }
    }

    /// The host verifies a referral: publish `referral.verified`.
    pub async fn verify(&self, referral_id: &str, referrer: &str, referred: &str) {
        self.services
            .events
            .referral_verified(
                ACCOUNT,
                Self::verified_event(referral_id, referrer, referred),
            )
            .await
            .expect("published");
    }

    pub async fn user(&self, user_id: &str) -> User {
        self.store
            .user(CAMPAIGN, user_id)
            .await
            .expect("store")
            .expect("user exists")
    }

    /// Waits until `user_id` stands at `position`.
    pub async fn wait_for_position(&self, user_id: &str, position: u64) {
        let what = format!("{user_id} at position {position}");
        eventually(&what, WAIT, || async {
            self.user(user_id).await.position == Some(position)
        })
        .await;
    }

    /// Waits until `user_id` has `n` verified referrals.
    pub async fn wait_for_verified_referrals(&self, user_id: &str, n: u64) {
        let what = format!("{user_id} with {n} verified referrals");
        eventually(&what, WAIT, || async {
            self.user(user_id).await.verified_referrals == n
        })
        .await;
    }

    /// Waits until `address` has been sent `n` emails.
    pub async fn wait_for_emails(&self, address: &str, n: usize) {
        let what = format!("{n} emails to {address}");
        eventually(&what, WAIT, || async { self.emails_to(address).len() == n }).await;
    }

    pub async fn referral_status(&self, referral_id: &str) -> Option<ReferralStatus> {
        let referral = self.store.referral(CAMPAIGN, referral_id).await;
        referral.ok().flatten().map(|r| r.status)
    }

    /// Asserts that `referral_id` gets blocked and that, once the groups
    /// are idle, `referrer` has no verified referral.
    pub async fn assert_blocked_and_uncounted(&self, referral_id: &str, referrer: &str) {
        let what = format!("{referral_id} blocked");
        eventually(&what, WAIT, || async {
            self.referral_status(referral_id).await == Some(ReferralStatus::Blocked)
        })
        .await;
        self.settle().await;
        assert_eq!(self.user(referrer).await.verified_referrals, 0);
    }

    pub async fn user_reward(&self, user_reward_id: &str) -> Option<UserReward> {
        let reward = self.store.user_reward(CAMPAIGN, user_reward_id).await;
        reward.ok().flatten()
    }

    pub fn emails_to(&self, address: &str) -> Vec<String> {
        self.emails
            .sent()
            .into_iter()
            .filter(|m| m.to == address)
            .map(|m| m.subject)
            .collect()
    }

    /// Waits until every group is idle (nothing in flight) for a moment.
    pub async fn settle(&self) {
        let mut quiet = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while quiet < 5 && Instant::now() < deadline {
            let busy = self.groups.groups().iter().any(|g| g.stats().in_flight > 0);
            quiet = if busy { 0 } else { quiet + 1 };
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// How long the domain tests wait for a condition.
pub const WAIT: Duration = Duration::from_secs(10);
