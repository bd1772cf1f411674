//! Behaviours of the consumer runtime (routing, outcomes, panics, timeouts,
//! payload limits, flat events, worker pool) over the memory bus, beyond
//! what the conformance suite already checks.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use waitlist_core::conformance::{wait_until, ReportedLimit, TestEvent};
use waitlist_core::events::{topics, Envelope, QueueJoined};
use waitlist_core::runtime::{
    handler_fn, ConsumerGroup, Context, Handler, Outcome, RetryPolicy, Router, RunningGroup,
    UnknownTypePolicy,
};
use waitlist_core::sync::lock;
use waitlist_core::{headers, Error, Message, Publisher, Queue, SubscribeOptions};
use waitlist_transport_memory::{MemoryBus, MemoryConfig};

/// Longest wait for a condition that should hold almost at once.
const WAIT: Duration = Duration::from_secs(5);

/// What a handler records, shared with the test.
type Recorded<T> = Arc<Mutex<Vec<T>>>;

/// An enveloped [`TestEvent`] on `topic`, keyed by `key`.
fn test_message(topic: &str, key: &str, seq: u64) -> Message {
    let env = Envelope::new(
        "account",
        key,
        TestEvent {
            seq,
            key: key.to_owned(),
        },
    );
    Message::from_envelope(topic, &env).expect("encode test event")
}

/// An envelope of a type no test router has a route for.
fn foreign_envelope(topic: &str, id: &str) -> Message {
    let json = format!(
        r#"{{"id":"{id}","type":"billing.invoiced","account_id":"acc-1","campaign_id":"camp-9","data":{{"amount":5,"plan":"pro"}},"timestamp":"2025-01-01T12:00:00Z"}}"#
    );
    Message::new(topic, json)
        .with_id(id)
        .with_key("camp-9")
        .with_header(headers::EVENT_TYPE, "billing.invoiced")
}

/// A router whose [`TestEvent`] handler counts calls and returns `Done`.
fn counting_router(calls: &Arc<AtomicUsize>) -> Router {
    let c = Arc::clone(calls);
    Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, _ctx: Context| {
        let c = Arc::clone(&c);
        async move {
            c.fetch_add(1, SeqCst);
            Outcome::Done
        }
    }))
}

async fn start(queue: Arc<dyn Queue>, group: ConsumerGroup) -> RunningGroup {
    group.start(queue).await.expect("start consumer group")
}

async fn dead_letters(bus: &MemoryBus, topic: &str, group: &str) -> Vec<Message> {
    let dlq = bus.dead_letters(topic, group).await.expect("dead_letters");
    dlq.list(100).await.expect("list dead letters")
}

