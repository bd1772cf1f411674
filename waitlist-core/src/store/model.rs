//! The records the stores hold.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::{EmailKind, Granularity, RewardDeliveryMethod};

/// A half-open time range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeRange {
    /// First instant inside the range.
    pub start: DateTime<Utc>,
    /// First instant after the range.
    pub end: DateTime<Utc>,
}

impl TimeRange {
    /// `[start, end)`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    /// Whether `at` lies in `[start, end)`.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

/// A campaign's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    /// Campaign id.
    pub id: String,
    /// Account owning the campaign.
    pub account_id: String,
    /// Positions gained per verified referral.
    pub points_per_referral: i64,
    /// Participant counts announced as milestones, e.g. `[100, 1000]`.
    pub milestones: Vec<u64>,
    /// Rewards granted for verified referrals.
    pub reward_rules: Vec<RewardRule>,
    /// Address that receives milestone announcements, if any.
    pub owner_email: Option<String>,
}

impl Campaign {
    /// A campaign with 1 point per referral, no milestones, rules or owner email.
    pub fn new(id: impl Into<String>, account_id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            account_id: account_id.into(),
            points_per_referral: 1,
            milestones: Vec::new(),
            reward_rules: Vec::new(),
            owner_email: None,
        }
    }
}

/// A reward granted once a user has `verified_referrals` verified referrals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardRule {
    /// The reward granted.
    pub reward_id: String,
    /// Verified referrals needed.
    pub verified_referrals: u64,
}

/// A waitlist participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// User id (unique within the campaign).
    pub id: String,
    /// The campaign.
    pub campaign_id: String,
    /// Email address as entered.
    pub email: String,
    /// Position at signup (1 = first to sign up). Assigned by the store in
    /// [`UserStore::insert_user`](super::UserStore::insert_user); whatever
    /// a new user carries here is ignored.
    pub original_position: u64,
    /// Verified referrals counted toward the position.
    pub verified_referrals: u64,
    /// Current rank, as last written by the position workers.
    pub position: Option<u64>,
    /// When the email was verified.
    pub verified_at: Option<DateTime<Utc>>,
    /// IP address at signup.
    pub signup_ip: Option<String>,
    /// Device fingerprint at signup.
    pub device_fingerprint: Option<String>,
    /// User agent at signup.
    pub user_agent: Option<String>,
    /// The honeypot form field; humans leave it empty.
    pub honeypot: Option<String>,
    /// When the user signed up.
    pub created_at: DateTime<Utc>,
}

impl User {
    /// A user with no referrals, no position yet and no signup signals.
    /// Its `original_position` is 0 until the store assigns one on
    /// [`insert_user`](super::UserStore::insert_user).
    pub fn new(
        campaign_id: impl Into<String>,
        id: impl Into<String>,
        email: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            campaign_id: campaign_id.into(),
            email: email.into(),
            original_position: 0,
            verified_referrals: 0,
            position: None,
            verified_at: None,
            signup_ip: None,
            device_fingerprint: None,
            user_agent: None,
            honeypot: None,
            created_at,
        }
    }
}

/// What the position ranking needs of a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Standing {
    /// User id.
    pub user_id: String,
    /// Position at signup.
    pub original_position: u64,
    /// Verified referrals.
    pub verified_referrals: u64,
    /// Rank as stored now (`None` if never ranked); not a ranking input, it
    /// tells a full recalculation whose position changed.
    pub position: Option<u64>,
}

impl Standing {
    /// A standing with no stored position.
    pub fn new(
        user_id: impl Into<String>,
        original_position: u64,
        verified_referrals: u64,
    ) -> Self {
        Self {
            user_id: user_id.into(),
            original_position,
            verified_referrals,
            position: None,
        }
    }
}

/// One user's move in the ranking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PositionChange {
    /// The user who moved.
    pub user_id: String,
    /// Rank before.
    pub old_position: u64,
    /// Rank after.
    pub new_position: u64,
}

impl PositionChange {
    /// Ranks `[new, old)` when the user moved up (those users moved down by
    /// one), or `(old, new]` when the user moved down (those moved up by one).
    pub fn shifted_range(&self) -> std::ops::RangeInclusive<u64> {
        if self.new_position < self.old_position {
            self.new_position..=self.old_position - 1
        } else if self.new_position > self.old_position {
            self.old_position + 1..=self.new_position
        } else {
            // An empty range: nobody shifted.
            1..=self.old_position.saturating_sub(self.old_position)
        }
    }
}

/// What [`UserStore::recalculate_positions`] did.
///
/// [`UserStore::recalculate_positions`]: super::UserStore::recalculate_positions
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct RecalculatedPositions {
    /// Users ranked (the campaign's users).
    pub users: u64,
    /// Users whose stored position differed from their rank and was written.
    pub changed: u64,
}

/// The state of a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    /// Created, the referred user not yet verified.
    Pending,
    /// Verified: counts toward the referrer's position.
    Verified,
    /// Blocked by fraud detection: never counts.
    Blocked,
}

impl ReferralStatus {
    /// Whether a referral in this status takes `next` when
    /// [`set_referral_status`](super::ReferralStore::set_referral_status)
    /// asks for it: not when it is in `next` already, and never once
    /// blocked (a blocked referral stays blocked).
    pub fn moves_to(self, next: ReferralStatus) -> bool {
        self != next && self != ReferralStatus::Blocked
    }
}

