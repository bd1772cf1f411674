//! Behaviours of the consumer runtime on the transport.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::support::{test_message, wait_until, Harness, TestEvent, WAIT};
use crate::events::Envelope;
use crate::runtime::{
    handler_fn, ConsumerGroup, Context, MemoryIdempotencyStore, Outcome, RetryPolicy, Router,
};
use crate::sync::lock;
use crate::transport::OrderingGuarantee;
use crate::{headers, Message};

/// The group's dead-letter queue and its first `limit` entries, polled until
/// at least `at_least` are listed (brokers may show them with a delay).
async fn dead_letters(
    h: &Harness,
    topic: &str,
    group: &str,
    at_least: usize,
) -> (Box<dyn crate::DeadLetterQueue>, Vec<Message>) {
    let dlq = h
        .queue
        .dead_letters(topic, group)
        .await
        .unwrap_or_else(|e| panic!("dead_letters: {e}"));
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = dlq.list(10).await.unwrap_or_else(|e| panic!("list: {e}"));
        if listed.len() >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (dlq, listed)
}

/// When a counting handler counts: as it starts, or once it is done.
#[derive(Clone, Copy)]
enum When {
    Before,
    After,
}

/// A router whose handler counts in `counter` (before or after pausing for
/// `pause`) and then succeeds.
fn counting_router(counter: &Arc<AtomicUsize>, pause: Duration, when: When) -> Router {
    let counter = Arc::clone(counter);
    Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, _ctx: Context| {
        let counter = Arc::clone(&counter);
        async move {
            if matches!(when, When::Before) {
                counter.fetch_add(1, SeqCst);
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if matches!(when, When::After) {
                counter.fetch_add(1, SeqCst);
            }
            Outcome::Done
        }
    }))
}

/// Starts a group on fresh names for `what` whose handler counts as
/// [`counting_router`] does, set up further by `setup`; returns the topic,
/// the group, the counter and the running group.
async fn start_counting(
    h: &Harness,
    what: &str,
    (pause, when): (Duration, When),
    setup: impl FnOnce(ConsumerGroup) -> ConsumerGroup,
) -> (
    String,
    String,
    Arc<AtomicUsize>,
    crate::runtime::RunningGroup,
) {
    let (topic, group) = (h.name(what), h.name("g"));
    let count = Arc::new(AtomicUsize::new(0));
    let router = counting_router(&count, pause, when);
    let running = start(h, setup(ConsumerGroup::new(&topic, &group, router))).await;
    (topic, group, count, running)
}

async fn start(h: &Harness, group: ConsumerGroup) -> crate::runtime::RunningGroup {
    match group.start(Arc::clone(&h.queue)).await {
        Ok(g) => g,
        Err(e) => panic!("starting the consumer group: {e}"),
    }
}

/// 1,000 messages over 16 keys through a per-key group of 10 workers: each
/// key's messages are handled in order and never two of one key at once.
pub async fn per_key_order_is_kept(h: &Harness) {
    let (topic, group) = (h.name("order"), h.name("g"));
    let seen: Arc<Mutex<HashMap<String, Vec<u64>>>> = Arc::default();
    let active: Arc<Mutex<HashSet<String>>> = Arc::default();
    let overlaps = Arc::new(AtomicUsize::new(0));
    let (s, a, o) = (
        Arc::clone(&seen),
        Arc::clone(&active),
        Arc::clone(&overlaps),
    );
    let router = Router::new().on(handler_fn(move |e: Envelope<TestEvent>, _ctx: Context| {
        let (s, a, o) = (Arc::clone(&s), Arc::clone(&a), Arc::clone(&o));
        async move {
            if !lock(&a).insert(e.data.key.clone()) {
                o.fetch_add(1, SeqCst);
            }
            tokio::time::sleep(Duration::from_micros(fastrand::u64(0..1500))).await;
            lock(&s)
                .entry(e.data.key.clone())
                .or_default()
                .push(e.data.seq);
            lock(&a).remove(&e.data.key);
            Outcome::Done
        }
    }));
    let running = start(
        h,
        ConsumerGroup::new(&topic, &group, router)
            .workers(10)
            .ordering(OrderingGuarantee::PerKey),
    )
    .await;
    let total = h.count(1000);
    let mut msgs = Vec::new();
    for seq in 0..(total as u64 / 16 + 1) {
        for k in 0..16 {
            if msgs.len() < total {
                msgs.push(test_message(&topic, &format!("key-{k}"), seq));
            }
        }
    }
    for chunk in msgs.chunks(100) {
        h.publish(chunk.to_vec()).await;
    }
    wait_until("every message handled", WAIT * 2, || {
        lock(&seen).values().map(Vec::len).sum::<usize>() >= total
    })
    .await;
    running.shutdown(WAIT).await;
    assert_eq!(
        overlaps.load(SeqCst),
        0,
        "two messages of one key ran at the same time"
    );
    let seen = lock(&seen);
    assert_eq!(seen.len(), 16);
    for (key, seqs) in seen.iter() {
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(seqs, &sorted, "order of {key} not kept");
        sorted.dedup();
        assert_eq!(sorted.len(), seqs.len(), "{key} handled a message twice");
    }
}

