//! The consumer runtime: everything between [`Subscription::next`] and
//! settling a delivery.
//!
//! A [`ConsumerGroup`] subscribes to a topic as a member of a group, decodes
//! each delivery, routes it by event type to a [`Handler`] through a
//! [`Router`], and settles it by the handler's explicit [`Outcome`]: done,
//! retry (with the group's [`RetryPolicy`]), dead-letter or skip. It runs a
//! worker pool, keeps per-key order when asked ([`PerKeyScheduler`]),
//! deduplicates by message id ([`IdempotencyStore`]), bounds the work in
//! flight, and shuts down gracefully within a deadline.
//!
//! [`Subscription::next`]: crate::Subscription::next

mod context;
mod group;
mod idempotency;
mod layer;
pub mod metrics;
mod observer;
mod retry;
mod router;
mod scheduler;
mod settle;
mod state;
mod worker;
mod workers;

pub use context::Context;
pub use group::{ConsumerGroup, GroupReport, GroupStats, RunningGroup};
pub use idempotency::{Claim, IdempotencyStore, MemoryIdempotencyStore};
pub use layer::{BoxOutcome, Deduplicate, Layer, Next, PayloadLimit, RateLimit, Timeout};
pub use retry::{Backoff, RetryPolicy};
pub use router::{handler_fn, FnHandler, Handler, Outcome, Router, UnknownTypePolicy};
pub use scheduler::PerKeyScheduler;
pub use state::{IntoOutcome, StateFn, StateRouter, Transient};
pub use workers::{shutdown_signal, Workers};
