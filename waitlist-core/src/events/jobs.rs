//! Background jobs: what to do (send an email, recalculate positions, deliver
//! a reward, check for fraud, aggregate analytics).
//!
//! Jobs travel in an [`Envelope`](super::Envelope) on the job-events topic
//! ([`JOB_EVENTS`](super::topics::JOB_EVENTS)), partitioned by `campaign_id`,
//! and are consumed by the job-workers group.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::EventData;

/// The kind of an [`EmailJob`]; its envelope type is `job.email.<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EmailKind {
    /// Email address verification.
    Verification,
    /// Welcome message after signup.
    Welcome,
    /// The user's position changed.
    PositionUpdate,
    /// The user earned a reward.
    RewardEarned,
    /// A campaign milestone was reached.
    Milestone,
}

impl EmailKind {
    /// Every email kind, in the order of [`EmailJob`]'s `TYPES`.
    pub const ALL: [EmailKind; 5] = [
        EmailKind::Verification,
        EmailKind::Welcome,
        EmailKind::PositionUpdate,
        EmailKind::RewardEarned,
        EmailKind::Milestone,
    ];

    /// The wire name of the kind (the job's `data.type`), e.g. `position_update`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EmailKind::Verification => "verification",
            EmailKind::Welcome => "welcome",
            EmailKind::PositionUpdate => "position_update",
            EmailKind::RewardEarned => "reward_earned",
            EmailKind::Milestone => "milestone",
        }
    }

    /// The envelope type of an email job of this kind, e.g. `job.email.welcome`.
    pub const fn job_type(self) -> &'static str {
        match self {
            EmailKind::Verification => "job.email.verification",
            EmailKind::Welcome => "job.email.welcome",
            EmailKind::PositionUpdate => "job.email.position_update",
            EmailKind::RewardEarned => "job.email.reward_earned",
            EmailKind::Milestone => "job.email.milestone",
        }
    }

    /// The kind whose envelope type is `job_type`, if any.
    pub fn from_job_type(job_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.job_type() == job_type)
    }
}

impl std::fmt::Display for EmailKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The envelope type of an email job of `kind` (same as [`EmailKind::job_type`]).
pub const fn email_job_type(kind: EmailKind) -> &'static str {
    kind.job_type()
}

/// `job.email.<kind>`: send an email to a waitlist user.
///
/// One payload type for all five email kinds; [`EventData::event_type`]
/// returns the envelope type matching [`EmailJob::kind`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EmailJob {
    /// Which email to send (`data.type` on the wire).
    #[serde(rename = "type")]
    pub kind: EmailKind,
    /// The user's campaign.
    pub campaign_id: String,
    /// The recipient user.
    pub user_id: String,
    /// The template to render, if not the campaign's default for the kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// Variables for the template (an empty object when absent).
    #[serde(default)]
    pub template_data: serde_json::Map<String, serde_json::Value>,
    /// Priority of the job (0 when absent).
    #[serde(default)]
    pub priority: i32,
}

impl EmailJob {
    /// An email job of `kind` with no template override, no template data and
    /// priority 0.
    pub fn new(
        kind: EmailKind,
        campaign_id: impl Into<String>,
        user_id: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            campaign_id: campaign_id.into(),
            user_id: user_id.into(),
            template_id: None,
            template_data: serde_json::Map::new(),
            priority: 0,
        }
    }
}

impl EventData for EmailJob {
    const TYPES: &'static [&'static str] = &[
        EmailKind::Verification.job_type(),
        EmailKind::Welcome.job_type(),
        EmailKind::PositionUpdate.job_type(),
        EmailKind::RewardEarned.job_type(),
        EmailKind::Milestone.job_type(),
    ];

    fn campaign_id(&self) -> Option<&str> {
        Some(&self.campaign_id)
    }

    fn event_type(&self) -> &'static str {
        self.kind.job_type()
    }

    fn user_id(&self) -> Option<&str> {
        Some(&self.user_id)
    }
}

/// `job.position.recalculate`: recompute a campaign's waitlist positions
/// (`position = original position - verified referrals × points per referral`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PositionRecalculateJob {
    /// The campaign to recalculate.
    pub campaign_id: String,
    /// Positions gained per verified referral.
    pub points_per_referral: i64,
}

