//! Core of the `waitlist` SDK: the event model, the transport contract and
//! the transport-agnostic consumer runtime. No broker code lives here.
//!
//! Most users depend on the `waitlist` facade crate instead, which re-exports
//! this crate and the transports selected by Cargo feature.
//!
//! - [`events`]: the envelope and every typed event of the product.
//! - [`transport`]: [`Message`], [`Publisher`], [`Queue`], [`Subscription`],
//!   [`Delivery`] — what every transport implements and promises.
//! - [`runtime`]: consumer groups with worker pools, routing, per-key
//!   ordering, retries, dead-lettering, idempotency and graceful shutdown.
//! - `conformance` (feature `conformance`): the suite every transport passes.
#![forbid(unsafe_code)]

#[cfg(feature = "product")]
pub mod domain;
pub mod error;
pub mod events;
pub mod headers;
pub mod message;
#[cfg(feature = "product")]
pub mod notifications;
#[cfg(feature = "ops-server")]
pub mod ops;
#[cfg(feature = "product")]
pub mod providers;
pub mod publish;
pub mod runtime;
pub mod secrets;
#[cfg(feature = "product")]
pub mod store;
pub mod sync;
#[cfg(feature = "product")]
pub mod templates;
pub mod transport;
#[cfg(feature = "product")]
pub mod waitroom;
#[cfg(feature = "product")]
pub mod webhooks;

#[cfg(feature = "conformance")]
pub mod conformance;

/// The attribute for implementing the SDK's async traits (handlers, layers, stores).
pub use async_trait::async_trait;
/// The date-time crate of the event model, so hosts need no dependency of their own.
pub use chrono;
pub use error::{BoxError, Error, Reason, Result};
pub use message::{Headers, Message};
pub use transport::{
    Capabilities, DeadLetterQueue, Delivery, Publisher, Queue, Settle, Subscribe, SubscribeOptions,
    Subscription,
};