fn header(m: &Message, name: &str) -> String {
    m.headers.get(name).cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Envelope types without a route
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrouted_envelope_type_is_skipped_and_acked_by_default() {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let running = start(
        Arc::new(bus.clone()),
        ConsumerGroup::new("t", "g", counting_router(&calls)),
    )
    .await;
    bus.publish(vec![
        foreign_envelope("t", "foreign-1"),
        test_message("t", "k", 1),
    ])
    .await
    .expect("publish");

    wait_until("one skipped and one done", WAIT, || {
        let s = running.stats();
        s.skipped == 1 && s.done == 1
    })
    .await;
    wait_until("the group to hold nothing", WAIT, || {
        bus.group_len("t", "g") == Some(0)
    })
    .await;
    let stats = running.stats();
    assert_eq!(stats.dead_lettered, 0);
    assert_eq!(stats.retried, 0);
    assert_eq!(
        calls.load(SeqCst),
        1,
        "only the routed type reaches its handler"
    );
    assert!(dead_letters(&bus, "t", "g").await.is_empty());
    running.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrouted_envelope_type_is_dead_lettered_under_dead_letter_policy() {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let router = counting_router(&calls).on_unknown(UnknownTypePolicy::DeadLetter);
    let running = start(Arc::new(bus.clone()), ConsumerGroup::new("t", "g", router)).await;
    bus.publish(vec![
        foreign_envelope("t", "foreign-1"),
        test_message("t", "k", 1),
    ])
    .await
    .expect("publish");

    wait_until("one dead-lettered and one done", WAIT, || {
        let s = running.stats();
        s.dead_lettered == 1 && s.done == 1
    })
    .await;
    assert_eq!(running.stats().skipped, 0);
    let dead = dead_letters(&bus, "t", "g").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, "foreign-1");
    let reason = header(&dead[0], headers::DEAD_LETTER_REASON);
    assert!(
        reason.contains("no handler for type") && reason.contains("billing.invoiced"),
        "reason: {reason}"
    );
    assert_eq!(header(&dead[0], headers::DEAD_LETTER_ATTEMPTS), "1");
    running.shutdown(WAIT).await;
}

/// Records what the fallback receives; generic in the data type so that the
/// router's bound fixes it (`serde_json::Value`, not a dependency here).
#[derive(Debug, Default)]
struct RecordingFallback {
    seen: Recorded<(String, String, String, String)>,
}

#[async_trait]
impl<D: Display + Send + 'static> Handler<Envelope<D>> for RecordingFallback {
    async fn handle(&self, event: Envelope<D>, _ctx: &Context) -> Outcome {
        lock(&self.seen).push((
            event.id.clone(),
            event.event_type.clone(),
            event.campaign_id.clone(),
            event.data.to_string(),
        ));
        Outcome::Done
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_receives_unrouted_envelope_as_json_value_with_its_data() {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let fallback = RecordingFallback::default();
    let seen = Arc::clone(&fallback.seen);
    // The policy is ignored when a fallback is set.
    let router = counting_router(&calls)
        .fallback(fallback)
        .on_unknown(UnknownTypePolicy::DeadLetter);
    let running = start(Arc::new(bus.clone()), ConsumerGroup::new("t", "g", router)).await;
    bus.publish(vec![
        foreign_envelope("t", "foreign-1"),
        test_message("t", "k", 1),
    ])
    .await
    .expect("publish");

    wait_until("both handled", WAIT, || running.stats().done == 2).await;
    let seen = lock(&seen).clone();
    assert_eq!(
        seen,
        vec![(
            "foreign-1".to_owned(),
            "billing.invoiced".to_owned(),
            "camp-9".to_owned(),
            r#"{"amount":5,"plan":"pro"}"#.to_owned(),
        )],
        "the fallback gets only the unrouted envelope, with its data as JSON"
    );
    assert_eq!(
        calls.load(SeqCst),
        1,
        "routed types still go to their handler"
    );
    let stats = running.stats();
    assert_eq!((stats.skipped, stats.dead_lettered), (0, 0));
    running.shutdown(WAIT).await;
}

// ---------------------------------------------------------------------------
// Panicking handlers
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_is_retried_and_the_worker_keeps_handling() {
    let bus = MemoryBus::new();
    let calls: Recorded<(u64, u32)> = Arc::default();
    let errors: Recorded<String> = Arc::default();
    let (c, errs) = (Arc::clone(&calls), Arc::clone(&errors));
    let router = Router::new().on(handler_fn(move |e: Envelope<TestEvent>, ctx: Context| {
        let (c, errs) = (Arc::clone(&c), Arc::clone(&errs));
        async move {
            lock(&c).push((e.data.seq, ctx.attempt));
            if ctx.attempt > 1 {
                lock(&errs).push(
                    ctx.headers()
                        .get(headers::ERROR)
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            if e.data.seq == 0 && ctx.attempt == 1 {
                panic!("boom on the first attempt");
            }
            Outcome::Done
        }
    }));
    // One worker: if the panic killed it, nothing after it would be handled.
    let running = start(
        Arc::new(bus.clone()),
        ConsumerGroup::new("t", "g", router)
            .workers(1)
            .retry(RetryPolicy::fixed(3, Duration::from_millis(20))),
    )
    .await;
    bus.publish((0..3).map(|i| test_message("t", "k", i)).collect())
        .await
        .expect("publish");

    wait_until("all three handled", WAIT, || running.stats().done == 3).await;
    let mut calls = lock(&calls).clone();
    calls.sort_unstable();
    assert_eq!(calls, vec![(0, 1), (0, 2), (1, 1), (2, 1)]);
    let errors = lock(&errors).clone();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("panicked") && errors[0].contains("boom on the first attempt"),
        "error header of the retry: {}",
        errors[0]
    );
    let stats = running.stats();
    assert_eq!((stats.retried, stats.dead_lettered), (1, 0));
    assert!(running.is_running());
    running.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_panicking_on_every_attempt_is_dead_lettered_as_panicked() {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let router = Router::new().on(handler_fn(move |e: Envelope<TestEvent>, _ctx: Context| {
        let c = Arc::clone(&c);
        async move {
            c.fetch_add(1, SeqCst);
            if e.data.seq == 0 {
                panic!("poisoned event {}", e.data.seq);
            }
            Outcome::Done
        }
    }));
    let running = start(
        Arc::new(bus.clone()),
        ConsumerGroup::new("t", "g", router)
            .workers(1)
            .retry(RetryPolicy::fixed(2, Duration::from_millis(20))),
    )
    .await;
    let poison = test_message("t", "k", 0);
    bus.publish_one(poison.clone()).await.expect("publish");
    wait_until("dead-lettering", WAIT, || {
        running.stats().dead_lettered == 1
    })
    .await;
    assert_eq!(calls.load(SeqCst), 2, "one call per attempt");

    let dead = dead_letters(&bus, "t", "g").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, poison.id);
    let reason = header(&dead[0], headers::DEAD_LETTER_REASON);
    assert!(
        reason.contains("panicked") && reason.contains("poisoned event 0"),
        "reason: {reason}"
    );
    assert_eq!(header(&dead[0], headers::DEAD_LETTER_ATTEMPTS), "2");

    // The single worker is still alive.
    bus.publish_one(test_message("t", "k", 1))
        .await
        .expect("publish");
    wait_until("the next message handled", WAIT, || {
        running.stats().done == 1
    })
    .await;
    running.shutdown(WAIT).await;
}

// ---------------------------------------------------------------------------
// Explicit outcomes
// ---------------------------------------------------------------------------

/// A group on `t`/`g` whose handler returns `outcome` on every attempt and
/// counts its calls.
async fn group_returning(
    bus: &MemoryBus,
    outcome: Outcome,
    retry: RetryPolicy,
) -> (RunningGroup, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let router = Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, _ctx: Context| {
        let (c, outcome) = (Arc::clone(&c), outcome.clone());
        async move {
            c.fetch_add(1, SeqCst);
            outcome
        }
    }));
    let running = start(
        Arc::new(bus.clone()),
        ConsumerGroup::new("t", "g", router).retry(retry),
    )
    .await;
    (running, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_outcome_acks_and_nothing_is_redelivered() {
    let bus = MemoryBus::new();
    let (running, calls) = group_returning(
        &bus,
        Outcome::skip("session not found"),
        RetryPolicy::fixed(3, Duration::ZERO),
    )
    .await;
    bus.publish_one(test_message("t", "k", 1))
        .await
        .expect("publish");

    wait_until("skipped", WAIT, || running.stats().skipped == 1).await;
    // Held nothing means nothing queued, delayed or in flight: no redelivery.
    wait_until("the group to hold nothing", WAIT, || {
        bus.group_len("t", "g") == Some(0)
    })
    .await;
    assert_eq!(calls.load(SeqCst), 1);
    let stats = running.stats();
    assert_eq!((stats.done, stats.retried, stats.dead_lettered), (0, 0, 0));
    assert!(dead_letters(&bus, "t", "g").await.is_empty());
    running.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_outcome_goes_to_the_dlq_on_the_first_attempt() {
    let bus = MemoryBus::new();
    let (running, calls) = group_returning(
        &bus,
        Outcome::dead_letter("invalid campaign"),
        RetryPolicy::fixed(5, Duration::ZERO),
    )
    .await;
    let msg = test_message("t", "k", 1);
    bus.publish_one(msg.clone()).await.expect("publish");

    wait_until("dead-lettered", WAIT, || running.stats().dead_lettered == 1).await;
    assert_eq!(calls.load(SeqCst), 1, "no retry before dead-lettering");
    assert_eq!(running.stats().retried, 0);
    let dead = dead_letters(&bus, "t", "g").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, msg.id);
    assert_eq!(
        header(&dead[0], headers::DEAD_LETTER_REASON),
        "invalid campaign"
    );
    assert_eq!(header(&dead[0], headers::DEAD_LETTER_ATTEMPTS), "1");
    assert_eq!(bus.group_len("t", "g"), Some(0));
    running.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_waits_at_least_the_given_delay_instead_of_the_policy() {
    let bus = MemoryBus::new();
    let after = Duration::from_millis(300);
    let attempts: Recorded<(u32, Instant)> = Arc::default();
    let a = Arc::clone(&attempts);
    let router = Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, ctx: Context| {
        let a = Arc::clone(&a);
        async move {
            lock(&a).push((ctx.attempt, Instant::now()));
            if ctx.attempt == 1 {
                Outcome::retry_after(after, "rate limited")
            } else {
                Outcome::Done
            }
        }
    }));
    // The policy's own delay is far longer than the test may take.
    let running = start(
        Arc::new(bus.clone()),
        ConsumerGroup::new("t", "g", router).retry(RetryPolicy::fixed(3, Duration::from_secs(60))),
    )
    .await;
    bus.publish_one(test_message("t", "k", 1))
        .await
        .expect("publish");

    wait_until("the second attempt handled", WAIT, || {
        running.stats().done == 1
    })
    .await;
    let attempts = lock(&attempts).clone();
    assert_eq!(attempts.len(), 2);
    assert_eq!((attempts[0].0, attempts[1].0), (1, 2));
    let gap = attempts[1].1 - attempts[0].1;
    assert!(
        gap >= after,
        "second attempt came after {gap:?}, before {after:?}"
    );
    assert_eq!(running.stats().retried, 1);
    running.shutdown(WAIT).await;
}

// ---------------------------------------------------------------------------
// Handler timeout
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_slower_than_the_timeout_is_retried_as_timed_out() {
    let bus = MemoryBus::new();
    let errors: Recorded<(u32, Option<String>)> = Arc::default();
    let e2 = Arc::clone(&errors);
    let router = Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, ctx: Context| {
        let e2 = Arc::clone(&e2);
        async move {
            lock(&e2).push((ctx.attempt, ctx.headers().get(headers::ERROR).cloned()));
            tokio::time::sleep(Duration::from_secs(60)).await;
            Outcome::Done
        }
    }));
    let running = start(
        Arc::new(bus.clone()),
        ConsumerGroup::new("t", "g", router)
            .handler_timeout(Duration::from_millis(100))
            .retry(RetryPolicy::fixed(2, Duration::from_millis(10))),
    )
    .await;
    bus.publish_one(test_message("t", "k", 1))
        .await
        .expect("publish");

    wait_until("dead-lettering after two timeouts", WAIT, || {
        running.stats().dead_lettered == 1
    })
    .await;
    let errors = lock(&errors).clone();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0], (1, None));
    let retry_error = errors[1].1.clone().unwrap_or_default();
    assert_eq!(errors[1].0, 2);
    assert!(
        retry_error.contains("timed out"),
        "error header: {retry_error}"
    );
    assert_eq!(running.stats().retried, 1);
    let dead = dead_letters(&bus, "t", "g").await;
    let reason = header(&dead[0], headers::DEAD_LETTER_REASON);
    assert!(
        reason.contains("gave up after 2 attempts") && reason.contains("timed out"),
        "reason: {reason}"
    );
    running.shutdown(WAIT).await;
}

