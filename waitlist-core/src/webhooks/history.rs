//! Delivery history: one record per HTTP attempt.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::WebhookStoreError;
use crate::sync::lock;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptStatus {
    /// A 2xx answer within the timeout.
    Delivered,
    /// A failure that will be retried at `next_attempt_at`.
    Retrying,
    /// The last failure: no more attempts (schedule used up, endpoint
    /// disabled, 410 Gone, or URL refused).
    Failed,
}

/// One HTTP attempt of one delivery (one event to one subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The delivery (`<event id>:<subscription id>`); the same on every attempt.
    pub delivery_id: String,
    /// The subscription delivered to.
    pub subscription_id: String,
    /// The event delivered (its envelope id, also the `webhook-id` header).
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// Attempt number, starting at 1.
    pub attempt: u32,
    /// When the attempt started.
    pub at: DateTime<Utc>,
    /// HTTP status code, when an answer came.
    pub status_code: Option<u16>,
    /// Time until the answer (or the error).
    pub latency: Duration,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// When the next attempt is due, if there is one.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// How the attempt ended.
    pub status: AttemptStatus,
}

/// Keeps the delivery history.
#[async_trait]
pub trait DeliveryLog: Send + Sync + Debug {
    /// Records one attempt.
    ///
    /// # Errors
    /// [`WebhookStoreError::Unavailable`].
    async fn record(&self, attempt: DeliveryAttempt) -> Result<(), WebhookStoreError>;

    /// Every attempt of one delivery, oldest first.
    ///
    /// # Errors
    /// [`WebhookStoreError::Unavailable`].
    async fn attempts(&self, delivery_id: &str) -> Result<Vec<DeliveryAttempt>, WebhookStoreError>;

    /// The latest `limit` attempts to one subscription, oldest first.
    ///
    /// # Errors
    /// [`WebhookStoreError::Unavailable`].
    async fn for_subscription(
        &self,
        subscription_id: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, WebhookStoreError>;
}

/// In-memory [`DeliveryLog`] keeping the latest `capacity` attempts.
#[derive(Debug)]
pub struct MemoryDeliveryLog {
    capacity: usize,
    attempts: Mutex<VecDeque<DeliveryAttempt>>,
}

impl Default for MemoryDeliveryLog {
    fn default() -> Self {
        Self::with_capacity(10_000)
    }
}

impl MemoryDeliveryLog {
    /// A log keeping the latest 10 000 attempts.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log keeping the latest `capacity` attempts (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            attempts: Mutex::new(VecDeque::new()),
        }
    }

    /// Every attempt kept, oldest first.
    pub fn all(&self) -> Vec<DeliveryAttempt> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<DeliveryAttempt>> {
        lock(&self.attempts)
    }
}

#[async_trait]
impl DeliveryLog for MemoryDeliveryLog {
    async fn record(&self, attempt: DeliveryAttempt) -> Result<(), WebhookStoreError> {
        let mut all = self.lock();
        if all.len() >= self.capacity {
            all.pop_front();
        }
        all.push_back(attempt);
        Ok(())
    }

    async fn attempts(&self, delivery_id: &str) -> Result<Vec<DeliveryAttempt>, WebhookStoreError> {
        Ok(self
            .lock()
            .iter()
            .filter(|a| a.delivery_id == delivery_id)
            .cloned()
            .collect())
    }

    async fn for_subscription(
        &self,
        subscription_id: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, WebhookStoreError> {
        let all = self.lock();
        let mut found: Vec<_> = all
            .iter()
            .rev()
            .filter(|a| a.subscription_id == subscription_id)
            .take(limit)
            .cloned()
            .collect();
        found.reverse();
        Ok(found)
    }
}
