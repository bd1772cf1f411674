//! Publishing typed events.

use std::sync::Arc;

use crate::events::{Envelope, EventData, FlatEvent};
use crate::runtime::metrics as m;
use crate::{Message, Publisher, Result};

/// Encodes typed events into [`Message`]s and publishes them, counting
/// published messages and failures per topic.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    inner: Arc<dyn Publisher>,
}

impl EventPublisher {
    /// Publishes through `publisher`.
    pub fn new(publisher: Arc<dyn Publisher>) -> Self {
        Self { inner: publisher }
    }

    /// The underlying transport publisher.
    pub fn transport(&self) -> &Arc<dyn Publisher> {
        &self.inner
    }

    /// Publishes an enveloped event to `topic`, keyed by `campaign_id`.
    ///
    /// # Errors
    /// Encoding or transport errors.
    pub async fn publish_event<D: EventData>(
        &self,
        topic: &str,
        event: &Envelope<D>,
    ) -> Result<()> {
        self.publish(vec![Message::from_envelope(topic, event)?])
            .await
    }

    /// Publishes a flat event to `topic`, keyed by its partition key.
    ///
    /// # Errors
    /// Encoding or transport errors.
    pub async fn publish_flat<E: FlatEvent>(&self, topic: &str, event: &E) -> Result<()> {
        self.publish(vec![Message::from_flat(topic, event)?]).await
    }

    /// Publishes ready messages as one batch.
    ///
    /// # Errors
    /// Transport errors.
    pub async fn publish(&self, messages: Vec<Message>) -> Result<()> {
        let topic = messages
            .first()
            .map(|m| m.topic.clone())
            .unwrap_or_default();
        let n = messages.len() as u64;
        match self.inner.publish(messages).await {
            Ok(()) => {
                metrics::counter!(m::PUBLISHED, "topic" => topic).increment(n);
                Ok(())
            }
            Err(e) => {
                metrics::counter!(m::PUBLISH_ERRORS, "topic" => topic).increment(1);
                Err(e)
            }
        }
    }

    /// Flushes and closes the transport publisher.
    ///
    /// # Errors
    /// If pending messages could not be delivered.
    pub async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

/// Typed publishing on any [`Publisher`]: the message id, key and type
/// header come from the event itself (the key from the field its type
/// partitions by), so no caller passes them again.
///
/// ```
/// # use std::sync::Arc;
/// use waitlist_core::events::{topics, Envelope, UserSignedUp};
/// use waitlist_core::publish::PublishExt;
/// # async fn demo(publisher: Arc<dyn waitlist_core::Publisher>) -> waitlist_core::Result<()> {
/// let signed_up = UserSignedUp {
///     user_id: "ada".into(),
///     campaign_id: "launch".into(),
///     email: "ada@example.com".into(),
/// };
/// publisher
///     .publish_event(topics::DOMAIN_EVENTS, &Envelope::for_account("acme", signed_up))
///     .await?;
/// # Ok(()) }
/// ```
#[async_trait::async_trait]
pub trait PublishExt: Publisher {
    /// Publishes an enveloped event to `topic`, keyed by its partition key.
    ///
    /// # Errors
    /// Encoding or transport errors.
    async fn publish_event<D: EventData>(&self, topic: &str, event: &Envelope<D>) -> Result<()> {
        self.publish_one(Message::from_envelope(topic, event)?)
            .await
    }

    /// Publishes a flat event to `topic`, keyed by its partition key.
    ///
    /// # Errors
    /// Encoding or transport errors.
    async fn publish_flat<E: FlatEvent>(&self, topic: &str, event: &E) -> Result<()> {
        self.publish_one(Message::from_flat(topic, event)?).await
    }
}

impl<P: Publisher + ?Sized> PublishExt for P {}
