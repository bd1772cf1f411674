//! Payload limits: a message that reached a consumer can always be
//! dead-lettered, whatever that consumer's own publish limit.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::support::{wait_until, Harness, WAIT};
use crate::runtime::{handler_fn, ConsumerGroup, Context, Outcome, Router, UnknownTypePolicy};
use crate::{
    headers, Capabilities, DeadLetterQueue, Message, Queue, Result, Subscribe, Subscription,
};

/// The payload limit of the consumer in [`oversized_messages_are_dead_lettered_once`]
/// when the harness has no [`Harness::limited_queue`].
const REPORTED_LIMIT: usize = 32 * 1024;

/// A queue reporting a smaller payload limit than its broker takes: a
/// transport whose broker lets through deliveries over the advertised
/// limit (for transports whose settling never checks sizes, the memory bus).
#[derive(Debug)]
pub struct ReportedLimit {
    queue: Arc<dyn Queue>,
    limit: usize,
}

impl ReportedLimit {
    /// `queue`, reporting at most `limit` bytes as its payload limit.
    pub fn new(queue: Arc<dyn Queue>, limit: usize) -> Self {
        Self { queue, limit }
    }
}

#[async_trait]
impl Queue for ReportedLimit {
    fn capabilities(&self) -> Capabilities {
        let caps = self.queue.capabilities();
        let limit = self.limit.min(caps.max_payload);
        caps.max_payload(limit)
    }

    async fn join(&self, request: Subscribe) -> Result<Box<dyn Subscription>> {
        self.queue.join(request).await
    }

    async fn dead_letters(&self, topic: &str, group: &str) -> Result<Box<dyn DeadLetterQueue>> {
        self.queue.dead_letters(topic, group).await
    }
}

fn envelope_of(topic: &str, size: usize) -> Message {
    let head = r#"{"id":"x","type":"conformance.sized","account_id":"a","campaign_id":"c","timestamp":"2025-01-01T12:00:00Z","data":{"pad":""#;
    let tail = r#""}}"#;
    let pad = "p".repeat(size.saturating_sub(head.len() + tail.len()));
    Message::new(topic, format!("{head}{pad}{tail}"))
}

/// A consumer whose payload limit is below the producer's gets one message
/// exactly at its limit (the handler dead-letters it) and one above it (the
/// runtime dead-letters it unhandled): both end in the dead-letter queue
/// once, with a reason and their whole payload; the group's counters match
/// the queue's contents and no settle fails (before, the transport refused
/// its own dead-letter copy and the message looped).
pub async fn oversized_messages_are_dead_lettered_once(h: &Harness) {
    let (topic, group) = (h.name("sized"), h.name("g"));
    let consumer: Arc<dyn Queue> = match &h.limited_queue {
        Some(q) => Arc::clone(q),
        None => Arc::new(ReportedLimit::new(Arc::clone(&h.queue), REPORTED_LIMIT)),
    };
    let limit = consumer.capabilities().max_payload;
    assert!(
        limit < h.caps().max_payload,
        "the limited consumer ({limit} bytes) must take less than the publisher ({})",
        h.caps().max_payload
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let router = Router::new()
        .fallback(handler_fn(
            move |_e: crate::events::Envelope<serde_json::Value>, _ctx: Context| {
                c.fetch_add(1, SeqCst);
                async { Outcome::dead_letter("handler refuses sized messages") }
            },
        ))
        .on_unknown(UnknownTypePolicy::DeadLetter);
    let running = match ConsumerGroup::new(&topic, &group, router)
        .workers(2)
        .start(consumer)
        .await
    {
        Ok(g) => g,
        Err(e) => panic!("starting the limited consumer group: {e}"),
    };
    let at_limit = envelope_of(&topic, limit);
    let above = envelope_of(&topic, limit + limit / 2);
    assert_eq!(at_limit.payload.len(), limit);
    h.publish(vec![at_limit.clone(), above.clone()]).await;

    wait_until("both messages dead-lettered", WAIT, || {
        running.stats().dead_lettered >= 2
    })
    .await;
    tokio::time::sleep(h.quiet.max(Duration::from_millis(500))).await;
    let report = running.shutdown(WAIT).await;
    let s = &report.stats;
    assert_eq!(
        (s.dead_lettered, s.settle_errors, s.done, s.retried),
        (2, 0, 0, 0),
        "dead-lettered once each, no settle failure: {s:?}"
    );
    assert_eq!(
        calls.load(SeqCst),
        1,
        "only the message at the limit reaches the handler"
    );

    let dlq = h
        .queue
        .dead_letters(&topic, &group)
        .await
        .unwrap_or_else(|e| panic!("dead_letters: {e}"));
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = dlq.list(10).await.unwrap_or_else(|e| panic!("list: {e}"));
        if listed.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        listed.len(),
        2,
        "each message once in the dead-letter queue"
    );
    for (sent, why) in [
        (&at_limit, "handler refuses"),
        (&above, "exceeds the limit"),
    ] {
        let Some(dead) = listed.iter().find(|m| m.id == sent.id) else {
            panic!("message {} missing from the dead-letter queue", sent.id);
        };
        let reason = dead
            .headers
            .get(headers::DEAD_LETTER_REASON)
            .map(String::as_str)
            .unwrap_or_default();
        assert!(reason.contains(why), "reason of {}: {reason:?}", sent.id);
        assert_eq!(
            dead.payload.len(),
            sent.payload.len(),
            "the dead letter keeps its whole payload (it fits the broker)"
        );
    }
}
