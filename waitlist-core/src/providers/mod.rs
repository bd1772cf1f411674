//! Provider traits: how the SDK reaches the outside world (email, WhatsApp,
//! push, HTTP). Host services plug in their vendor; the SDK ships recording
//! in-memory providers for tests and examples.

pub mod email;
pub mod push;
mod recorder;
#[cfg(feature = "smtp")]
pub mod smtp;
pub mod whatsapp;

pub use email::{EmailMessage, EmailProvider, JsonLinesEmailProvider, RecordingEmailProvider};
pub use push::{PushMessage, PushProvider, RecordingPushProvider};
pub use recorder::Recorder;
#[cfg(feature = "smtp")]
pub use smtp::{SmtpConfig, SmtpConfigError, SmtpEmailProvider, SmtpTls};
pub use whatsapp::{RecordingWhatsappProvider, WhatsappMessage, WhatsappProvider};

/// Why a provider could not send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Worth retrying later (timeout, rate limit, 5xx, connection refused).
    #[error("transient provider failure: {0}")]
    Transient(String),
    /// Retrying cannot help (invalid address, rejected content, 4xx).
    #[error("permanent provider failure: {0}")]
    Permanent(String),
}

impl ProviderError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient(_))
    }
}

/// What a provider returns for an accepted message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReceipt {
    /// The provider's id for the message, when it gives one.
    pub provider_id: Option<String>,
}
