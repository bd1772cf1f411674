//! Domain events: what happened in a campaign (signups, verifications,
//! referrals, rewards, milestones).
//!
//! They travel in an [`Envelope`](super::Envelope) on the domain-events topic
//! ([`DOMAIN_EVENTS`](super::topics::DOMAIN_EVENTS)), partitioned by
//! `campaign_id`, and fan out to several consumer groups (email, position,
//! reward workers).

use serde::{Deserialize, Serialize};

/// `user.signed_up`: a user signed up for a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UserSignedUp {
    /// The user who signed up.
    pub user_id: String,
    /// The campaign signed up for.
    pub campaign_id: String,
    /// The user's email address.
    pub email: String,
}

event_data!(UserSignedUp, "user.signed_up", user = user_id);

/// `user.verified`: a user verified their email address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UserVerified {
    /// The verified user.
    pub user_id: String,
    /// The user's campaign.
    pub campaign_id: String,
    /// The verified email address.
    pub email: String,
}

event_data!(UserVerified, "user.verified", user = user_id);

/// `referral.created`: a referred user signed up through a referrer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReferralCreated {
    /// The referral.
    pub referral_id: String,
    /// The user who referred (the event's user).
    pub referrer_id: String,
    /// The user who was referred.
    pub referred_id: String,
    /// The campaign of the referral.
    pub campaign_id: String,
}

event_data!(ReferralCreated, "referral.created", user = referrer_id);

/// `referral.verified`: a referral was verified; the referrer moves up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReferralVerified {
    /// The referral.
    pub referral_id: String,
    /// The user who referred (the event's user).
    pub referrer_id: String,
    /// The user who was referred.
    pub referred_id: String,
    /// The campaign of the referral.
    pub campaign_id: String,
    /// Positions gained per verified referral.
    pub points_per_referral: i64,
}

event_data!(ReferralVerified, "referral.verified", user = referrer_id);

/// `reward.earned`: a user earned a reward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RewardEarned {
    /// The user's instance of the reward.
    pub user_reward_id: String,
    /// The user who earned it.
    pub user_id: String,
    /// The campaign of the reward.
    pub campaign_id: String,
    /// The reward definition.
    pub reward_id: String,
}

event_data!(RewardEarned, "reward.earned", user = user_id);

/// `campaign.milestone_reached`: a campaign reached a milestone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CampaignMilestoneReached {
    /// The campaign.
    pub campaign_id: String,
    /// The milestone's name, e.g. `1000_participants`.
    pub milestone: String,
    /// The campaign's participant count when the milestone was reached.
    pub participant_count: u64,
}

event_data!(CampaignMilestoneReached, "campaign.milestone_reached");
