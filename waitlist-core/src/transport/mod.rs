//! The transport contract: what every transport implements and promises.
//!
//! A transport moves bytes and settles deliveries the way its broker does;
//! everything else (decoding, routing, retries, idempotency, per-key
//! scheduling) belongs to the [`runtime`](crate::runtime).
//!
//! # Contract
//!
//! Every transport of the SDK promises, and the
//! [conformance suite](crate#modules) checks:
//!
//! 1. **Durable publish.** [`Publisher::publish`] resolves `Ok` only once the
//!    broker holds every message of the batch (Kafka delivery report, SQS
//!    `SendMessageBatch` entry success, AMQP publisher confirm). A partial
//!    failure is an error, never a silent drop.
//! 2. **At-least-once delivery.** A message stays on the broker until its
//!    [`Delivery`] is acked. A delivery that is dropped unsettled, or whose
//!    member goes away, is delivered again (to any member of the group).
//! 3. **Fan-out and competition.** Every consumer group of a topic gets every
//!    message published after the group first subscribed; inside a group each
//!    message goes to one member at a time.
//! 4. **Attempts.** [`Delivery::attempt`] starts at 1 and grows by one with
//!    every redelivery (nack, dropped delivery, lost member); the transport
//!    also writes it in the [`ATTEMPT`](crate::headers::ATTEMPT) header.
//! 5. **Delayed redelivery.** [`Delivery::nack`] with a delay never delivers
//!    before the delay has passed and never blocks other keys.
//! 6. **Dead letters.** [`Delivery::dead_letter`] moves the message, with the
//!    runtime's failure headers, into the group's dead-letter queue; the
//!    [`DeadLetterQueue`] lists and replays it into the same group.
//! 7. **Headers, key and id** arrive exactly as published.
//! 8. **Bounded buffers.** A transport never buffers without limit: it
//!    fetches at most [`SubscribeOptions::prefetch`] messages ahead.
//!
//! What varies between brokers is described by [`Capabilities`].

mod capabilities;
mod copy;
mod delivery;

pub use capabilities::{Capabilities, OrderingGuarantee};
pub use copy::{fit_copy, CopySize};
pub use delivery::{Delivery, Settle, SettleError, DEFAULT_SETTLE_TIMEOUT};

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{Message, Result};

/// The producing side of a transport.
///
/// # Contract
/// `publish` resolves once the broker has durably accepted every message
/// (see the [module docs](self)); `close` waits for everything published
/// before it.
#[async_trait]
pub trait Publisher: Send + Sync + Debug {
    /// Publishes a batch; resolves when the broker holds all of it.
    ///
    /// # Errors
    /// Any transport error; on error some messages of the batch may have been
    /// published (callers retry; consumers deduplicate by id).
    async fn publish(&self, messages: Vec<Message>) -> Result<()>;

    /// Publishes one message.
    ///
    /// # Errors
    /// As [`Publisher::publish`].
    async fn publish_one(&self, message: Message) -> Result<()> {
        self.publish(vec![message]).await
    }

    /// Flushes everything published so far and releases the connection.
    ///
    /// # Errors
    /// If a pending message could not be delivered.
    async fn close(&self) -> Result<()>;
}

/// How a subscription wants its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeOptions {
    /// Ordering the group needs; a transport that can keep per-key order
    /// natively (FIFO message groups, partitions) uses it.
    pub ordering: OrderingGuarantee,
    /// Most messages the transport may fetch ahead of settlement.
    pub prefetch: usize,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            ordering: OrderingGuarantee::None,
            prefetch: 10,
        }
    }
}

impl SubscribeOptions {
    /// Options with the given ordering and prefetch.
    pub fn new(ordering: OrderingGuarantee, prefetch: usize) -> Self {
        Self {
            ordering,
            prefetch: prefetch.max(1),
        }
    }
}

