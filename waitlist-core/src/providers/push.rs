//! Push notification provider trait and a recording provider.

use std::fmt::Debug;

use async_trait::async_trait;

use super::{ProviderError, Recorder, SendReceipt};

/// One push notification to send.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PushMessage {
    /// The device token (FCM registration token, APNs device token, ...).
    pub device_token: String,
    /// Title line.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Extra key/value data for the app.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Key the provider may deduplicate on (the notification's `message_id`).
    pub idempotency_key: Option<String>,
}

/// Sends push notifications (FCM, APNs, ...).
#[async_trait]
pub trait PushProvider: Send + Sync + Debug {
    /// Sends `message`.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] when a retry may succeed,
    /// [`ProviderError::Permanent`] otherwise (e.g. an unregistered token).
    async fn send_push(&self, message: &PushMessage) -> Result<SendReceipt, ProviderError>;
}

/// Records every push notification instead of sending it; can be told to fail.
pub type RecordingPushProvider = Recorder<PushMessage>;

#[async_trait]
impl PushProvider for Recorder<PushMessage> {
    async fn send_push(&self, message: &PushMessage) -> Result<SendReceipt, ProviderError> {
        let n = self.record(message)?;
        Ok(SendReceipt {
            provider_id: Some(format!("push-{n}")),
        })
    }
}