// ---------------------------------------------------------------------------
// Payload limits
// ---------------------------------------------------------------------------

#[tokio::test]
async fn publish_over_max_payload_is_rejected_as_too_large() {
    let bus = MemoryBus::with_config(MemoryConfig {
        max_payload: 1024,
        ..Default::default()
    });
    assert_eq!(bus.capabilities().max_payload, 1024);
    let mut sub = bus
        .subscribe("t", "g", SubscribeOptions::default())
        .await
        .expect("subscribe");

    let err = bus
        .publish_one(Message::new("t", vec![b'x'; 1025]))
        .await
        .expect_err("a payload over the limit must be refused");
    assert!(
        matches!(
            err,
            Error::TooLarge {
                size: 1025,
                limit: 1024
            }
        ),
        "error: {err:?}"
    );
    assert_eq!(bus.group_len("t", "g"), Some(0), "nothing was enqueued");

    let fits = Message::new("t", vec![b'x'; 1024]);
    bus.publish_one(fits.clone())
        .await
        .expect("exactly the limit fits");
    let d = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("delivery in time")
        .expect("open")
        .expect("delivery");
    assert_eq!(d.message.id, fits.id);
    d.ack().await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_over_the_transports_max_payload_is_dead_lettered_unhandled() {
    let bus = MemoryBus::new();
    let queue = Arc::new(ReportedLimit::new(Arc::new(bus.clone()), 1024));
    let calls = Arc::new(AtomicUsize::new(0));
    let running = start(queue, ConsumerGroup::new("t", "g", counting_router(&calls))).await;
    let big = Message::new("t", vec![b' '; 2000]);
    bus.publish(vec![big.clone(), test_message("t", "k", 1)])
        .await
        .expect("publish");

    wait_until("big dead-lettered and small handled", WAIT, || {
        let s = running.stats();
        s.dead_lettered == 1 && s.done == 1
    })
    .await;
    assert_eq!(
        calls.load(SeqCst),
        1,
        "the handler never sees the big payload"
    );
    let dead = dead_letters(&bus, "t", "g").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, big.id);
    assert_eq!(dead[0].payload.len(), 2000);
    let reason = header(&dead[0], headers::DEAD_LETTER_REASON);
    assert!(
        reason.contains("2000 bytes") && reason.contains("limit of 1024 bytes"),
        "reason: {reason}"
    );
    running.shutdown(WAIT).await;
}

