//! Channels: how a rendered notification reaches a provider.

use std::sync::Arc;

use handlebars::Handlebars;
use serde_json::Value;

use super::{Notification, NotificationTemplate};
use crate::events::{Channel, NotificationEvent};
use crate::providers::{
    EmailMessage, EmailProvider, ProviderError, PushMessage, PushProvider, SendReceipt,
    WhatsappMessage, WhatsappProvider,
};
use crate::templates::{TemplateError, TemplateRenderer};

/// A template rendered for one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject or title (plain text), if the template has one.
    pub subject: Option<String>,
    /// Body: HTML for email, plain text otherwise.
    pub body: String,
}

/// Renders plain text (subjects, WhatsApp, push): strict like
/// [`TemplateRenderer`], but without HTML escaping, which would turn `&`
/// into `&amp;` in a text message.
fn render_plain(source: &str, data: &Value) -> Result<String, TemplateError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.render_template(source, data)
        .map_err(|e| TemplateError::Render {
            name: "<plain>".to_owned(),
            reason: e.to_string(),
        })
}

/// Sends notifications of one channel through its provider.
#[derive(Debug, Clone)]
pub enum ChannelSender {
    /// Email: HTML body through [`TemplateRenderer`] (escaped), plain subject.
    Email(Arc<dyn EmailProvider>, Arc<TemplateRenderer>),
    /// WhatsApp: plain-text body.
    Whatsapp(Arc<dyn WhatsappProvider>),
    /// Push: plain-text title and body; the event payload travels as data.
    Push(Arc<dyn PushProvider>),
}

impl ChannelSender {
    /// Email through `provider`, rendering with a default [`TemplateRenderer`].
    pub fn email(provider: Arc<dyn EmailProvider>) -> Self {
        ChannelSender::Email(provider, Arc::new(TemplateRenderer::new()))
    }

    /// The channel served.
    pub fn channel(&self) -> Channel {
        match self {
            ChannelSender::Email(..) => Channel::Email,
            ChannelSender::Whatsapp(_) => Channel::Whatsapp,
            ChannelSender::Push(_) => Channel::Push,
        }
    }

    /// Renders `template` with `data`.
    ///
    /// # Errors
    /// [`TemplateError`] when the template does not compile or render.
    pub fn render(
        &self,
        template: &NotificationTemplate,
        data: &Value,
    ) -> Result<Rendered, TemplateError> {
        let subject = template
            .subject
            .as_deref()
            .map(|s| render_plain(s, data))
            .transpose()?;
        let body = match self {
            ChannelSender::Email(_, renderer) => renderer.render_source(&template.body, data)?,
            _ => render_plain(&template.body, data)?,
        };
        Ok(Rendered { subject, body })
    }

    /// Sends `rendered` to the notification's recipient.
    ///
    /// # Errors
    /// The provider's [`ProviderError`].
    pub async fn send(
        &self,
        notification: &Notification,
        event: &NotificationEvent,
        rendered: Rendered,
    ) -> Result<SendReceipt, ProviderError> {
        let key = Some(event.message_id.clone());
        match self {
            ChannelSender::Email(p, _) => {
                let message = EmailMessage {
                    to: notification.recipient.clone(),
                    from: None,
                    subject: rendered.subject.unwrap_or_default(),
                    html: rendered.body,
                    text: None,
                    idempotency_key: key,
                };
                p.send_email(&message).await
            }
            ChannelSender::Whatsapp(p) => {
                let message = WhatsappMessage {
                    to: notification.recipient.clone(),
                    body: rendered.body,
                    idempotency_key: key,
                };
                p.send_whatsapp(&message).await
            }
            ChannelSender::Push(p) => {
                let message = PushMessage {
                    device_token: notification.recipient.clone(),
                    title: rendered.subject.unwrap_or_default(),
                    body: rendered.body,
                    data: event.payload.clone(),
                    idempotency_key: key,
                };
                p.send_push(&message).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::RecordingEmailProvider;
    use serde_json::json;

    #[test]
    fn email_body_is_escaped_but_subject_and_text_channels_are_not() {
        let t = NotificationTemplate::new("t", Some("Hi {{name}}"), "<p>{{name}}</p>");
        let data = json!({"name": "Tom & Jerry"});
        let email = ChannelSender::email(Arc::new(RecordingEmailProvider::new()));
        let r = email.render(&t, &data).expect("renders");
        assert_eq!(r.subject.as_deref(), Some("Hi Tom & Jerry"));
        assert_eq!(r.body, "<p>Tom &amp; Jerry</p>");
        let wa =
            ChannelSender::Whatsapp(Arc::new(crate::providers::RecordingWhatsappProvider::new()));
        assert_eq!(
            wa.render(&t, &data).expect("renders").body,
            "<p>Tom & Jerry</p>"
        );
        assert!(wa
            .render(&NotificationTemplate::new("t", None, "{{missing}}"), &data)
            .is_err());
    }
}