/// A request to join a consumer group: the topic, the group's name (both
/// checked by [`check_subscription`]) and how the member wants its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    topic: String,
    group: String,
    options: SubscribeOptions,
}

impl Subscribe {
    /// A request for `group` on `topic`.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) when a name is empty.
    pub fn new(topic: &str, group: &str, options: SubscribeOptions) -> Result<Self> {
        check_subscription(topic, group)?;
        Ok(Self {
            topic: topic.to_owned(),
            group: group.to_owned(),
            options,
        })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The consumer group's name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// How the member wants its messages.
    pub fn options(&self) -> &SubscribeOptions {
        &self.options
    }
}

/// Checks the names a transport is asked to subscribe with; every
/// transport calls it first, so bad names fail the same way everywhere.
///
/// # Errors
/// [`Error::Config`](crate::Error::Config) when the topic or the group name is empty.
pub fn check_subscription(topic: &str, group: &str) -> Result<()> {
    if topic.is_empty() {
        return Err(crate::Error::Config("topic name must not be empty".into()));
    }
    if group.is_empty() {
        return Err(crate::Error::Config(
            "consumer group name must not be empty".into(),
        ));
    }
    Ok(())
}

/// The consuming side of a transport.
#[async_trait]
pub trait Queue: Send + Sync + Debug {
    /// What this transport guarantees and supports.
    fn capabilities(&self) -> Capabilities;

    /// Joins the request's group as a new member, creating the group (and
    /// its dead-letter queue) on first use. The names were checked when the
    /// request was made.
    ///
    /// # Errors
    /// If the broker is unreachable or the topology cannot be declared.
    async fn join(&self, request: Subscribe) -> Result<Box<dyn Subscription>>;

    /// Joins `group` on `topic` as a new member: [`Queue::join`] with a
    /// request built from the names.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an empty name, otherwise
    /// as [`Queue::join`].
    async fn subscribe(
        &self,
        topic: &str,
        group: &str,
        options: SubscribeOptions,
    ) -> Result<Box<dyn Subscription>> {
        self.join(Subscribe::new(topic, group, options)?).await
    }

    /// The dead-letter queue of `group` on `topic`.
    ///
    /// # Errors
    /// If the broker is unreachable.
    async fn dead_letters(&self, topic: &str, group: &str) -> Result<Box<dyn DeadLetterQueue>>;
}

/// One member of a consumer group.
#[async_trait]
pub trait Subscription: Send + Debug {
    /// The next delivery; waits until one is available. `None` once the
    /// subscription is closed. An `Err` is a transport problem the caller may
    /// log and retry after (the subscription stays usable).
    async fn next(&mut self) -> Option<Result<Delivery>>;

    /// Stops fetching and leaves the group. Deliveries already handed out
    /// can still be settled; anything fetched but not handed out goes back
    /// to the group.
    ///
    /// # Errors
    /// If leaving the group failed (messages are redelivered anyway).
    async fn close(&mut self) -> Result<()>;
}

/// The dead-letter queue of one group.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync + Debug {
    /// Up to `limit` dead-lettered messages, oldest first, with their failure
    /// headers, without removing them.
    ///
    /// # Errors
    /// If the broker is unreachable.
    async fn list(&self, limit: usize) -> Result<Vec<Message>>;

    /// Moves up to `limit` dead-lettered messages back to the group, attempt
    /// reset to 1; returns how many moved.
    ///
    /// # Errors
    /// If the broker is unreachable; messages not replayed stay dead-lettered.
    async fn replay(&self, limit: usize) -> Result<usize>;
}

#[cfg(test)]
mod tests {
    use super::check_subscription;

    #[test]
    fn empty_topic_or_group_is_a_configuration_error() {
        assert!(check_subscription("domain-events", "email-workers").is_ok());
        for (topic, group) in [("", "g"), ("t", "")] {
            let err = check_subscription(topic, group).expect_err("empty name");
            assert!(matches!(err, crate::Error::Config(_)), "{err}");
        }
    }
}
