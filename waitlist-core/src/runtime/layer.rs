//! Middleware: the concerns around a group's handler, as layers.
//!
//! A [`Layer`] sees each delivery's [`Context`] and decides whether and how
//! to call the rest of the chain ([`Next`]), ending in the group's
//! [`Router`]. The runtime puts its own layers outermost — payload limit,
//! deduplication, panic containment, timeout, handler timing — and the
//! group's own ([`ConsumerGroup::layer`](super::ConsumerGroup::layer)) inside
//! them, around the router, in the order they were added.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;

use super::observer::Observer;
use super::{Claim, Context, IdempotencyStore, Outcome, Router};

/// A boxed future of an [`Outcome`].
pub type BoxOutcome<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One concern around the handlers of a group (rate limit, circuit
/// breaker, custom tracing, ...).
///
/// ```
/// use async_trait::async_trait;
/// use waitlist_core::runtime::{Context, Layer, Next, Outcome};
///
/// /// Refuses events without a partition key.
/// #[derive(Debug)]
/// struct RequireKey;
///
/// #[async_trait]
/// impl Layer for RequireKey {
///     async fn call(&self, ctx: &Context, next: Next<'_>) -> Outcome {
///         if ctx.key().is_none() {
///             return Outcome::dead_letter("no partition key");
///         }
///         next.run(ctx).await
///     }
/// }
/// ```
#[async_trait]
pub trait Layer: Send + Sync + fmt::Debug + 'static {
    /// Handles the delivery of `ctx`, usually by calling `next.run(ctx)`.
    async fn call(&self, ctx: &Context, next: Next<'_>) -> Outcome;
}

/// The rest of the chain after a layer.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    layers: &'a [Arc<dyn Layer>],
    router: &'a Router,
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Next<'a> {
    pub(crate) fn new(layers: &'a [Arc<dyn Layer>], router: &'a Router) -> Self {
        Self { layers, router }
    }

    /// Runs the remaining layers and the handler.
    pub fn run(self, ctx: &'a Context) -> BoxOutcome<'a> {
        match self.layers.split_first() {
            Some((layer, rest)) => layer.call(ctx, Next::new(rest, self.router)),
            None => self.router.dispatch(ctx),
        }
    }
}

/// Dead-letters payloads over `limit` bytes before anything decodes them.
#[derive(Debug, Clone, Copy)]
pub struct PayloadLimit(pub usize);

impl PayloadLimit {
    /// The dead-letter outcome when the payload of `ctx` is over the limit.
    pub(crate) fn check(&self, ctx: &Context) -> Option<Outcome> {
        let size = ctx.message.payload.len();
        (size > self.0).then(|| {
            Outcome::dead_letter(format!(
                "payload of {size} bytes exceeds the limit of {} bytes",
                self.0
            ))
        })
    }
}

#[async_trait]
impl Layer for PayloadLimit {
    async fn call(&self, ctx: &Context, next: Next<'_>) -> Outcome {
        match self.check(ctx) {
            Some(outcome) => outcome,
            None => next.run(ctx).await,
        }
    }
}

/// Runs the handler once per message id and group: a delivery of an id
/// already handled is acknowledged as a duplicate, one still in progress
/// elsewhere is retried later.
#[derive(Debug)]
pub struct Deduplicate {
    store: Arc<dyn IdempotencyStore>,
    ttl: Duration,
    lease: Duration,
    in_progress_delay: Duration,
}

impl Deduplicate {
    /// Remembers handled ids in `store` for `ttl`; a claim is leased for
    /// `lease` (past it another delivery may take over) and a delivery
    /// whose id is in progress elsewhere comes back after `in_progress_delay`.
    pub fn new(
        store: Arc<dyn IdempotencyStore>,
        ttl: Duration,
        lease: Duration,
        in_progress_delay: Duration,
    ) -> Self {
        Self {
            store,
            ttl,
            lease,
            in_progress_delay,
        }
    }
}

#[async_trait]
impl Layer for Deduplicate {
    async fn call(&self, ctx: &Context, next: Next<'_>) -> Outcome {
        let key = format!("{}/{}", ctx.group, ctx.message.id);
        match self.store.claim(&key, self.lease).await {
            Ok(Claim::Acquired) => {}
            Ok(Claim::Done) => {
                tracing::debug!("duplicate delivery; already handled");
                return Outcome::Duplicate;
            }
            Ok(Claim::InProgress) => {
                tracing::debug!(delay = ?self.in_progress_delay, "same id in progress elsewhere; retrying later");
                return Outcome::retry_after(self.in_progress_delay, "duplicate in progress");
            }
            Err(e) => {
                tracing::warn!(error = %e, "idempotency store failed; retrying later");
                return Outcome::retry(format!("idempotency store: {e}"));
            }
        }
        let outcome = next.run(ctx).await;
        let r = match outcome {
            Outcome::Done | Outcome::Skip { .. } => self.store.complete(&key, self.ttl).await,
            _ => self.store.release(&key).await,
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "idempotency store update failed");
        }
        outcome
    }
}

