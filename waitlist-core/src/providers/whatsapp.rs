//! WhatsApp provider trait and a recording provider.

use std::fmt::Debug;

use async_trait::async_trait;

use super::{ProviderError, Recorder, SendReceipt};

/// One WhatsApp message to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WhatsappMessage {
    /// Recipient phone number (E.164, e.g. `+15551234567`).
    pub to: String,
    /// Message text.
    pub body: String,
    /// Key the provider may deduplicate on (the notification's `message_id`).
    pub idempotency_key: Option<String>,
}

/// Sends WhatsApp messages (Twilio, Meta Cloud API, ...).
#[async_trait]
pub trait WhatsappProvider: Send + Sync + Debug {
    /// Sends `message`.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] when a retry may succeed,
    /// [`ProviderError::Permanent`] otherwise.
    async fn send_whatsapp(&self, message: &WhatsappMessage) -> Result<SendReceipt, ProviderError>;
}

/// Records every WhatsApp message instead of sending it; can be told to fail.
pub type RecordingWhatsappProvider = Recorder<WhatsappMessage>;

#[async_trait]
impl WhatsappProvider for Recorder<WhatsappMessage> {
    async fn send_whatsapp(&self, message: &WhatsappMessage) -> Result<SendReceipt, ProviderError> {
        let n = self.record(message)?;
        Ok(SendReceipt {
            provider_id: Some(format!("wa-{n}")),
        })
    }
}
