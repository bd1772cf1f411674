//! A delivered message and how it is settled.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Error, Headers, Message, Result};

/// How long one settle call may take before [`Delivery`] gives up on it
/// (unless the transport sets another bound with
/// [`Delivery::with_settle_timeout`]).
pub const DEFAULT_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The transport's handle for settling one delivery.
///
/// Implementations must redeliver the message if the handle is dropped
/// without any of its methods having succeeded, also when it is dropped in
/// the middle of a call: [`Delivery`] abandons a call that does not finish
/// within its settle timeout. A call whose broker connection is known to be
/// gone should fail at once with [`Error::Unavailable`].
#[async_trait]
pub trait Settle: Send + Sync + fmt::Debug {
    /// Removes the message for good (commit, delete, ack).
    async fn ack(&mut self) -> Result<()>;
    /// Delivers the message again, not before `delay`, with attempt + 1.
    /// `failure` are headers the transport carries on the redelivery where
    /// its broker can (error, first/last failure time).
    async fn nack(&mut self, delay: Option<Duration>, failure: Headers) -> Result<()>;
    /// Moves the message to the group's dead-letter queue with `failure`
    /// headers added (reason, attempts, first/last failure, origin).
    async fn dead_letter(&mut self, failure: Headers) -> Result<()>;
}

/// A failed settle hands the delivery back so that the caller can retry.
pub struct SettleError {
    /// Why settling failed.
    pub error: Error,
    /// The delivery, still unsettled.
    pub delivery: Delivery,
}

impl fmt::Debug for SettleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettleError")
            .field("error", &self.error)
            .field("message_id", &self.delivery.message.id)
            .finish()
    }
}

impl fmt::Display for SettleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "settling message {} failed: {}",
            self.delivery.message.id, self.error
        )
    }
}

impl std::error::Error for SettleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// One delivery of a message to a member of a consumer group.
#[derive(Debug)]
pub struct Delivery {
    /// The message as published, plus the transport's attempt header;
    /// shared (the runtime hands the same message to the handler's
    /// [`Context`](crate::runtime::Context) without copying it).
    pub message: Arc<Message>,
    /// Delivery attempt, starting at 1.
    pub attempt: u32,
    /// Partition the message came from, where the transport has partitions.
    pub partition: Option<i32>,
    settle: Box<dyn Settle>,
    settle_timeout: Duration,
}

impl Delivery {
    /// A delivery that settles through `settle`.
    pub fn new(message: impl Into<Arc<Message>>, attempt: u32, settle: Box<dyn Settle>) -> Self {
        Self {
            message: message.into(),
            attempt,
            partition: None,
            settle,
            settle_timeout: DEFAULT_SETTLE_TIMEOUT,
        }
    }

    /// Bounds every settle call of this delivery by `limit` (default
    /// [`DEFAULT_SETTLE_TIMEOUT`]).
    pub fn with_settle_timeout(mut self, limit: Duration) -> Self {
        self.settle_timeout = limit;
        self
    }

    /// The bound on one settle call.
    pub fn settle_timeout(&self) -> Duration {
        self.settle_timeout
    }

    /// Runs one settle call within the settle timeout; the delivery comes
    /// back with the error when it fails or takes too long.
    async fn bounded<F>(mut self, op: &'static str, call: F) -> Result<(), SettleError>
    where
        F: for<'a> FnOnce(
            &'a mut dyn Settle,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>,
        >,
    {
        let limit = self.settle_timeout;
        let result = tokio::time::timeout(limit, call(self.settle.as_mut())).await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(SettleError {
                error,
                delivery: self,
            }),
            Err(_) => Err(SettleError {
                error: Error::Unavailable(format!(
                    "{op} of message {} did not complete within {limit:?}; the broker redelivers it",
                    self.message.id
                ).into()),
                delivery: self,
            }),
        }
    }

    /// Sets the partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Acknowledges the message: it will not be delivered again.
    ///
    /// # Errors
    /// The delivery comes back unsettled with the error, also when the
    /// call did not finish within the settle timeout.
    pub async fn ack(self) -> Result<(), SettleError> {
        self.bounded("ack", |s| s.ack()).await
    }

    /// Redelivers the message, not before `delay`.
    ///
    /// # Errors
    /// The delivery comes back unsettled with the error, also when the
    /// call did not finish within the settle timeout.
    pub async fn nack(self, delay: Option<Duration>, failure: Headers) -> Result<(), SettleError> {
        self.bounded("nack", move |s| s.nack(delay, failure)).await
    }

    /// Moves the message to the dead-letter queue with `failure` headers.
    ///
    /// # Errors
    /// The delivery comes back unsettled with the error, also when the
    /// call did not finish within the settle timeout.
    pub async fn dead_letter(self, failure: Headers) -> Result<(), SettleError> {
        self.bounded("dead-letter", move |s| s.dead_letter(failure))
            .await
    }
}
