//! Stored notifications and templates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::Channel;

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Not sent yet.
    Pending,
    /// Accepted by the provider.
    Sent,
    /// Given up: the error is kept.
    Failed,
}

/// A notification the API created; the event refers to it by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The notification id (`notification_id` of the event).
    pub id: String,
    /// The recipient user.
    pub user_id: String,
    /// The channel.
    pub channel: Channel,
    /// Where to send: an email address, a phone number (E.164) or a device token.
    pub recipient: String,
    /// Where it stands.
    pub status: NotificationStatus,
    /// The provider's id once sent.
    pub provider_id: Option<String>,
    /// The last error once failed.
    pub error: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Notification {
    /// A pending notification.
    pub fn new(
        id: impl Into<String>,
        user_id: impl Into<String>,
        channel: Channel,
        recipient: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            user_id: user_id.into(),
            channel,
            recipient: recipient.into(),
            status: NotificationStatus::Pending,
            provider_id: None,
            error: None,
            updated_at: Utc::now(),
        }
    }
}

/// A Handlebars template of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationTemplate {
    /// The template id (`template_id` of the event).
    pub id: String,
    /// Email subject or push title (plain text); unused for WhatsApp.
    pub subject: Option<String>,
    /// The body: HTML for email (values HTML-escaped), plain text otherwise.
    pub body: String,
}

impl NotificationTemplate {
    /// A template with a subject (title) and a body.
    pub fn new(id: impl Into<String>, subject: Option<&str>, body: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            subject: subject.map(str::to_owned),
            body: body.into(),
        }
    }
}
