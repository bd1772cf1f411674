//! Multi-channel notification workers (document 003).
//!
//! Notification events ([`NotificationEvent`](crate::events::NotificationEvent))
//! arrive on `notifications.email`, `notifications.whatsapp` and
//! `notifications.push`; one consumer group per channel runs a
//! [`NotificationWorker`] that, as documented:
//!
//! 1. fetches the notification ([`NotificationStore`]),
//! 2. fetches its template ([`TemplateStore`]),
//! 3. renders it with Handlebars (email bodies HTML-escaped through
//!    [`TemplateRenderer`](crate::templates::TemplateRenderer); subjects,
//!    WhatsApp and push as plain text),
//! 4. sends it through the channel's provider ([`ChannelSender`]), retrying
//!    transient failures by the [`NotificationConfig::retry`] policy
//!    (2 s, 4 s, 6 s) through the transport's delayed redelivery,
//! 5. records `sent` with the provider id, or `failed` with the error, and
//!    dead-letters permanent failures with the reason,
//! 6. logs and emits `notifications_sent_total{channel,status}` and
//!    `notification_send_duration_ms{channel}`.
//!
//! A second event with the same `message_id` sends nothing.

mod channel;
mod model;
mod service;
mod store;
mod worker;

pub use channel::{ChannelSender, Rendered};
pub use model::{Notification, NotificationStatus, NotificationTemplate};
pub use service::{NotificationConfig, NotificationService};
pub use store::{
    MemoryNotificationStore, NotificationStore, NotificationStoreError, TemplateStore,
};
pub use worker::{NotificationWorker, NOTIFICATIONS_SENT, NOTIFICATION_SEND_DURATION_MS};
