//! Waiting-room events: the queue (joined, left, ready) and the checkout
//! (completed, failed, expired).
//!
//! They travel as flat JSON ([`FlatEvent`]), one topic per type named after
//! the type (`QUEUE_JOINED`, …, see [`topics`]), all
//! partitioned by `event_id` (the ticketed event, e.g. `concert-2024`), so the
//! events of one ticketed event stay in order.
//!
//! Ids are plain strings: the documents use placeholders such as `"uuid"`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::topics;
use super::FlatEvent;

/// Implements [`FlatEvent`] for a waiting-room event: partition key
/// `event_id`, user `user_id`, no idempotency id.
macro_rules! waitroom_event {
    ($ty:ty, $topic:expr) => {
        impl FlatEvent for $ty {
            const TYPE: &'static str = $topic;

            fn partition_key(&self) -> Option<&str> {
                Some(&self.event_id)
            }

            fn user_id(&self) -> Option<&str> {
                Some(&self.user_id)
            }
        }
    };
}

/// `QUEUE_JOINED`: a user joined the queue of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueJoined {
    /// The user's waiting-room session.
    pub session_id: String,
    /// The user.
    pub user_id: String,
    /// The ticketed event; the partition key.
    pub event_id: String,
    /// The user's position in the queue.
    pub position: i64,
    /// When the user joined.
    pub joined_at: DateTime<Utc>,
    /// When the event was produced.
    pub timestamp: DateTime<Utc>,
}

waitroom_event!(QueueJoined, topics::QUEUE_JOINED);

/// Why a user left the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The user left on their own.
    UserLeft,
    /// The user was inactive for too long.
    Timeout,
    /// The session expired.
    Expired,
}

/// `QUEUE_LEFT`: a user left the queue before being admitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueLeft {
    /// The user's waiting-room session.
    pub session_id: String,
    /// The user.
    pub user_id: String,
    /// The ticketed event; the partition key.
    pub event_id: String,
    /// Why the user left.
    pub reason: LeaveReason,
    /// When the user left.
    pub left_at: DateTime<Utc>,
    /// When the event was produced.
    pub timestamp: DateTime<Utc>,
}

waitroom_event!(QueueLeft, topics::QUEUE_LEFT);

/// `QUEUE_READY`: a user was admitted to checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueueReady {
    /// The user's waiting-room session.
    pub session_id: String,
    /// The user.
    pub user_id: String,
    /// The ticketed event; the partition key.
    pub event_id: String,
    /// The access token for checkout (a JWT).
    pub checkout_token: String,
    /// When the user was admitted.
    pub admitted_at: DateTime<Utc>,
    /// When the checkout window closes.
    pub expires_at: DateTime<Utc>,
    /// When the event was produced.
    pub timestamp: DateTime<Utc>,
}

waitroom_event!(QueueReady, topics::QUEUE_READY);

/// A ticket of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Ticket {
    /// The ticket.
    pub id: String,
    /// The seat, e.g. `A1`.
    pub seat_no: String,
    /// The ticket category, e.g. `VIP`.
    pub category: String,
    /// The ticket's price.
    pub price: f64,
}

/// `CHECKOUT_COMPLETED`: a user paid; the processing slot is free.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckoutCompleted {
    /// The order.
    pub order_id: String,
    /// The user's waiting-room session.
    pub session_id: String,
    /// The user.
    pub user_id: String,
    /// The ticketed event; the partition key.
    pub event_id: String,
    /// The tickets bought.
    pub tickets: Vec<Ticket>,
    /// The payment.
    pub payment_id: String,
    /// The amount paid.
    pub amount: f64,
    /// When the event was produced.
    pub timestamp: DateTime<Utc>,
}

waitroom_event!(CheckoutCompleted, topics::CHECKOUT_COMPLETED);

/// Why a checkout failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckoutFailureReason {
    /// The payment was declined or failed.
    PaymentFailed,
    /// The tickets were no longer available.
    InventoryUnavailable,
    /// The order was invalid.
    ValidationError,
}

/// `CHECKOUT_FAILED`: a checkout failed; the processing slot is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckoutFailed {
    /// The order.
    pub order_id: String,
    /// The user's waiting-room session.
    pub session_id: String,
    /// The user.
    pub user_id: String,
    /// The ticketed event; the partition key.
    pub event_id: String,
    /// Why the checkout failed.
    pub reason: CheckoutFailureReason,
    /// A human-readable error, e.g. `Credit card declined`.
    pub error_message: String,
    /// When the event was produced.
    pub timestamp: DateTime<Utc>,
}

waitroom_event!(CheckoutFailed, topics::CHECKOUT_FAILED);

/// `CHECKOUT_EXPIRED`: the checkout window closed unpaid; the tickets go back
/// to inventory and the next user is admitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckoutExpired {
    /// The order.
    pub order_id: String,
    /// The user's waiting-room session.
    pub session_id: String,
    /// The user.
    pub user_id: String,
    /// The ticketed event; the partition key.
    pub event_id: String,
    /// The reserved tickets, released back to inventory.
    pub tickets: Vec<Ticket>,
    /// When the checkout window closed.
    pub expired_at: DateTime<Utc>,
    /// When the event was produced.
    pub timestamp: DateTime<Utc>,
}

waitroom_event!(CheckoutExpired, topics::CHECKOUT_EXPIRED);