// ---------------------------------------------------------------------------
// Flat events
// ---------------------------------------------------------------------------

fn queue_joined(user: &str, position: i64) -> QueueJoined {
    // The envelope's timestamp is the only way to a `DateTime<Utc>` without
    // depending on chrono here.
    let now = Envelope::new(
        "a",
        "c",
        TestEvent {
            seq: 0,
            key: String::new(),
        },
    )
    .timestamp;
    QueueJoined {
        session_id: format!("session-{user}"),
        user_id: user.to_owned(),
        event_id: "concert-2024".to_owned(),
        position,
        joined_at: now,
        timestamp: now,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_event_is_routed_by_its_topic() {
    let bus = MemoryBus::new();
    let seen: Recorded<(QueueJoined, String, Option<String>)> = Arc::default();
    let s = Arc::clone(&seen);
    let envelope_calls = Arc::new(AtomicUsize::new(0));
    let router = counting_router(&envelope_calls).on_flat(handler_fn(
        move |e: QueueJoined, ctx: Context| {
            let s = Arc::clone(&s);
            async move {
                lock(&s).push((e, ctx.topic().to_owned(), ctx.key().map(str::to_owned)));
                Outcome::Done
            }
        },
    ));
    let running = start(
        Arc::new(bus.clone()),
        ConsumerGroup::new(topics::QUEUE_JOINED, "waitroom", router).workers(1),
    )
    .await;
    let first = queue_joined("u1", 1);
    let second = queue_joined("u2", 2);
    bus.publish(vec![
        Message::from_flat(topics::QUEUE_JOINED, &first).expect("encode"),
        Message::from_flat(topics::QUEUE_JOINED, &second).expect("encode"),
    ])
    .await
    .expect("publish");

    wait_until("both handled", WAIT, || running.stats().done == 2).await;
    let seen = lock(&seen).clone();
    let key = Some("concert-2024".to_owned());
    assert_eq!(
        seen,
        vec![
            (first, topics::QUEUE_JOINED.to_owned(), key.clone()),
            (second, topics::QUEUE_JOINED.to_owned(), key),
        ]
    );
    assert_eq!(envelope_calls.load(SeqCst), 0);
    running.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_flat_event_is_dead_lettered_with_its_type() {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let router = Router::new().on_flat(handler_fn(move |_e: QueueJoined, _ctx: Context| {
        let c = Arc::clone(&c);
        async move {
            c.fetch_add(1, SeqCst);
            Outcome::Done
        }
    }));
    let running = start(
        Arc::new(bus.clone()),
        ConsumerGroup::new(topics::QUEUE_JOINED, "waitroom", router),
    )
    .await;
    let bad = Message::new(topics::QUEUE_JOINED, r#"{"session_id":"s","user_id":"u"}"#);
    bus.publish(vec![
        bad.clone(),
        Message::from_flat(topics::QUEUE_JOINED, &queue_joined("u3", 3)).expect("encode"),
    ])
    .await
    .expect("publish");

    wait_until("bad dead-lettered and good handled", WAIT, || {
        let s = running.stats();
        s.dead_lettered == 1 && s.done == 1
    })
    .await;
    assert_eq!(calls.load(SeqCst), 1);
    let dead = dead_letters(&bus, topics::QUEUE_JOINED, "waitroom").await;
    assert_eq!(dead[0].id, bad.id);
    let reason = header(&dead[0], headers::DEAD_LETTER_REASON);
    assert!(
        reason.contains(&format!("malformed {} payload", topics::QUEUE_JOINED)),
        "reason: {reason}"
    );
    running.shutdown(WAIT).await;
}

// ---------------------------------------------------------------------------
// Worker pool concurrency
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_pool_of_three_runs_at_most_three_handlers_at_once() {
    let bus = MemoryBus::new();
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let workers_seen: Arc<Mutex<HashMap<usize, usize>>> = Arc::default();
    let (a, p, w) = (
        Arc::clone(&active),
        Arc::clone(&peak),
        Arc::clone(&workers_seen),
    );
    let router = Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, ctx: Context| {
        let (a, p, w) = (Arc::clone(&a), Arc::clone(&p), Arc::clone(&w));
        async move {
            let now = a.fetch_add(1, SeqCst) + 1;
            p.fetch_max(now, SeqCst);
            *lock(&w).entry(ctx.worker_id).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(40)).await;
            a.fetch_sub(1, SeqCst);
            Outcome::Done
        }
    }));
    let running = start(
        Arc::new(bus.clone()),
        ConsumerGroup::new("t", "g", router).workers(3),
    )
    .await;
    let total = 15;
    bus.publish(
        (0..total)
            .map(|i| test_message("t", &format!("k{i}"), i))
            .collect(),
    )
    .await
    .expect("publish");

    wait_until("all handled", WAIT, || running.stats().done == total).await;
    let peak = peak.load(SeqCst);
    assert!(peak <= 3, "{peak} handlers ran at once with 3 workers");
    assert!(peak >= 2, "handlers never overlapped (peak {peak})");
    let workers_seen = lock(&workers_seen).clone();
    assert!(
        workers_seen.keys().all(|id| *id < 3),
        "worker ids: {workers_seen:?}"
    );
    running.shutdown(WAIT).await;
}
