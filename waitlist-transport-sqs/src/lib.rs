//! Amazon SQS transport for the `waitlist` SDK, on [`aws_sdk_sqs`], with
//! SNS for fan-out.
//!
//! ```no_run
//! # async fn run() -> waitlist_core::Result<()> {
//! use waitlist_transport_sqs::SqsTransport;
//!
//! // Region, endpoint and credentials from the AWS SDK's usual chain;
//! // WAITLIST_SQS_PREFIX and WAITLIST_SQS_FIFO from the environment.
//! let transport = SqsTransport::from_env().await?;
//! # Ok(()) }
//! ```
//!
//! # Topology
//! The way AWS users build fan-out (names in [`topology`]): an SNS topic per
//! topic, and per consumer group an SQS queue subscribed to it with raw
//! message delivery — every group gets every message, members of a group
//! compete for its queue — plus a dead-letter queue that is the target of
//! the group queue's redrive policy. A topic with a single group can skip
//! SNS ([`SqsConfig::with_direct_topic`]). The transport creates what is
//! missing, idempotently, or uses ARNs and URLs it is given
//! ([`SqsConfig::with_topic_arn`], [`SqsConfig::with_queue_url`]).
//!
//! # Standard and FIFO
//! On FIFO queues ([`QueueKind::Fifo`]) the partition key is the
//! `MessageGroupId`, so per-key order holds across all consumers, and the
//! message id is the deduplication id (SQS drops a re-publish of the same id
//! within five minutes). Retries, dead letters and replays are new copies
//! and are never deduplicated against the original.
//!
//! # Requests
//! - Publishing sends batches of up to 10 entries within the size limit
//!   (`PublishBatch` or `SendMessageBatch`); receiving asks for up to 10
//!   messages with long polling (20 s); acks, releases and visibility
//!   changes from all deliveries are batched (`DeleteMessageBatch`,
//!   `ChangeMessageVisibilityBatch`). An entry refused inside a batch is
//!   sent again on its own and its operation fails if it keeps being
//!   refused — a partial failure is never reported as success.
//! - Every request is counted ([`metrics::REQUESTS`],
//!   [`SqsTransport::requests_sent`]).
//!
//! # Delivery
//! - The message id, key and headers travel as message attributes (see
//!   [`codec`]); messages from other clients are accepted as they come.
//! - A heartbeat extends the visibility of messages whose handler is still
//!   running. A delivery dropped unsettled is made visible again at once.
//! - A nack changes the message's visibility to the retry delay; it is not
//!   sent again. The attempt is the `waitlist-attempt` attribute plus the
//!   receives SQS counted since. Delays longer than a visibility timeout can
//!   hold (12 h) re-send the message with a not-before time.
//! - A dead letter is sent to the group's dead-letter queue with the
//!   failure headers, then the original is deleted. Messages SQS moved by
//!   the redrive policy are listed with a reason saying so.
#![forbid(unsafe_code)]

mod batcher;
pub mod codec;
mod config;
mod consumer;
mod dead_letters;
pub mod metrics;
mod send;
mod settler;
pub mod topology;
mod transport;

pub use config::{QueueKind, SqsConfig, FIFO_ENV, PREFIX_ENV};
pub use transport::SqsTransport;

/// The fuzz targets' shared helpers (waitlist-core's, by path).
#[cfg(test)]
#[path = "../../waitlist-core/tests/fuzz_support/mod.rs"]
mod fuzz_support;