/// The runtime's panic containment, handler timeout and handler timing, in
/// that order (outermost first), as one layer: one boxed future per
/// delivery instead of one per concern.
///
/// A panic becomes a retry (and counts in `GroupStats::panics`) and the
/// worker keeps running; a handler over the timeout is abandoned and
/// retried; the handler's time is recorded by event type when it returns.
#[derive(Debug)]
pub(crate) struct Guard {
    pub(crate) observer: Arc<Observer>,
    pub(crate) timeout: Option<Duration>,
}

#[async_trait]
impl Layer for Guard {
    async fn call(&self, ctx: &Context, next: Next<'_>) -> Outcome {
        let timed = async {
            let started = Instant::now();
            let outcome = next.run(ctx).await;
            self.observer
                .handler_seconds(&ctx.event_type, started.elapsed().as_secs_f64());
            outcome
        };
        let limited = async {
            match self.timeout {
                Some(limit) => match tokio::time::timeout(limit, timed).await {
                    Ok(outcome) => outcome,
                    Err(_) => Outcome::retry(format!("handler timed out after {limit:?}")),
                },
                None => timed.await,
            }
        };
        match AssertUnwindSafe(limited).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                tracing::error!(panic = %what, "handler panicked");
                self.observer.panicked();
                Outcome::retry(format!("handler panicked: {what}"))
            }
        }
    }
}

/// Abandons a handler that runs longer than the limit, and retries it.
#[derive(Debug, Clone, Copy)]
pub struct Timeout(pub Duration);

#[async_trait]
impl Layer for Timeout {
    async fn call(&self, ctx: &Context, next: Next<'_>) -> Outcome {
        match tokio::time::timeout(self.0, next.run(ctx)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::retry(format!("handler timed out after {:?}", self.0)),
        }
    }
}

/// A per-group rate limit: at most `rate` handler calls per second on
/// average, in bursts of at most `burst`. Deliveries over the limit wait
/// for their turn (holding their in-flight slot, so the group fetches no
/// further ahead) instead of failing.
#[derive(Debug)]
pub struct RateLimit {
    interval: Duration,
    burst: u32,
    state: tokio::sync::Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: tokio::time::Instant,
}

impl RateLimit {
    /// `rate` calls per second (at least 1), in bursts of up to `burst`
    /// (at least 1).
    pub fn per_second(rate: u32, burst: u32) -> Self {
        let burst = burst.max(1);
        Self {
            interval: Duration::from_secs(1) / rate.max(1),
            burst,
            state: tokio::sync::Mutex::new(Bucket {
                tokens: f64::from(burst),
                refilled: tokio::time::Instant::now(),
            }),
        }
    }

    /// Takes one token, waiting until one is there.
    async fn acquire(&self) {
        let mut bucket = self.state.lock().await;
        loop {
            let now = tokio::time::Instant::now();
            let earned =
                now.duration_since(bucket.refilled).as_secs_f64() / self.interval.as_secs_f64();
            bucket.tokens = (bucket.tokens + earned).min(f64::from(self.burst));
            bucket.refilled = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                return;
            }
            let missing = 1.0 - bucket.tokens;
            tokio::time::sleep(self.interval.mul_f64(missing)).await;
        }
    }
}

#[async_trait]
impl Layer for RateLimit {
    async fn call(&self, ctx: &Context, next: Next<'_>) -> Outcome {
        self.acquire().await;
        next.run(ctx).await
    }
}
