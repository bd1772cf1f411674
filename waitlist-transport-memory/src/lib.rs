//! In-process transport for the `waitlist` SDK, with the semantics of a
//! broker: topics, partitions by key hash, consumer groups that fan out,
//! members that compete, redelivery of unsettled messages, delayed
//! redelivery, dead-letter queues that can be listed and replayed, and
//! bounded buffers.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> waitlist_core::Result<()> {
//! use waitlist_core::{Message, Publisher, Queue, SubscribeOptions};
//! use waitlist_transport_memory::MemoryBus;
//!
//! let bus = MemoryBus::new();
//! let mut sub = bus.subscribe("domain-events", "email-workers", SubscribeOptions::default()).await?;
//! bus.publish_one(Message::new("domain-events", "{}").with_key("campaign-1")).await?;
//! let delivery = sub.next().await.expect("open")?;
//! assert_eq!(delivery.attempt, 1);
//! delivery.ack().await.map_err(|e| e.error)?;
//! # Ok(()) }
//! ```
//!
//! # Semantics
//! - A group receives every message published to its topic after the group
//!   was first subscribed. Messages published to a topic that has no group
//!   yet are kept (up to the capacity) for the first group that subscribes.
//! - With [`OrderingGuarantee::PerKey`](waitlist_core::transport::OrderingGuarantee)
//!   the bus hands out one message per key at a time, like an SQS FIFO
//!   message group: per-key order holds across members and across delayed
//!   retries. Without it, messages are handed out in publish order.
//! - Each group holds at most [`MemoryConfig::capacity`] messages (queued,
//!   delayed and in flight); publishing into a full group waits up to
//!   [`MemoryConfig::publish_timeout`] for space.
//! - Nothing survives the process: the bus is for tests, examples and
//!   single-process services.
#![forbid(unsafe_code)]

mod bus;
mod group;
mod settle;

pub use bus::{MemoryBus, MemoryConfig};
