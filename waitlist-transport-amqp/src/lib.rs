//! RabbitMQ (AMQP 0-9-1) transport for the `waitlist` SDK, on [`lapin`].
//!
//! ```no_run
//! # async fn run() -> waitlist_core::Result<()> {
//! use waitlist_transport_amqp::{AmqpConfig, AmqpTransport};
//!
//! // AMQP_URL, or amqp://guest:guest@127.0.0.1:5672/%2f
//! let transport = AmqpTransport::connect(AmqpConfig::from_env()).await?;
//! # Ok(()) }
//! ```
//!
//! # Topology
//! RabbitMQ's own mechanisms do the work; no plugin is needed. See
//! [`topology`] for the names: one durable fanout exchange per topic, one
//! durable queue per (topic, group) bound to it — groups fan out, members of
//! a group compete — a dead-letter queue per group, and per-delay retry
//! queues whose message TTL dead-letters back into the group's queue.
//!
//! # Guarantees
//! - Messages are persistent; the message id is the AMQP `message_id`,
//!   headers travel as AMQP headers, the partition key in the
//!   [`KEY_HEADER`](codec::KEY_HEADER) header.
//! - Publishing uses publisher confirms, pipelined: a publish resolves only
//!   when the broker confirmed every message. A nack, a returned
//!   (unroutable) message or a channel without confirms is an error, never a
//!   success. Messages whose confirm was lost with the connection are sent
//!   again after reconnecting.
//! - Consumers acknowledge manually after the handler; prefetch is the
//!   group's in-flight bound. Retries and dead letters are published
//!   (confirmed) before the original is acknowledged.
//! - When the connection is lost, publishers and consumers reconnect with
//!   backoff, declare the topology again and resume; each failure surfaces
//!   as a subscription error and in the metrics of [`metrics`].
//! - The attempt count is the `waitlist-attempt` header, plus one when the
//!   broker redelivers a message it had handed out before.
#![forbid(unsafe_code)]

pub mod codec;
mod config;
mod connection;
mod consumer;
mod dead_letters;
pub mod metrics;
mod publisher;
pub mod topology;
mod transport;

pub use config::{AmqpConfig, AMQP_URL_ENV, DEFAULT_AMQP_URL};
pub use lapin::ConnectionProperties;
pub use transport::AmqpTransport;

/// The fuzz targets' shared helpers (waitlist-core's, by path).
#[cfg(test)]
#[path = "../../waitlist-core/tests/fuzz_support/mod.rs"]
mod fuzz_support;
