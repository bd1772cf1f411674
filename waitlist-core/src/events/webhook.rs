//! Webhook events: application events delivered to subscribed webhooks.
//!
//! They travel in an [`Envelope`] on the webhook-events topic
//! ([`WEBHOOK_EVENTS`](super::topics::WEBHOOK_EVENTS)), partitioned by
//! **`account_id`** (not `campaign_id`), so every event of an account keeps
//! its order. The webhook consumers group
//! ([`WEBHOOK_CONSUMERS`](super::groups::WEBHOOK_CONSUMERS)) forwards each
//! event to the account's subscribed webhooks.
//!
//! Only `user.created` has a typed payload here ([`UserCreated`]). Any other
//! webhook type (`referral.verified`, …) is handled generically as a
//! [`WebhookEvent`], i.e. `Envelope<serde_json::Value>`: the payload is passed
//! through to the webhook as it was published.

use serde::{Deserialize, Serialize};

use super::{Envelope, EventData, KeyField};

/// A webhook event of any type, its payload kept as untyped JSON.
pub type WebhookEvent = Envelope<serde_json::Value>;

/// `user.created`: a user was created (webhook event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UserCreated {
    /// The new user.
    pub user_id: String,
    /// The user's email address.
    pub email: String,
    /// The user's waitlist position.
    pub position: i64,
}

impl EventData for UserCreated {
    const TYPES: &'static [&'static str] = &["user.created"];
    /// Webhook events keep their order per account.
    const KEY: KeyField = KeyField::AccountId;

    fn user_id(&self) -> Option<&str> {
        Some(&self.user_id)
    }
}
