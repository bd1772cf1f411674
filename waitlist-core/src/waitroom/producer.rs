//! Publishing the queue events: `QUEUE_JOINED`, `QUEUE_LEFT`, `QUEUE_READY`,
//! one topic per type, keyed by `event_id`.

use crate::events::{topics, QueueJoined, QueueLeft, QueueReady};
use crate::publish::EventPublisher;
use crate::Result;

/// Publishes the waiting room's queue events (the document's `Producer`).
#[derive(Debug, Clone)]
pub struct QueueEventProducer {
    publisher: EventPublisher,
}

impl QueueEventProducer {
    /// Publishes through `publisher`.
    pub fn new(publisher: EventPublisher) -> Self {
        Self { publisher }
    }

    /// Publishes `QUEUE_JOINED`.
    ///
    /// # Errors
    /// Encoding or transport errors.
    pub async fn publish_queue_joined(&self, event: &QueueJoined) -> Result<()> {
        self.publisher
            .publish_flat(topics::QUEUE_JOINED, event)
            .await
    }

    /// Publishes `QUEUE_LEFT`.
    ///
    /// # Errors
    /// Encoding or transport errors.
    pub async fn publish_queue_left(&self, event: &QueueLeft) -> Result<()> {
        self.publisher.publish_flat(topics::QUEUE_LEFT, event).await
    }

    /// Publishes `QUEUE_READY`.
    ///
    /// # Errors
    /// Encoding or transport errors.
    pub async fn publish_queue_ready(&self, event: &QueueReady) -> Result<()> {
        self.publisher
            .publish_flat(topics::QUEUE_READY, event)
            .await
    }

    /// Flushes and closes the publisher.
    ///
    /// # Errors
    /// If pending messages could not be delivered.
    pub async fn close(&self) -> Result<()> {
        self.publisher.close().await
    }
}