/// A referral of one user by another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// Referral id.
    pub id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The user who referred.
    pub referrer_id: String,
    /// The user who was referred.
    pub referred_id: String,
    /// Current state.
    pub status: ReferralStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was verified.
    pub verified_at: Option<DateTime<Utc>>,
}

impl Referral {
    /// A pending referral.
    pub fn new(
        campaign_id: impl Into<String>,
        id: impl Into<String>,
        referrer_id: impl Into<String>,
        referred_id: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            campaign_id: campaign_id.into(),
            referrer_id: referrer_id.into(),
            referred_id: referred_id.into(),
            status: ReferralStatus::Pending,
            created_at,
            verified_at: None,
        }
    }
}

/// A reward definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reward {
    /// Reward id.
    pub id: String,
    /// The campaign.
    pub campaign_id: String,
    /// Display name, e.g. "Early access".
    pub name: String,
    /// Default delivery method.
    pub method: RewardDeliveryMethod,
    /// Prefix of the generated reward codes, e.g. `EARLY`.
    pub code_prefix: String,
}

/// Delivery state of a user's reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Earned, not delivered yet (or the last attempt failed).
    Pending,
    /// A worker holds the delivery claim until the lease ends.
    Delivering,
    /// Delivered; never delivered again.
    Delivered,
}

/// A reward earned by a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReward {
    /// User reward id.
    pub id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The user.
    pub user_id: String,
    /// The reward definition.
    pub reward_id: String,
    /// The code given to the user.
    pub code: String,
    /// Delivery state.
    pub status: DeliveryStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// End of the current delivery claim (while `Delivering`).
    pub lease_until: Option<DateTime<Utc>>,
    /// When it was earned.
    pub earned_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl UserReward {
    /// A reward earned by `user_id` at `earned_at`, not delivered yet; its
    /// id is `ur_<campaign>_<user>_<reward>` (one per user and reward).
    pub fn new(
        campaign_id: impl Into<String>,
        user_id: impl Into<String>,
        reward_id: impl Into<String>,
        code: impl Into<String>,
        earned_at: DateTime<Utc>,
    ) -> Self {
        let (campaign_id, user_id, reward_id) =
            (campaign_id.into(), user_id.into(), reward_id.into());
        Self {
            id: format!("ur_{campaign_id}_{user_id}_{reward_id}"),
            campaign_id,
            user_id,
            reward_id,
            code: code.into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_error: None,
            lease_until: None,
            earned_at,
            delivered_at: None,
        }
    }

    /// Whether a delivery claim at `now` takes this reward
    /// ([`claim_delivery`](super::RewardStore::claim_delivery)'s rule): a
    /// pending reward, or a delivering one whose lease has ended (or that
    /// has none).
    pub fn claimable_at(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            DeliveryStatus::Pending => true,
            DeliveryStatus::Delivering => !self.lease_until.is_some_and(|until| until > now),
            DeliveryStatus::Delivered => false,
        }
    }
}

/// Result of trying to claim a reward delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// The caller now holds the claim and must deliver, then complete or fail.
    Claimed(UserReward),
    /// Already delivered: nothing to do.
    AlreadyDelivered,
    /// Another worker holds an unexpired claim.
    InProgress,
}

impl DeliveryClaim {
    /// The answer to a claim that may not take a reward in `status` (see
    /// [`UserReward::claimable_at`]): [`AlreadyDelivered`](Self::AlreadyDelivered)
    /// once it is delivered, otherwise [`InProgress`](Self::InProgress).
    pub fn refused(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Delivered => DeliveryClaim::AlreadyDelivered,
            DeliveryStatus::Pending | DeliveryStatus::Delivering => DeliveryClaim::InProgress,
        }
    }
}

/// An email that was sent (the sent-email log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    /// Deduplication key, e.g. `welcome/<campaign>/<user>`.
    pub dedupe_key: String,
    /// The campaign.
    pub campaign_id: String,
    /// The recipient user, if the email was for a user.
    pub user_id: Option<String>,
    /// Email type.
    pub kind: EmailKind,
    /// Recipient address.
    pub to: String,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
}

/// One time bucket of a campaign's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyticsBucket {
    /// The campaign.
    pub campaign_id: String,
    /// Bucket size.
    pub granularity: Granularity,
    /// Start of the bucket (aligned to the hour or the UTC day).
    pub start: DateTime<Utc>,
    /// Users who signed up in the bucket.
    pub signups: u64,
    /// Email verifications in the bucket.
    pub verifications: u64,
    /// Referrals created in the bucket.
    pub referrals: u64,
    /// Emails sent in the bucket.
    pub emails_sent: u64,
    /// Rewards delivered in the bucket.
    pub rewards_delivered: u64,
}

/// What a fraud signal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A signup IP address.
    Ip,
    /// A device fingerprint.
    Device,
    /// A referral made by a referrer (value = referrer id).
    Referrer,
}

/// One observation for the windowed fraud checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudSignal {
    /// The campaign.
    pub campaign_id: String,
    /// What is observed.
    pub kind: SignalKind,
    /// The observed value (an IP, a fingerprint, a referrer id).
    pub value: String,
    /// Who it was observed for (user or referral id); recording the same
    /// subject twice counts once.
    pub subject_id: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}