/// A handler that keeps failing: dead-lettered after the policy's attempts,
/// with reason, attempts, failure times and origin in headers; replay brings
/// it back to the group, which then handles it.
pub async fn dead_letter_after_max_attempts_then_replay(h: &Harness) {
    let (topic, group) = (h.name("dlq"), h.name("g"));
    let calls = Arc::new(AtomicUsize::new(0));
    let healthy = Arc::new(AtomicBool::new(false));
    let (c, ok) = (Arc::clone(&calls), Arc::clone(&healthy));
    let router = Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, _ctx: Context| {
        let (c, ok) = (Arc::clone(&c), Arc::clone(&ok));
        async move {
            c.fetch_add(1, SeqCst);
            if ok.load(SeqCst) {
                Outcome::Done
            } else {
                Outcome::retry("downstream unavailable")
            }
        }
    }));
    let cfg = ConsumerGroup::new(&topic, &group, router)
        .retry(RetryPolicy::fixed(3, Duration::from_millis(50)));
    let running = start(h, cfg).await;
    let msg = test_message(&topic, "c1", 1);
    h.publish(vec![msg.clone()]).await;
    wait_until("dead-lettering", WAIT, || {
        running.stats().dead_lettered == 1
    })
    .await;
    assert_eq!(
        calls.load(SeqCst),
        3,
        "handler must run exactly max_attempts times"
    );
    let (dlq, listed) = dead_letters(h, &topic, &group, 1).await;
    assert_eq!(listed.len(), 1, "one dead letter expected");
    let dead = &listed[0];
    assert_eq!(dead.id, msg.id);
    assert_eq!(
        dead.payload, msg.payload,
        "dead letter must keep the payload"
    );
    let hd = |k: &str| dead.headers.get(k).cloned().unwrap_or_default();
    assert!(
        hd(headers::DEAD_LETTER_REASON).contains("downstream unavailable"),
        "reason header: {:?}",
        dead.headers
    );
    assert_eq!(hd(headers::DEAD_LETTER_ATTEMPTS), "3");
    assert_eq!(hd(headers::ORIGIN_TOPIC), topic);
    assert_eq!(hd(headers::ORIGIN_GROUP), group);
    assert!(!hd(headers::FIRST_FAILURE_AT).is_empty() && !hd(headers::LAST_FAILURE_AT).is_empty());
    assert!(hd(headers::FIRST_FAILURE_AT) <= hd(headers::LAST_FAILURE_AT));
    healthy.store(true, SeqCst);
    let replayed = dlq
        .replay(10)
        .await
        .unwrap_or_else(|e| panic!("replay: {e}"));
    assert_eq!(replayed, 1);
    wait_until("replayed message handled", WAIT, || {
        running.stats().done == 1
    })
    .await;
    assert_eq!(calls.load(SeqCst), 4);
    let left = dlq.list(10).await.unwrap_or_else(|e| panic!("list: {e}"));
    assert!(
        left.is_empty(),
        "replayed message must leave the dead-letter queue"
    );
    running.shutdown(WAIT).await;
}

