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
#[derive(Debug, Default)]
pub struct RecordingWhatsappProvider {
    recorder: Recorder<WhatsappMessage>,
}

impl RecordingWhatsappProvider {
    /// A provider that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next sends fail with `errors`, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ProviderError>) {
        self.recorder.fail_next(errors);
    }

    /// Every message accepted so far.
    pub fn sent(&self) -> Vec<WhatsappMessage> {
        self.recorder.accepted()
    }
}

#[async_trait]
impl WhatsappProvider for RecordingWhatsappProvider {
    async fn send_whatsapp(&self, message: &WhatsappMessage) -> Result<SendReceipt, ProviderError> {
        let n = self.recorder.record(message)?;
        Ok(SendReceipt {
            provider_id: Some(format!("wa-{n}")),
        })
    }
}
