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
#[derive(Debug, Default)]
pub struct RecordingEmailProvider {
    recorder: Recorder<EmailMessage>,
}

impl RecordingEmailProvider {
    /// A provider that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next sends fail with `errors`, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ProviderError>) {
        self.recorder.fail_next(errors);
    }

    /// Every email accepted so far.
    pub fn sent(&self) -> Vec<EmailMessage> {
        self.recorder.accepted()
    }
}

#[async_trait]
impl EmailProvider for RecordingEmailProvider {
    async fn send_email(&self, message: &EmailMessage) -> Result<SendReceipt, ProviderError> {
        let n = self.recorder.record(message)?;
        Ok(SendReceipt {
            provider_id: Some(format!("recorded-{n}")),
        })
    }
}
