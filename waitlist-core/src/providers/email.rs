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

/// Writes every email as one JSON line `{"to", "subject", "key"}` (the
/// idempotency key) instead of sending it: to a file a test or a person
/// reads, or to standard output. For worker binaries run without a mail
/// server, examples and end-to-end tests.
///
/// ```
/// use waitlist_core::providers::{EmailMessage, EmailProvider, JsonLinesEmailProvider};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let path = std::env::temp_dir().join(format!("emails-doc-{}.jsonl", std::process::id()));
/// let emails = JsonLinesEmailProvider::append(&path)?;
/// let message = EmailMessage {
///     to: "ada@example.com".into(),
///     from: None,
///     subject: "You're in".into(),
///     html: "<p>Welcome</p>".into(),
///     text: None,
///     idempotency_key: Some("welcome/u1".into()),
/// };
/// emails.send_email(&message).await?;
/// let line: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
/// assert_eq!(line["to"], "ada@example.com");
/// assert_eq!(line["key"], "welcome/u1");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JsonLinesEmailProvider {
    out: std::sync::Mutex<Box<dyn std::io::Write + Send>>,
}

impl Debug for JsonLinesEmailProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonLinesEmailProvider")
    }
}

impl JsonLinesEmailProvider {
    /// Appends to the file at `path` (created if missing).
    ///
    /// # Errors
    /// If the file cannot be opened for appending.
    pub fn append(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self::to_writer(file))
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout())
    }

    /// Writes to `out`.
    pub fn to_writer(out: impl std::io::Write + Send + 'static) -> Self {
        Self {
            out: std::sync::Mutex::new(Box::new(out)),
        }
    }
}

#[async_trait]
impl EmailProvider for JsonLinesEmailProvider {
    async fn send_email(&self, m: &EmailMessage) -> Result<SendReceipt, ProviderError> {
        let line =
            serde_json::json!({ "to": m.to, "subject": m.subject, "key": m.idempotency_key });
        use std::io::Write as _;
        let mut out = crate::sync::lock(&self.out);
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| ProviderError::Transient(format!("writing the email line: {e}")))?;
        Ok(SendReceipt::default())
    }
}
