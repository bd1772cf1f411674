//! The consumer runtime: everything between [`Subscription::next`] and
//! settling a delivery.
//!
//! A [`ConsumerGroup`] subscribes to a topic as a member of a group and runs
//! a worker pool. Each delivery passes a chain of [`Layer`]s — the
//! runtime's own (payload limit, [`Deduplicate`], panic containment,
//! [`Timeout`], handler timing) and the group's ([`ConsumerGroup::layer`],
//! e.g. [`RateLimit`]) — into its [`Router`], which routes by the type
//! header (or the JSON `type` of foreign messages) to a [`Handler`]. The
//! handler's [`Outcome`] (or any [`IntoOutcome`], such as a `Result` whose
//! error is [`Transient`]) decides the settle: done, retry (with the
//! group's [`RetryPolicy`]), dead-letter or skip. Settling is bounded and a
//! failed settle backs off. One observer per group keeps [`GroupStats`]
//! and the metrics ([`metrics`]).
//!
//! Handlers with shared state are plain async functions routed by
//! [`Router::with_state`]. Running groups live in a [`Workers`] set with
//! one shutdown deadline; per-key order comes from [`PerKeyScheduler`].
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