/// Bytes that are not an envelope go to the dead-letter queue with the
/// decoding error; the next message is handled as usual.
pub async fn malformed_payload_is_dead_lettered_and_consumer_continues(h: &Harness) {
    let (topic, group, handled, running) =
        start_counting(h, "malformed", (Duration::ZERO, When::After), |g| g).await;
    let bad = Message::new(&topic, &b"\xff{not json"[..]).with_key("c1");
    let wrong_shape = Message::new(&topic, r#"{"id":"x","type":"conformance.test","account_id":"a","campaign_id":"c","data":{"seq":"NaN"},"timestamp":"2025-01-01T12:00:00Z"}"#).with_key("c1");
    h.publish(vec![
        bad.clone(),
        wrong_shape.clone(),
        test_message(&topic, "c1", 1),
    ])
    .await;
    wait_until(
        "good message handled and bad ones dead-lettered",
        WAIT,
        || {
            let s = running.stats();
            s.done == 1 && s.dead_lettered == 2
        },
    )
    .await;
    assert_eq!(handled.load(SeqCst), 1);
    let (_, listed) = dead_letters(h, &topic, &group, 2).await;
    let reason_of = |id: &str| {
        listed
            .iter()
            .find(|m| m.id == id)
            .and_then(|m| m.headers.get(headers::DEAD_LETTER_REASON).cloned())
            .unwrap_or_default()
    };
    assert!(
        reason_of(&bad.id).contains("malformed envelope"),
        "reason: {}",
        reason_of(&bad.id)
    );
    assert!(
        reason_of(&wrong_shape.id).contains("invalid data"),
        "reason: {}",
        reason_of(&wrong_shape.id)
    );
    running.shutdown(WAIT).await;
}

/// The same message id published three times runs the handler once.
pub async fn duplicate_ids_run_the_handler_once(h: &Harness) {
    let (topic, group) = (h.name("dupes"), h.name("g"));
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let c = Arc::clone(&calls);
    let router = Router::new().on(handler_fn(move |e: Envelope<TestEvent>, _ctx: Context| {
        let c = Arc::clone(&c);
        async move {
            lock(&c).push(e.id);
            Outcome::Done
        }
    }));
    let store = Arc::new(MemoryIdempotencyStore::new());
    let cfg = ConsumerGroup::new(&topic, &group, router)
        .workers(1)
        .idempotency(store, Duration::from_secs(600));
    let running = start(h, cfg).await;
    let msg = test_message(&topic, "c1", 1);
    let other = test_message(&topic, "c1", 2);
    h.publish(vec![msg.clone(), msg.clone(), msg.clone(), other.clone()])
        .await;
    // A broker that deduplicates ids itself delivers each id once; the
    // runtime's store then has nothing left to catch.
    let dedup = h.caps().deduplicates_ids;
    let (deliveries, expected_duplicates) = if dedup { (2, 0) } else { (4, 2) };
    wait_until("every delivery settled", WAIT, || {
        let s = running.stats();
        s.done + s.duplicates == deliveries
    })
    .await;
    let calls = lock(&calls).clone();
    assert_eq!(
        calls.iter().filter(|id| **id == msg.id).count(),
        1,
        "duplicate ran the handler again"
    );
    assert_eq!(calls.iter().filter(|id| **id == other.id).count(), 1);
    if dedup {
        // Nothing more may arrive late either.
        tokio::time::sleep(h.quiet).await;
    }
    assert_eq!(running.stats().duplicates, expected_duplicates);
    assert_eq!(running.stats().done, 2);
    running.shutdown(WAIT).await;
}

/// Shutdown stops fetching and lets in-flight handlers finish and settle:
/// nothing is redelivered afterwards.
pub async fn graceful_shutdown_settles_in_flight_work(h: &Harness) {
    let pause = (Duration::from_millis(500), When::Before);
    let (topic, group, started, running) =
        start_counting(h, "shutdown", pause, |g| g.workers(4).max_in_flight(4)).await;
    h.publish(
        (0..4)
            .map(|i| test_message(&topic, &format!("k{i}"), i))
            .collect(),
    )
    .await;
    wait_until("4 handlers running", WAIT, || started.load(SeqCst) == 4).await;
    let report = running.shutdown(WAIT).await;
    assert_eq!(
        report.stats.done, 4,
        "in-flight work must finish during shutdown"
    );
    assert_eq!(report.abandoned, 0);
    let mut sub = h.subscribe(&topic, &group).await;
    let again = super::support::try_recv(&mut sub, h.quiet * 3).await;
    assert!(
        again.is_none(),
        "a message settled during shutdown came back"
    );
}

/// Work still running at the shutdown deadline is abandoned unsettled and
/// redelivered to the next member.
pub async fn shutdown_deadline_abandons_work_for_redelivery(h: &Harness) {
    let stuck = (Duration::from_secs(3600), When::Before);
    let (topic, group, started, running) =
        start_counting(h, "deadline", stuck, |g| g.workers(1)).await;
    let msg = test_message(&topic, "k", 1);
    h.publish(vec![msg.clone()]).await;
    wait_until("handler running", WAIT, || started.load(SeqCst) == 1).await;
    let report = running.shutdown(Duration::from_millis(200)).await;
    assert_eq!(
        report.abandoned, 1,
        "the stuck delivery must be reported abandoned"
    );
    assert_eq!(report.stats.done, 0);
    let mut sub = h.subscribe(&topic, &group).await;
    let d = super::support::recv(&mut sub, WAIT).await;
    assert_eq!(d.message.id, msg.id, "abandoned work must be redelivered");
    super::support::ack(d).await;
}

/// A fast producer and a slow handler: the group never holds more than its
/// in-flight bound, and every message is handled.
pub async fn memory_stays_bounded_with_slow_handler(h: &Harness) {
    let slow = (Duration::from_millis(2), When::After);
    let (topic, _, handled, running) =
        start_counting(h, "bounded", slow, |g| g.workers(2).max_in_flight(4)).await;
    let total = h.count(500) as u64;
    let msgs: Vec<Message> = (0..total)
        .map(|i| test_message(&topic, &format!("k{}", i % 8), i))
        .collect();
    for chunk in msgs.chunks(50) {
        h.publish(chunk.to_vec()).await;
    }
    wait_until("all handled", WAIT * 2, || {
        handled.load(SeqCst) == total as usize
    })
    .await;
    let stats = running.stats();
    assert!(
        stats.peak_in_flight <= 4,
        "in flight reached {} with a bound of 4",
        stats.peak_in_flight
    );
    running.shutdown(WAIT).await;
}
