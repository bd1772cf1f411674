//! Handling one delivery: dedupe, decode, route, run, settle.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::watch;
use tracing::{field, Instrument};

use super::group::Counters;
use super::metrics::GroupMetrics;
use super::router::Routed;
use super::settle::{settle, settle_failure_pause, Settlement};
use super::{Claim, Context, IdempotencyStore, Outcome, RetryPolicy, Router};
use crate::{Delivery, Message};

/// Everything a worker needs to handle deliveries of one group.
#[derive(Debug)]
pub(crate) struct Processor {
    pub(crate) topic: Arc<str>,
    pub(crate) group: Arc<str>,
    pub(crate) router: Router,
    pub(crate) retry: RetryPolicy,
    pub(crate) idempotency: Option<Arc<dyn IdempotencyStore>>,
    pub(crate) dedupe_ttl: Duration,
    pub(crate) handler_timeout: Option<Duration>,
    pub(crate) max_payload: usize,
    pub(crate) counters: Arc<Counters>,
    pub(crate) metrics: GroupMetrics,
    /// Settle failures in a row (reset by a successful settle).
    pub(crate) settle_failures: AtomicU32,
    /// The group's stop signal: a delivery held after a failed settle is
    /// let go at once when the group stops.
    pub(crate) stop: watch::Receiver<Option<Duration>>,
}

/// A delivery whose message was moved out to be shared with the handler.
struct InHand {
    delivery: Delivery,
    message: Arc<Message>,
}

impl Processor {
    /// Handles and settles one delivery; never panics on its content.
    pub(crate) async fn process(&self, mut delivery: Delivery, worker_id: usize) {
        let message = Arc::new(std::mem::take(&mut delivery.message));
        let span = tracing::info_span!(
            "waitlist.delivery",
            group = %self.group,
            topic = %self.topic,
            message_id = %message.id,
            attempt = delivery.attempt,
            key = message.key.as_deref(),
            worker_id,
            event_type = field::Empty,
            outcome = field::Empty,
        );
        self.process_in_span(InHand { delivery, message }, worker_id)
            .instrument(span)
            .await;
    }

    async fn process_in_span(&self, d: InHand, worker_id: usize) {
        if d.message.payload.len() > self.max_payload {
            let reason = format!(
                "payload of {} bytes exceeds the limit of {} bytes",
                d.message.payload.len(),
                self.max_payload
            );
            self.finish(d, "unknown", Outcome::DeadLetter { reason }, None)
                .await;
            return;
        }

        let mut idem_key = None;
        if let Some(store) = &self.idempotency {
            let key = format!("{}/{}", self.group, d.message.id);
            let lease = self.handler_timeout.unwrap_or(Duration::from_secs(300)) * 2;
            match store.claim(&key, lease).await {
                Ok(Claim::Acquired) => idem_key = Some(key),
                Ok(Claim::Done) => {
                    tracing::debug!("duplicate delivery; already handled");
                    if self.settle_logged(d, Settlement::Ack).await.is_some() {
                        self.counters.duplicates.fetch_add(1, Relaxed);
                        self.metrics.of("unknown").outcome("duplicate").increment(1);
                    }
                    return;
                }
                Ok(Claim::InProgress) => {
                    let delay = self.retry.base_delay(1);
                    tracing::debug!(?delay, "same id in progress elsewhere; retrying later");
                    let s = Settlement::Nack {
                        delay,
                        error: "duplicate in progress".into(),
                    };
                    self.settle_logged(d, s).await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "idempotency store failed; retrying later");
                    let s = Settlement::Nack {
                        delay: self.retry.delay(d.delivery.attempt),
                        error: format!("idempotency store: {e}"),
                    };
                    self.settle_logged(d, s).await;
                    return;
                }
            }
        }

        let ctx = Context {
            message: Arc::clone(&d.message),
            group: Arc::clone(&self.group),
            attempt: d.delivery.attempt,
            worker_id,
        };
        let mut routed = Routed::default();
        let started = Instant::now();
        let fut = self.router.dispatch(&d.message, &ctx, &mut routed);
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("event_type", &*routed.event_type);
        }
        let guarded = AssertUnwindSafe(fut).catch_unwind();
        let result = match self.handler_timeout {
            Some(limit) => match tokio::time::timeout(limit, guarded).await {
                Ok(r) => r,
                Err(_) => Ok(Outcome::retry(format!("handler timed out after {limit:?}"))),
            },
            None => guarded.await,
        };
        let outcome = result.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            tracing::error!(panic = %what, "handler panicked");
            self.counters.panics.fetch_add(1, Relaxed);
            self.metrics.panics.increment(1);
            Outcome::retry(format!("handler panicked: {what}"))
        });
        self.metrics
            .of(&routed.event_type)
            .seconds
            .record(started.elapsed().as_secs_f64());
        self.finish(d, &routed.event_type, outcome, idem_key).await;
    }

    async fn finish(
        &self,
        d: InHand,
        event_type: &str,
        outcome: Outcome,
        idem_key: Option<String>,
    ) {
        tracing::Span::current().record("outcome", outcome.label());
        let attempt = d.delivery.attempt;
        let settlement = match &outcome {
            Outcome::Done => Settlement::Ack,
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
        if let (Some(store), Some(key)) = (&self.idempotency, idem_key) {
            let r = match settlement {
                Settlement::Ack => store.complete(&key, self.dedupe_ttl).await,
                _ => store.release(&key).await,
            };
            if let Err(e) = r {
                tracing::warn!(error = %e, "idempotency store update failed");
            }
        }
        let Some(settled) = self.settle_logged(d, settlement).await else {
            return;
        };
        // Counted only once the transport took the settlement; the metric's
        // label stays the handler's outcome.
        match settled {
            Settlement::Ack if outcome == Outcome::Done => {
                self.counters.done.fetch_add(1, Relaxed);
            }
            Settlement::Ack => {
                self.counters.skipped.fetch_add(1, Relaxed);
            }
            Settlement::Nack { .. } => {
                self.counters.retried.fetch_add(1, Relaxed);
                self.metrics.retried.increment(1);
            }
            Settlement::DeadLetter { .. } => {
                self.counters.dead_lettered.fetch_add(1, Relaxed);
                self.metrics.dead_lettered.increment(1);
            }
        }
        self.metrics
            .of(event_type)
            .outcome(outcome.label())
            .increment(1);
    }

    /// Settles the delivery and returns the settlement the transport took:
    /// the one asked for, or a dead letter when the transport refused the
    /// retry copy for good. `None` when settling failed: the delivery is
    /// then held for a pause that grows with failures in a row before it
    /// is let go for redelivery, so a settle that keeps failing never spins.
    async fn settle_logged(&self, d: InHand, settlement: Settlement) -> Option<Settlement> {
        let first = settle(d.delivery, &d.message, &settlement, &self.group).await;
        let (settled, failed) = match (first, settlement) {
            (Ok(()), s) => (Some(s), None),
            (Err(e), Settlement::Nack { error, .. }) if !e.error.is_transient() => {
                let reason = format!(
                    "the transport refused the retry copy ({}); last error: {error}",
                    e.error
                );
                tracing::error!(%reason, "dead-lettering");
                let dl = Settlement::DeadLetter { reason };
                match settle(e.delivery, &d.message, &dl, &self.group).await {
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
        self.counters.settle_errors.fetch_add(1, Relaxed);
        self.metrics.settle_errors.increment(1);
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
