//! The event model of the product: the JSON envelope, every typed payload
//! and the default topic and consumer-group names.
//!
//! Two wire shapes exist:
//!
//! - **Enveloped** events ([`Envelope<D>`]): domain events ([`domain`]), background
//!   jobs ([`jobs`]) and webhook events ([`webhook`]). The envelope's `type`
//!   selects the payload; a payload implements [`EventData`].
//! - **Flat** events ([`FlatEvent`]): notification events ([`notification`])
//!   and the waiting-room queue and checkout events ([`waitroom`]), one topic
//!   per type.
//!
//! Unknown fields are ignored when decoding, at every level, so producers may
//! add fields without breaking consumers.

/// Implements [`EventData`] for a payload with one type name whose campaign
/// is its `campaign_id` field and, with `user = field`, whose user is that
/// field.
macro_rules! event_data {
    ($ty:ident, $name:literal $(, user = $user:ident)?) => {
        impl $crate::events::EventData for $ty {
            const TYPES: &'static [&'static str] = &[$name];

            fn campaign_id(&self) -> Option<&str> {
                Some(&self.campaign_id)
            }
            $(
                fn user_id(&self) -> Option<&str> {
                    Some(&self.$user)
                }
            )?
        }
    };
}

mod envelope;

pub use envelope::*;

pub mod domain;
pub mod examples;
pub mod groups;
pub mod jobs;
pub mod notification;
#[cfg(feature = "schema")]
pub mod schema;
pub mod topics;
pub mod waitroom;
pub mod webhook;

pub use domain::{
    CampaignMilestoneReached, ReferralCreated, ReferralVerified, RewardEarned, UserSignedUp,
    UserVerified,
};
pub use jobs::{
    email_job_type, AnalyticsAggregateJob, EmailJob, EmailKind, FraudDetectJob, Granularity,
    PositionRecalculateJob, RewardDeliverJob, RewardDeliveryMethod,
};
pub use notification::{Channel, NotificationEvent, NotificationPriority};
pub use topics::{InvalidEnv, Topics};
pub use waitroom::{
    CheckoutCompleted, CheckoutExpired, CheckoutFailed, CheckoutFailureReason, LeaveReason,
    QueueJoined, QueueLeft, QueueReady, Ticket,
};
pub use webhook::{UserCreated, WebhookEvent};
