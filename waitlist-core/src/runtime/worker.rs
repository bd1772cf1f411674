//! Handling one delivery: the layers and the handler, then settling.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{field, Instrument};

use super::layer::{Layer, Next, PayloadLimit};
use super::observer::{Counted, Observer};
use super::router::NO_HANDLER;
use super::settle::{settle, settle_failure_pause, Settlement};
use super::{Context, Outcome, RetryPolicy, Router};
use crate::Delivery;

/// Everything a worker needs to handle deliveries of one group.
#[derive(Debug)]
pub(crate) struct Processor {
    pub(crate) topic: Arc<str>,
    pub(crate) group: Arc<str>,
    pub(crate) router: Router,
    pub(crate) retry: RetryPolicy,
    /// Checked first, before the chain: an oversized payload is
    /// dead-lettered before anything decodes it.
    pub(crate) payload_limit: PayloadLimit,
    /// The chain around the router, outermost first.
    pub(crate) layers: Vec<Arc<dyn Layer>>,
    pub(crate) observer: Arc<Observer>,
    /// Settle failures in a row (reset by a successful settle).
    pub(crate) settle_failures: AtomicU32,
    /// The group's stop signal: a delivery held after a failed settle is
    /// let go at once when the group stops.
    pub(crate) stop: watch::Receiver<Option<Duration>>,
}

impl Processor {
    /// Handles and settles one delivery; never panics on its content.
    pub(crate) async fn process(&self, delivery: Delivery, worker_id: usize) {
        let message = Arc::clone(&delivery.message);
        let event_type = self.router.label(&message);
        let span = tracing::info_span!(
            "waitlist.delivery",
            group = %self.group,
            topic = %self.topic,
            message_id = %message.id,
            attempt = delivery.attempt,
            key = message.key.as_deref(),
            worker_id,
            event_type = %event_type,
            outcome = field::Empty,
        );
        let ctx = Context {
            message: Arc::clone(&message),
            group: Arc::clone(&self.group),
            attempt: delivery.attempt,
            worker_id,
            event_type,
        };
        async {
            let outcome = match self.payload_limit.check(&ctx) {
                Some(outcome) => outcome,
                None => Next::new(&self.layers, &self.router).run(&ctx).await,
            };
            self.finish(delivery, &ctx, outcome).await;
        }
        .instrument(span)
        .await;
    }

    async fn finish(&self, d: Delivery, ctx: &Context, outcome: Outcome) {
        tracing::Span::current().record("outcome", outcome.label());
        let attempt = d.attempt;
        let settlement = match &outcome {
            Outcome::Done | Outcome::Duplicate => Settlement::Ack,
            Outcome::Skip { reason } => {
                tracing::debug!(%reason, "skipped");
                Settlement::Ack
            }
            Outcome::Retry { after, error } => {
                if self.retry.should_retry(attempt) {
                    let delay = after.unwrap_or_else(|| self.retry.delay(attempt));
                    tracing::warn!(%error, ?delay, "handler failed; will retry");
                    Settlement::Nack {
                        delay,
                        error: error.clone(),
                    }
                } else {
                    let reason = format!("gave up after {attempt} attempts: {error}");
                    tracing::error!(%reason, "dead-lettering");
                    Settlement::DeadLetter { reason }
                }
            }
            Outcome::DeadLetter { reason } => {
                tracing::error!(%reason, "dead-lettering");
                Settlement::DeadLetter {
                    reason: reason.clone(),
                }
            }
        };
        let Some(settled) = self.settle_logged(d, settlement).await else {
            return;
        };
        // Counted only once the transport took the settlement; the metric's
        // label stays the handler's outcome.
        let counted = match (&settled, &outcome) {
            (Settlement::Ack, Outcome::Done) => Counted::Done,
            (Settlement::Ack, Outcome::Duplicate) => Counted::Duplicate,
            (Settlement::Ack, Outcome::Skip { reason })
                if reason.starts_with(NO_HANDLER) && self.router.is_unknown(&ctx.event_type) =>
            {
                Counted::Unrouted
            }
            (Settlement::Ack, _) => Counted::Skipped,
            (Settlement::Nack { .. }, _) => Counted::Retried,
            (Settlement::DeadLetter { .. }, _) => Counted::DeadLettered,
        };
        self.observer
            .settled(&ctx.event_type, outcome.label(), counted);
    }

    /// Settles the delivery and returns the settlement the transport took:
    /// the one asked for, or a dead letter when the transport refused the
    /// retry copy for good. `None` when settling failed: the delivery is
    /// then held for a pause that grows with failures in a row before it
    /// is let go for redelivery, so a settle that keeps failing never spins.
    async fn settle_logged(&self, d: Delivery, settlement: Settlement) -> Option<Settlement> {
        let first = settle(d, &settlement, &self.group).await;
        let (settled, failed) = match (first, settlement) {
            (Ok(()), s) => (Some(s), None),
            (Err(e), Settlement::Nack { error, .. }) if !e.error.is_transient() => {
                let reason = format!(
                    "the transport refused the retry copy ({}); last error: {error}",
                    e.error
                );
                tracing::error!(%reason, "dead-lettering");
                let dl = Settlement::DeadLetter { reason };
                match settle(e.delivery, &dl, &self.group).await {
                    Ok(()) => (Some(dl), None),
                    Err(e) => (None, Some(e)),
                }
            }
            (Err(e), _) => (None, Some(e)),
        };
        let Some(failed) = failed else {
            self.settle_failures.store(0, Relaxed);
            return settled;
        };
        let in_a_row = self.settle_failures.fetch_add(1, Relaxed).saturating_add(1);
        let pause = settle_failure_pause(in_a_row);
        tracing::error!(error = %failed.error, ?pause, "settling failed; the message will be redelivered after a pause");
        self.observer.settle_failed();
        let mut stop = self.stop.clone();
        if stop.borrow().is_none() {
            tokio::select! {
                _ = stop.changed() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        // Dropped unsettled: the transport redelivers it.
        drop(failed);
        None
    }
}
