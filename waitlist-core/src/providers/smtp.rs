//! Email over SMTP with `lettre` (feature `smtp`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use waitlist_core::providers::{EmailMessage, EmailProvider, SmtpConfig, SmtpEmailProvider};
//!
//! let smtp = SmtpEmailProvider::new(SmtpConfig::from_env()?)?;
//! let receipt = smtp
//!     .send_email(&EmailMessage {
//!         to: "ada@example.com".into(),
//!         subject: "Welcome".into(),
//!         html: "<p>Hi Ada</p>".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! println!("sent as {:?}", receipt.provider_id);
//! # Ok(()) }
//! ```

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{EmailMessage, EmailProvider, ProviderError, SendReceipt};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain text (a local relay on a trusted network, test servers).
    None,
    /// STARTTLS upgrade, required (port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

/// Settings of the SMTP provider.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Server host (`SMTP_HOST`, default `127.0.0.1`).
    pub host: String,
    /// Server port (`SMTP_PORT`, default 587).
    pub port: u16,
    /// Connection security (`SMTP_TLS`: `none`, `starttls` (default), `implicit`).
    pub tls: SmtpTls,
    /// User name and password (`SMTP_USERNAME`, `SMTP_PASSWORD`), if any.
    pub credentials: Option<(String, String)>,
    /// Default sender (`SMTP_FROM`, default `noreply@example.com`).
    pub from: String,
    /// Timeout of each SMTP command (default 30 s).
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            credentials: None,
            from: "noreply@example.com".into(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The SMTP provider could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SMTP configuration: {0}")]
pub struct SmtpConfigError(String);

impl SmtpConfig {
    /// A plain-text connection to `host:port` (local relays, test servers).
    pub fn plain(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            tls: SmtpTls::None,
            ..Self::default()
        }
    }

    /// The defaults overridden by `SMTP_HOST`, `SMTP_PORT`, `SMTP_TLS`,
    /// `SMTP_USERNAME`, `SMTP_PASSWORD` and `SMTP_FROM`.
    ///
    /// # Errors
    /// [`SmtpConfigError`] for an invalid port or TLS mode.
    pub fn from_env() -> Result<Self, SmtpConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// [`SmtpConfigError`] for an invalid port or TLS mode.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SmtpConfigError> {
        let mut c = Self::default();
        if let Some(host) = lookup("SMTP_HOST") {
            c.host = host;
        }
        if let Some(port) = lookup("SMTP_PORT") {
            c.port = port
                .parse()
                .map_err(|_| SmtpConfigError(format!("SMTP_PORT={port:?}")))?;
        }
        if let Some(tls) = lookup("SMTP_TLS") {
            c.tls = match tls.to_ascii_lowercase().as_str() {
                "none" => SmtpTls::None,
                "starttls" => SmtpTls::StartTls,
                "implicit" => SmtpTls::Implicit,
                _ => return Err(SmtpConfigError(format!("SMTP_TLS={tls:?}"))),
            };
        }
        if let (Some(user), Some(pass)) = (lookup("SMTP_USERNAME"), lookup("SMTP_PASSWORD")) {
            c.credentials = Some((user, pass));
        }
        if let Some(from) = lookup("SMTP_FROM") {
            c.from = from;
        }
        Ok(c)
    }
}

/// Sends email through an SMTP server; the receipt's provider id is the
/// `Message-ID` it gave the message.
#[derive(Debug, Clone)]
pub struct SmtpEmailProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl SmtpEmailProvider {
    /// A provider for `config`.
    ///
    /// # Errors
    /// [`SmtpConfigError`] for an invalid sender or TLS setup.
    pub fn new(config: SmtpConfig) -> Result<Self, SmtpConfigError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| SmtpConfigError(format!("SMTP_FROM {:?}: {e}", config.from)))?;
        let domain = from.email.domain().to_owned();
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| SmtpConfigError(e.to_string()))?,
            SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|e| SmtpConfigError(e.to_string()))?,
        };
        let mut builder = builder.port(config.port).timeout(Some(config.timeout));
        if let Some((user, pass)) = config.credentials {
            builder = builder.credentials(Credentials::new(user, pass));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            domain,
        })
    }
}

fn permanent(what: &str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Permanent(format!("{what}: {e}"))
}

#[async_trait]
impl EmailProvider for SmtpEmailProvider {
    async fn send_email(&self, message: &EmailMessage) -> Result<SendReceipt, ProviderError> {
        let to: Mailbox = message
            .to
            .parse()
            .map_err(|e| permanent("recipient address", e))?;
        let from: Mailbox = match &message.from {
            Some(from) => from.parse().map_err(|e| permanent("sender address", e))?,
            None => self.from.clone(),
        };
        let message_id = format!("<{}@{}>", uuid::Uuid::new_v4(), self.domain);
        let html = SinglePart::builder()
            .header(ContentType::TEXT_HTML)
            .body(message.html.clone());
        let builder = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(message.subject.clone())
            .message_id(Some(message_id.clone()));
        let email = match &message.text {
            Some(text) => builder.multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text.clone()),
                    )
                    .singlepart(html),
            ),
            None => builder.singlepart(html),
        }
        .map_err(|e| permanent("building the message", e))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(SendReceipt {
                provider_id: Some(message_id),
            }),
            Err(e) if e.is_permanent() => Err(permanent("SMTP server refused", e)),
            Err(e) => Err(ProviderError::Transient(format!("SMTP: {e}"))),
        }
    }
}