event_data!(PositionRecalculateJob, "job.position.recalculate");

/// How a reward is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RewardDeliveryMethod {
    /// By email, with the reward code.
    Email,
    /// By a webhook to an external system.
    Webhook,
}

/// `job.reward.deliver`: deliver an earned reward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RewardDeliverJob {
    /// The user's instance of the reward.
    pub user_reward_id: String,
    /// The user who earned it.
    pub user_id: String,
    /// The campaign of the reward.
    pub campaign_id: String,
    /// The reward definition.
    pub reward_id: String,
    /// The delivery method, if not the reward's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<RewardDeliveryMethod>,
}

event_data!(RewardDeliverJob, "job.reward.deliver", user = user_id);

/// `job.fraud.detect`: run fraud checks on a signup or a referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FraudDetectJob {
    /// The campaign.
    pub campaign_id: String,
    /// The user to check.
    pub user_id: String,
    /// The referral to check, if the job is about a referral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
}

event_data!(FraudDetectJob, "job.fraud.detect", user = user_id);

/// The time bucket of an analytics aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One bucket per hour.
    Hourly,
    /// One bucket per day.
    Daily,
}

/// `job.analytics.aggregate`: aggregate a campaign's metrics over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AnalyticsAggregateJob {
    /// The campaign.
    pub campaign_id: String,
    /// The bucket size.
    pub granularity: Granularity,
    /// Start of the aggregation window.
    pub start_time: DateTime<Utc>,
    /// End of the aggregation window.
    pub end_time: DateTime<Utc>,
}

event_data!(AnalyticsAggregateJob, "job.analytics.aggregate");

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Decodes `data`, checks the type and that it re-encodes to `data`.
    fn roundtrip<D: EventData>(data: Value) {
        let job: D = serde_json::from_value(data.clone()).expect("decodes");
        assert!(D::TYPES.contains(&job.event_type()));
        assert_eq!(serde_json::to_value(&job).expect("encodes"), data);
    }

    #[test]
    fn email_job_defaults() {
        let json = json!({"type": "welcome", "campaign_id": "c", "user_id": "u"});
        let job: EmailJob = serde_json::from_value(json).expect("decodes");
        assert_eq!(job, EmailJob::new(EmailKind::Welcome, "c", "u"));
        let full = json!({"type": "welcome", "campaign_id": "c", "user_id": "u",
            "template_data": {}, "priority": 0});
        assert_eq!(serde_json::to_value(&job).expect("encodes"), full);
    }

    #[test]
    fn other_jobs() {
        roundtrip::<PositionRecalculateJob>(json!({"campaign_id": "c", "points_per_referral": 1}));
        roundtrip::<FraudDetectJob>(json!({"campaign_id": "c", "user_id": "u"}));
        roundtrip::<FraudDetectJob>(
            json!({"campaign_id": "c", "user_id": "u", "referral_id": "r"}),
        );
        let reward =
            json!({"user_reward_id": "u", "user_id": "u", "campaign_id": "c", "reward_id": "r"});
        roundtrip::<RewardDeliverJob>(reward.clone());
        for method in ["email", "webhook"] {
            let mut with_method = reward.clone();
            with_method["method"] = json!(method);
            roundtrip::<RewardDeliverJob>(with_method);
        }
        for granularity in ["hourly", "daily"] {
            roundtrip::<AnalyticsAggregateJob>(
                json!({"campaign_id": "c", "granularity": granularity,
                "start_time": "2025-01-01T12:00:00Z", "end_time": "2025-01-02T00:00:00.500Z"}),
            );
        }
        assert_eq!(PositionRecalculateJob::TYPES, ["job.position.recalculate"]);
        assert_eq!(RewardDeliverJob::TYPES, ["job.reward.deliver"]);
        assert_eq!(FraudDetectJob::TYPES, ["job.fraud.detect"]);
        assert_eq!(AnalyticsAggregateJob::TYPES, ["job.analytics.aggregate"]);
        assert!(serde_json::from_value::<Granularity>(json!("weekly")).is_err());
    }
}
