//! Email provider trait and a recording provider.

use std::fmt::Debug;

use async_trait::async_trait;

use super::{ProviderError, Recorder, SendReceipt};

/// One email to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmailMessage {
    /// Recipient address.
    pub to: String,
    /// Sender address; `None` uses the provider's default sender.
    pub from: Option<String>,
    /// Subject line.
    pub subject: String,
    /// HTML body.
    pub html: String,
    /// Plain-text body, if any.
    pub text: Option<String>,
    /// Key the provider may deduplicate on (e.g. `welcome/<user_id>`).
    pub idempotency_key: Option<String>,
}

/// Sends email (SMTP, SendGrid, SES, ...).
#[async_trait]
pub trait EmailProvider: Send + Sync + Debug {
    /// Sends `message`.
    ///
    /// # Errors
    /// [`ProviderError::Transient`] when a retry may succeed,
    /// [`ProviderError::Permanent`] otherwise.
    async fn send_email(&self, message: &EmailMessage) -> Result<SendReceipt, ProviderError>;
}

/// Records every email instead of sending it; can be told to fail.
pub type RecordingEmailProvider = Recorder<EmailMessage>;

#[async_trait]
impl EmailProvider for Recorder<EmailMessage> {
    async fn send_email(&self, message: &EmailMessage) -> Result<SendReceipt, ProviderError> {
        let n = self.record(message)?;
        Ok(SendReceipt {
            provider_id: Some(format!("recorded-{n}")),
        })
    }
}
