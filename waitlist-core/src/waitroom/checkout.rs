//! The checkout consumer: reacts to `CHECKOUT_COMPLETED`, `CHECKOUT_FAILED`
//! and `CHECKOUT_EXPIRED` by ending the session's checkout, freeing its slot
//! and admitting the next user.
//!
//! Error handling as documented: a missing session is logged and skipped,
//! every other error is retried (then dead-lettered by the group's policy).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Inventory, SessionStatus, WaitroomError, WaitroomService};
use crate::events::{topics, CheckoutCompleted, CheckoutExpired, CheckoutFailed, FlatEvent};
use crate::runtime::{
    handler_fn, ConsumerGroup, MemoryIdempotencyStore, Outcome, RetryPolicy, Router, Workers,
};
use crate::transport::OrderingGuarantee;
use crate::{Queue, Result};

/// Consumer group of the checkout consumer (`waitroom-service`).
pub const WAITROOM_SERVICE: &str = "waitroom-service";

/// The document's `MessageHandler`: one method per checkout event.
#[async_trait]
pub trait CheckoutEventHandler: Send + Sync + Debug + 'static {
    /// A checkout completed.
    ///
    /// # Errors
    /// [`WaitroomError::SessionNotFound`] (skipped) or errors worth a retry.
    async fn handle_checkout_completed(
        &self,
        event: CheckoutCompleted,
    ) -> Result<(), WaitroomError>;

    /// A checkout failed.
    ///
    /// # Errors
    /// [`WaitroomError::SessionNotFound`] (skipped) or errors worth a retry.
    async fn handle_checkout_failed(&self, event: CheckoutFailed) -> Result<(), WaitroomError>;

    /// A checkout window expired.
    ///
    /// # Errors
    /// [`WaitroomError::SessionNotFound`] (skipped) or errors worth a retry.
    async fn handle_checkout_expired(&self, event: CheckoutExpired) -> Result<(), WaitroomError>;
}

/// The waiting room's own [`CheckoutEventHandler`].
#[derive(Debug, Clone)]
pub struct WaitroomCheckoutHandler {
    waitroom: WaitroomService,
    inventory: Arc<dyn Inventory>,
}

impl WaitroomCheckoutHandler {
    /// Ends checkouts in `waitroom`; expired tickets go back to `inventory`.
    pub fn new(waitroom: WaitroomService, inventory: Arc<dyn Inventory>) -> Self {
        Self {
            waitroom,
            inventory,
        }
    }
}

impl WaitroomCheckoutHandler {
    async fn finish(
        &self,
        session_id: &str,
        event_id: &str,
        status: SessionStatus,
    ) -> Result<(), WaitroomError> {
        let finished = self.waitroom.finish_checkout(session_id, event_id, status);
        finished.await.map(drop)
    }
}

#[async_trait]
impl CheckoutEventHandler for WaitroomCheckoutHandler {
    async fn handle_checkout_completed(
        &self,
        event: CheckoutCompleted,
    ) -> Result<(), WaitroomError> {
        tracing::info!(session_id = %event.session_id, order_id = %event.order_id,
            user_id = %event.user_id, event_id = %event.event_id, "handling checkout completed");
        self.finish(&event.session_id, &event.event_id, SessionStatus::Completed)
            .await
    }

    async fn handle_checkout_failed(&self, event: CheckoutFailed) -> Result<(), WaitroomError> {
        tracing::info!(session_id = %event.session_id, order_id = %event.order_id,
            reason = ?event.reason, error = %event.error_message, "handling checkout failed");
        self.finish(&event.session_id, &event.event_id, SessionStatus::Failed)
            .await
    }

    async fn handle_checkout_expired(&self, event: CheckoutExpired) -> Result<(), WaitroomError> {
        tracing::info!(session_id = %event.session_id, order_id = %event.order_id,
            tickets = event.tickets.len(), "handling checkout expired");
        // Tickets go back before the next user is admitted, and even when
        // the session is gone: they belong to the order.
        self.inventory
            .release(&event.order_id, &event.event_id, &event.tickets)
            .await
            .map_err(|e| WaitroomError::Inventory(e.to_string()))?;
        self.finish(&event.session_id, &event.event_id, SessionStatus::Expired)
            .await
    }
}

/// The outcome of a handler result: done, skip a missing session, retry.
fn outcome(result: Result<(), WaitroomError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(WaitroomError::SessionNotFound(session_id)) => {
            tracing::warn!(%session_id, "session not found; skipping");
            Outcome::skip(format!("session {session_id} not found"))
        }
        Err(e) => Outcome::retry(e),
    }
}

/// The checkout consumer: one member of `group` per checkout topic.
#[derive(Debug, Clone)]
pub struct CheckoutConsumer {
    handler: Arc<dyn CheckoutEventHandler>,
    group: String,
    workers: usize,
    retry: RetryPolicy,
}

impl CheckoutConsumer {
    /// Feeds the checkout topics to `handler` as group `waitroom-service`,
    /// 10 workers, in order per `event_id`, 5 attempts.
    pub fn new(handler: Arc<dyn CheckoutEventHandler>) -> Self {
        Self {
            handler,
            group: WAITROOM_SERVICE.to_owned(),
            workers: topics::DEFAULT_WORKER_POOL_SIZE,
            retry: RetryPolicy::exponential(5, Duration::from_secs(1), Duration::from_secs(60))
                .with_jitter(0.2),
        }
    }

    /// Sets the consumer group name.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Sets the workers per topic.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets the retry policy for errors other than a missing session.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The group of `E`'s topic, whose handler is `call` on the handler.
    fn group_for<E, F, Fut>(&self, call: F) -> ConsumerGroup
    where
        E: FlatEvent,
        F: Fn(Arc<dyn CheckoutEventHandler>, E) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), WaitroomError>> + Send + 'static,
    {
        let h = Arc::clone(&self.handler);
        let router = Router::new().on_flat(handler_fn(move |e: E, _| {
            let handled = call(Arc::clone(&h), e);
            async move { outcome(handled.await) }
        }));
        ConsumerGroup::new(E::TYPE, &self.group, router)
            .workers(self.workers)
            .ordering(OrderingGuarantee::PerKey)
            .retry(self.retry.clone())
            .idempotency(
                Arc::new(MemoryIdempotencyStore::new()),
                Duration::from_secs(24 * 3600),
            )
    }

    /// The three consumer groups (completed, failed, expired).
    pub fn groups(&self) -> [ConsumerGroup; 3] {
        [
            self.group_for(|h, e: CheckoutCompleted| async move {
                h.handle_checkout_completed(e).await
            }),
            self.group_for(|h, e: CheckoutFailed| async move { h.handle_checkout_failed(e).await }),
            self.group_for(
                |h, e: CheckoutExpired| async move { h.handle_checkout_expired(e).await },
            ),
        ]
    }

    /// Starts the three groups on `queue` (completed, failed, expired).
    ///
    /// # Errors
    /// If subscribing fails (groups already started are stopped).
    pub async fn start(&self, queue: Arc<dyn Queue>) -> Result<Workers> {
        Workers::start(queue, self.groups()).await
    }
}
