//! A delivered message and how it is settled.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Error, Headers, Message, Result};

/// The transport's handle for settling one delivery.
///
/// Implementations must redeliver the message if the handle is dropped
/// without any of its methods having succeeded.
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
    /// The message as published, plus the transport's attempt header.
    pub message: Message,
    /// Delivery attempt, starting at 1.
    pub attempt: u32,
    /// Partition the message came from, where the transport has partitions.
    pub partition: Option<i32>,
    settle: Box<dyn Settle>,
}

impl Delivery {
    /// A delivery that settles through `settle`.
    pub fn new(message: Message, attempt: u32, settle: Box<dyn Settle>) -> Self {
        Self {
            message,
            attempt,
            partition: None,
            settle,
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
    /// The delivery comes back unsettled with the error.
    pub async fn ack(mut self) -> Result<(), SettleError> {
        match self.settle.ack().await {
            Ok(()) => Ok(()),
            Err(error) => Err(SettleError {
                error,
                delivery: self,
            }),
        }
    }

    /// Redelivers the message, not before `delay`.
    ///
    /// # Errors
    /// The delivery comes back unsettled with the error.
    pub async fn nack(
        mut self,
        delay: Option<Duration>,
        failure: Headers,
    ) -> Result<(), SettleError> {
        match self.settle.nack(delay, failure).await {
            Ok(()) => Ok(()),
            Err(error) => Err(SettleError {
                error,
                delivery: self,
            }),
        }
    }

    /// Moves the message to the dead-letter queue with `failure` headers.
    ///
    /// # Errors
    /// The delivery comes back unsettled with the error.
    pub async fn dead_letter(mut self, failure: Headers) -> Result<(), SettleError> {
        match self.settle.dead_letter(failure).await {
            Ok(()) => Ok(()),
            Err(error) => Err(SettleError {
                error,
                delivery: self,
            }),
        }
    }
}
