//! WhatsApp provider trait and a recording provider.

use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{ProviderError, SendReceipt};

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
    sent: Mutex<Vec<WhatsappMessage>>,
    failures: Mutex<Vec<ProviderError>>,
}

impl RecordingWhatsappProvider {
    /// A provider that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next sends fail with `errors`, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ProviderError>) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut errors: Vec<_> = errors.into_iter().collect();
        errors.reverse();
        errors.append(&mut f);
        *f = errors;
    }

    /// Every message accepted so far.
    pub fn sent(&self) -> Vec<WhatsappMessage> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl WhatsappProvider for RecordingWhatsappProvider {
    async fn send_whatsapp(&self, message: &WhatsappMessage) -> Result<SendReceipt, ProviderError> {
        if let Some(err) = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
        {
            return Err(err);
        }
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.push(message.clone());
        Ok(SendReceipt {
            provider_id: Some(format!("wa-{}", sent.len())),
        })
    }
}
