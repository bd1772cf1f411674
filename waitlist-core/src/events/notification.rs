//! Notification events: send one message to one user over one channel.
//!
//! They travel as flat JSON ([`FlatEvent`]) on one topic per channel
//! ([`Channel::topic`]: `notifications.email`, `notifications.whatsapp`,
//! `notifications.push`), keyed by the target user. Consumers deduplicate on
//! `message_id`.

use serde::{Deserialize, Serialize};

use super::topics::{NOTIFICATIONS_EMAIL, NOTIFICATIONS_PUSH, NOTIFICATIONS_WHATSAPP};
use super::FlatEvent;

/// The channel a notification is sent over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email.
    Email,
    /// WhatsApp message.
    Whatsapp,
    /// Push notification.
    Push,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Whatsapp, Channel::Push];

    /// The wire name of the channel: `email`, `whatsapp` or `push`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Whatsapp => "whatsapp",
            Channel::Push => "push",
        }
    }

    /// The topic of the channel's notifications, e.g. `notifications.email`.
    pub const fn topic(self) -> &'static str {
        match self {
            Channel::Email => NOTIFICATIONS_EMAIL,
            Channel::Whatsapp => NOTIFICATIONS_WHATSAPP,
            Channel::Push => NOTIFICATIONS_PUSH,
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The priority of a notification (`normal` when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationPriority {
    /// Low priority.
    Low,
    /// Normal priority (the default).
    #[default]
    Normal,
    /// High priority.
    High,
    /// Urgent.
    Urgent,
}

/// A notification to send to one user over one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NotificationEvent {
    /// The stored notification this event sends.
    pub notification_id: String,
    /// Unique id of this message; the idempotency key.
    pub message_id: String,
    /// The recipient user; the partition key.
    pub target_user_id: String,
    /// The channel to send over.
    pub channel: Channel,
    /// The template to render.
    pub template_id: String,
    /// Variables for the template.
    pub payload: serde_json::Map<String, serde_json::Value>,
    /// Priority of the notification.
    #[serde(default)]
    pub priority: NotificationPriority,
    /// Free-form metadata, e.g. the flow that triggered the notification
    /// (an empty object when absent).
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl NotificationEvent {
    /// The topic this event is published on ([`Channel::topic`] of its channel).
    pub const fn topic(&self) -> &'static str {
        self.channel.topic()
    }
}

impl FlatEvent for NotificationEvent {
    const TYPE: &'static str = "notification";

    fn partition_key(&self) -> Option<&str> {
        Some(&self.target_user_id)
    }

    fn idempotency_id(&self) -> Option<&str> {
        Some(&self.message_id)
    }

    fn user_id(&self) -> Option<&str> {
        Some(&self.target_user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        let json = json!({"notification_id": "n", "message_id": "m", "target_user_id": "u",
            "channel": "push", "template_id": "t", "payload": {}});
        let event: NotificationEvent = serde_json::from_value(json).expect("decodes");
        assert_eq!(event.priority, NotificationPriority::Normal);
        assert!(event.metadata.is_empty());
        assert_eq!(event.topic(), NOTIFICATIONS_PUSH);
        let encoded = serde_json::to_value(&event).expect("encodes");
        assert_eq!(encoded["metadata"], json!({}));
        assert_eq!(encoded["priority"], json!("normal"));
    }
}
