//! Kafka transport for the `waitlist` SDK, on [`rdkafka`] (librdkafka).
//!
//! ```no_run
//! # fn run() -> waitlist_core::Result<()> {
//! use waitlist_transport_kafka::{KafkaConfig, KafkaTransport};
//!
//! // KAFKA_BROKERS, or localhost:9092
//! let transport = KafkaTransport::new(KafkaConfig::from_env())?;
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//! - Producer: the partition key is the Kafka key; the Java client's
//!   murmur2 partitioner, `acks=all` and idempotence by default; a publish
//!   resolves when every delivery report arrived (many in flight). Headers
//!   map to Kafka headers; the message id travels in
//!   [`ID_HEADER`](codec::ID_HEADER).
//! - Consumer groups: no auto-commit; a partition's offset is committed only
//!   below its lowest unfinished record, so per-key parallelism never skips
//!   work. `auto.offset.reset=earliest`. On a rebalance, revoked partitions
//!   commit what is finished and drop what was fetched but not handed out;
//!   deliveries still running for them are finished by their new owner
//!   again (repeated, never lost).
//! - Back-pressure: when the member's buffer is full it stops taking
//!   records; librdkafka's prefetch queue is bounded
//!   (`queued.max.messages.kbytes`, 16 MiB here), so fetching stops too and
//!   memory stays bounded. (Pausing partitions lost records on the test
//!   broker; see the crate's README section.)
//! - Retries go to the group's retry topic with a not-before time; early
//!   ones are held by the member without blocking other partitions. Dead
//!   letters go to the group's dead-letter topic (see [`topics`]).
//! - Missing topics are created through the admin API (configurable
//!   partitions), as clusters without auto-creation need.
//! - Consumer lag per partition is the gauge
//!   [`CONSUMER_LAG`](metrics::CONSUMER_LAG), from librdkafka's statistics.
#![forbid(unsafe_code)]

pub mod codec;
mod config;
mod consumer;
mod dead_letters;
pub mod metrics;
mod producer;
pub mod topics;
mod tracker;
mod transport;

pub use config::{is_secret_property, KafkaConfig, DEFAULT_BROKERS, KAFKA_BROKERS_ENV};
pub use producer::TopicCreator;
pub use transport::KafkaTransport;

/// The fuzz targets' shared helpers (waitlist-core's, by path).
#[cfg(test)]
#[path = "../../waitlist-core/tests/fuzz_support/mod.rs"]
mod fuzz_support;
