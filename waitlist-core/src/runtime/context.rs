//! What a handler knows about the delivery it handles.

use std::sync::Arc;

use crate::{Headers, Message};

/// The delivery a handler is running for. Cloning it is cheap.
#[derive(Debug, Clone)]
pub struct Context {
    /// The message as delivered (id, topic, key, headers, payload).
    pub message: Arc<Message>,
    /// Consumer group handling it.
    pub group: Arc<str>,
    /// Delivery attempt, starting at 1.
    pub attempt: u32,
    /// Worker of the pool running the handler.
    pub worker_id: usize,
    /// The event type's label (metrics, spans): the route's type, or
    /// `unknown` when the group has no route for it.
    pub event_type: Arc<str>,
}

impl Context {
    /// Message id (the idempotency key).
    pub fn message_id(&self) -> &str {
        &self.message.id
    }

    /// Topic the message came from.
    pub fn topic(&self) -> &str {
        &self.message.topic
    }

    /// Partition key, if any.
    pub fn key(&self) -> Option<&str> {
        self.message.key.as_deref()
    }

    /// Message headers.
    pub fn headers(&self) -> &Headers {
        &self.message.headers
    }
}
