//! The wire model: bytes plus id, topic, partition key and headers.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::events::{Envelope, EventData, FlatEvent};
use crate::headers;

/// String headers of a message (sorted, so encodings are stable).
pub type Headers = BTreeMap<String, String>;

/// One message on a broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Unique id; the idempotency key (the envelope `id` for envelope events).
    pub id: String,
    /// Topic the message is published to.
    pub topic: String,
    /// Partition key: messages with one key keep their order.
    pub key: Option<String>,
    /// Headers, string to string.
    pub headers: Headers,
    /// The payload bytes, JSON for every event of the product.
    pub payload: Bytes,
}

impl Message {
    /// A message with a fresh UUID v4 id, no key and no headers.
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            topic: topic.into(),
            key: None,
            headers: Headers::new(),
            payload: payload.into(),
        }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the partition key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Encodes an enveloped event: id = envelope id, key = the field the
    /// event type partitions by ([`EventData::KEY`]: `campaign_id`, or
    /// `account_id` for webhook events),
    /// headers carry the event type and content type.
    ///
    /// # Errors
    /// [`crate::Error::Codec`] if the payload does not serialise.
    pub fn from_envelope<D: EventData>(
        topic: impl Into<String>,
        envelope: &Envelope<D>,
    ) -> crate::Result<Self> {
        let payload = serde_json::to_vec(envelope)?;
        Ok(Self::new(topic, payload)
            .with_id(envelope.id.clone())
            .with_key(envelope.partition_key().to_owned())
            .with_header(headers::EVENT_TYPE, envelope.event_type.clone())
            .with_header(headers::CONTENT_TYPE, "application/json"))
    }

    /// Encodes a flat event (waiting room, notifications): key =
    /// [`FlatEvent::partition_key`], id = [`FlatEvent::idempotency_id`] or a
    /// fresh UUID.
    ///
    /// # Errors
    /// [`crate::Error::Codec`] if the event does not serialise.
    pub fn from_flat<E: FlatEvent>(topic: impl Into<String>, event: &E) -> crate::Result<Self> {
        let payload = serde_json::to_vec(event)?;
        let mut msg = Self::new(topic, payload)
            .with_header(headers::EVENT_TYPE, E::TYPE)
            .with_header(headers::CONTENT_TYPE, "application/json");
        if let Some(id) = event.idempotency_id() {
            msg.id = id.to_owned();
        }
        msg.key = event.partition_key().map(str::to_owned);
        Ok(msg)
    }

    /// The attempt number from the [`headers::ATTEMPT`] header (1 when absent
    /// or unreadable).
    pub fn attempt_header(&self) -> u32 {
        self.headers
            .get(headers::ATTEMPT)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }

    /// Approximate size in bytes (payload, id, topic, key and headers).
    pub fn size(&self) -> usize {
        self.payload.len()
            + self.id.len()
            + self.topic.len()
            + self.key.as_ref().map_or(0, String::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}
