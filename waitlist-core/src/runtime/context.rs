//! What a handler knows about the delivery it handles.

use std::sync::Arc;

use crate::Headers;

/// The delivery a handler is running for.
#[derive(Debug, Clone)]
pub struct Context {
    /// Message id (the idempotency key).
    pub message_id: String,
    /// Topic the message came from.
    pub topic: Arc<str>,
    /// Consumer group handling it.
    pub group: Arc<str>,
    /// Partition key, if any.
    pub key: Option<String>,
    /// Delivery attempt, starting at 1.
    pub attempt: u32,
    /// Worker of the pool running the handler.
    pub worker_id: usize,
    /// Message headers.
    pub headers: Headers,
}
