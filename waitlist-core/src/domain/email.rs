//! Sending the five email types: render, suppress duplicates, send, log.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::email_templates::{html_template, subject_template};
use super::{Clock, DomainError, SystemClock};
use crate::events::EmailKind;
use crate::providers::{EmailMessage, EmailProvider};
use crate::store::{EmailLogStore, SentEmail, UserStore};
use crate::templates::TemplateRenderer;

/// Who receives an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A campaign user (address and template fields from the user store).
    User(String),
    /// A plain address (e.g. the campaign owner).
    Address(String),
}

/// One email to send.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailRequest {
    /// Email type.
    pub kind: EmailKind,
    /// The campaign.
    pub campaign_id: String,
    /// The recipient.
    pub to: Recipient,
    /// Sends with the same key within the window are suppressed.
    pub dedupe_key: String,
    /// Template variables (override the user's fields).
    pub data: Map<String, Value>,
    /// Custom template name instead of the kind's default.
    pub template_id: Option<String>,
}

/// What happened to an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailSend {
    /// Sent to this address.
    Sent {
        /// Recipient address.
        to: String,
        /// The provider's message id, if any.
        provider_id: Option<String>,
    },
    /// A send with the same key happened within the window.
    Suppressed,
}

/// Email settings (defaults in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// Sender address; `None` uses the provider's \[None\].
    pub from: Option<String>,
    /// Duplicate sends are suppressed within this window \[24 h\].
    pub dedupe_window: Duration,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            from: None,
            dedupe_window: Duration::from_secs(24 * 3600),
        }
    }
}

/// Renders and sends the product's emails through an [`EmailProvider`],
/// suppressing duplicates through the [`EmailLogStore`].
#[derive(Debug)]
pub struct EmailService {
    users: Arc<dyn UserStore>,
    log: Arc<dyn EmailLogStore>,
    provider: Arc<dyn EmailProvider>,
    renderer: Arc<TemplateRenderer>,
    config: EmailConfig,
    clock: Arc<dyn Clock>,
}

const KIND_FIELDS: [&str; 6] = [
    "verify_url",
    "code",
    "reward_name",
    "milestone",
    "participant_count",
    "position",
];

impl EmailService {
    /// Sends through `provider` with the templates of `renderer` (see
    /// [`default_email_templates`](super::default_email_templates)).
    pub fn new(
        users: Arc<dyn UserStore>,
        log: Arc<dyn EmailLogStore>,
        provider: Arc<dyn EmailProvider>,
        renderer: Arc<TemplateRenderer>,
        config: EmailConfig,
    ) -> Self {
        Self {
            users,
            log,
            provider,
            renderer,
            config,
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` for the dedupe window and the log.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn template_data(
        &self,
        request: &EmailRequest,
    ) -> Result<(String, Option<String>, Map<String, Value>), DomainError> {
        let mut data = Map::new();
        for field in KIND_FIELDS {
            data.insert(field.to_owned(), Value::Null);
        }
        data.insert(
            "campaign_id".into(),
            Value::from(request.campaign_id.clone()),
        );
        let (address, user_id) = match &request.to {
            Recipient::Address(address) => (address.clone(), None),
            Recipient::User(user_id) => {
                let user = self
                    .users
                    .user(&request.campaign_id, user_id)
                    .await?
                    .ok_or_else(|| DomainError::not_found("user", user_id))?;
                data.insert("user_id".into(), Value::from(user.id.clone()));
                data.insert(
                    "position".into(),
                    user.position.map_or(Value::Null, Value::from),
                );
                data.insert(
                    "original_position".into(),
                    Value::from(user.original_position),
                );
                data.insert(
                    "verified_referrals".into(),
                    Value::from(user.verified_referrals),
                );
                (user.email, Some(user.id))
            }
        };
        data.insert("email".into(), Value::from(address.clone()));
        data.extend(request.data.clone());
        Ok((address, user_id, data))
    }

    /// Renders and sends `request` unless a send with its dedupe key
    /// happened within the window.
    ///
    /// # Errors
    /// Template, provider and store errors; [`DomainError::NotFound`] for an
    /// unknown user. A failed send releases its reservation, so a retry sends.
    pub async fn send(&self, request: EmailRequest) -> Result<EmailSend, DomainError> {
        let (to, user_id, data) = self.template_data(&request).await?;
        let name = request
            .template_id
            .as_deref()
            .filter(|t| self.renderer.has(&html_template(t)))
            .unwrap_or(request.kind.as_str());
        let data = Value::Object(data);
        let subject = self.renderer.render(&subject_template(name), &data)?;
        let html = self.renderer.render(&html_template(name), &data)?;
        let now = self.clock.now();
        if !self
            .log
            .reserve(&request.dedupe_key, now, self.config.dedupe_window)
            .await?
        {
            tracing::debug!(key = %request.dedupe_key, "duplicate email suppressed");
            return Ok(EmailSend::Suppressed);
        }
        let message = EmailMessage {
            to: to.clone(),
            from: self.config.from.clone(),
            subject,
            html,
            text: None,
            idempotency_key: Some(request.dedupe_key.clone()),
        };
        let receipt = match self.provider.send_email(&message).await {
            Ok(receipt) => receipt,
            Err(error) => {
                self.log.release(&request.dedupe_key).await?;
                return Err(error.into());
            }
        };
        self.log
            .record_sent(SentEmail {
                dedupe_key: request.dedupe_key,
                campaign_id: request.campaign_id,
                user_id,
                kind: request.kind,
                to: to.clone(),
                sent_at: now,
            })
            .await?;
        Ok(EmailSend::Sent {
            to,
            provider_id: receipt.provider_id,
        })
    }

    /// Sends the kind's email to a campaign user, deduplicated on
    /// `<kind>/<campaign>/<user>/<topic>`.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_to_user(
        &self,
        kind: EmailKind,
        campaign_id: &str,
        user_id: &str,
        topic: &str,
        data: Map<String, Value>,
    ) -> Result<EmailSend, DomainError> {
        self.send(EmailRequest {
            kind,
            campaign_id: campaign_id.to_owned(),
            to: Recipient::User(user_id.to_owned()),
            dedupe_key: format!("{kind}/{campaign_id}/{user_id}/{topic}"),
            data,
            template_id: None,
        })
        .await
    }
}
