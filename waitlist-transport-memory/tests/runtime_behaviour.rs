//! Behaviours of the consumer runtime (routing, outcomes, panics, timeouts,
//! payload limits, flat events, worker pool) over the memory bus, beyond
//! what the conformance suite already checks.

mod support;

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use waitlist_core::conformance::{wait_until, ReportedLimit};
use waitlist_core::events::{topics, Envelope, QueueJoined};
use waitlist_core::runtime::{
    handler_fn, ConsumerGroup, Context, Handler, Outcome, RetryPolicy, Router, RunningGroup,
    UnknownTypePolicy,
};
use waitlist_core::sync::lock;
use waitlist_core::{headers, Error, Message, Publisher, Queue, SubscribeOptions};
use waitlist_transport_memory::{MemoryBus, MemoryConfig};

use support::{
    assert_reason_contains, counting_router, dead_letters, header, publish, start,
    start_and_publish, test_envelope, test_message, test_router, wait_until_empty, Recorded, WAIT,
};

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

/// Waits until `running` has dead-lettered one message and handled another.
async fn wait_for_one_dead_letter_and_one_done(running: &RunningGroup) {
    wait_until("one dead-lettered and one done", WAIT, || {
        let s = running.stats();
        s.dead_lettered == 1 && s.done == 1
    })
    .await;
}

/// The only dead letter of `topic`/`group`.
async fn only_dead_letter(bus: &MemoryBus, topic: &str, group: &str) -> Message {
    let mut dead = dead_letters(bus, topic, group).await;
    assert_eq!(dead.len(), 1, "dead letters: {dead:?}");
    dead.remove(0)
}

// ---------------------------------------------------------------------------
// Envelope types without a route
// ---------------------------------------------------------------------------

/// Starts a group on `t`/`g` with `router`, then publishes an envelope of a
/// type without a route (`foreign-1`) and a routed `TestEvent`.
async fn run_foreign_then_routed(bus: &MemoryBus, router: Router) -> RunningGroup {
    let messages = vec![
        foreign_envelope("t", "foreign-1"),
        test_message("t", "k", 1),
    ];
    start_and_publish(bus, ConsumerGroup::new("t", "g", router), messages).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrouted_envelope_type_is_skipped_and_acked_by_default() {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let running = run_foreign_then_routed(&bus, counting_router(&calls)).await;

    wait_until("one skipped and one done", WAIT, || {
        let s = running.stats();
        s.skipped == 1 && s.done == 1
    })
    .await;
    wait_until_empty(&bus, "t", "g").await;
    let stats = running.stats();
    assert_eq!((stats.dead_lettered, stats.retried), (0, 0));
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
    let running = run_foreign_then_routed(&bus, router).await;

    wait_for_one_dead_letter_and_one_done(&running).await;
    assert_eq!(running.stats().skipped, 0);
    let dead = only_dead_letter(&bus, "t", "g").await;
    assert_eq!(dead.id, "foreign-1");
    assert_reason_contains(&dead, &["no handler for type", "billing.invoiced"]);
    assert_eq!(header(&dead, headers::DEAD_LETTER_ATTEMPTS), "1");
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
    let running = run_foreign_then_routed(&bus, router).await;

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

/// A group on `t`/`g` with one worker (if a panic killed it, nothing after
/// the panic would be handled) that tries a message `max_attempts` times.
fn one_worker_group(router: Router, max_attempts: u32) -> ConsumerGroup {
    ConsumerGroup::new("t", "g", router)
        .workers(1)
        .retry(RetryPolicy::fixed(max_attempts, Duration::from_millis(20)))
}

/// What the handler of the panic test saw.
#[derive(Debug, Default)]
struct Attempts {
    /// `(seq, attempt)` of every call.
    calls: Mutex<Vec<(u64, u32)>>,
    /// The error header of every retry.
    errors: Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_is_retried_and_the_worker_keeps_handling() {
    let bus = MemoryBus::new();
    let seen = Arc::new(Attempts::default());
    let router = test_router(&seen, |seen, e, ctx| async move {
        lock(&seen.calls).push((e.data.seq, ctx.attempt));
        if ctx.attempt > 1 {
            let error = ctx.headers().get(headers::ERROR).cloned();
            lock(&seen.errors).push(error.unwrap_or_default());
        }
        if e.data.seq == 0 && ctx.attempt == 1 {
            panic!("boom on the first attempt");
        }
        Outcome::Done
    });
    let messages = (0..3).map(|i| test_message("t", "k", i)).collect();
    let running = start_and_publish(&bus, one_worker_group(router, 3), messages).await;

    wait_until("all three handled", WAIT, || running.stats().done == 3).await;
    let mut calls = lock(&seen.calls).clone();
    calls.sort_unstable();
    assert_eq!(calls, vec![(0, 1), (0, 2), (1, 1), (2, 1)]);
    let errors = lock(&seen.errors).clone();
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
    let router = test_router(&calls, |calls, e, _ctx| async move {
        calls.fetch_add(1, SeqCst);
        if e.data.seq == 0 {
            panic!("poisoned event {}", e.data.seq);
        }
        Outcome::Done
    });
    let poison = test_message("t", "k", 0);
    let running = start_and_publish(&bus, one_worker_group(router, 2), vec![poison.clone()]).await;
    wait_until("dead-lettering", WAIT, || {
        running.stats().dead_lettered == 1
    })
    .await;
    assert_eq!(calls.load(SeqCst), 2, "one call per attempt");

    let dead = only_dead_letter(&bus, "t", "g").await;
    assert_eq!(dead.id, poison.id);
    assert_reason_contains(&dead, &["panicked", "poisoned event 0"]);
    assert_eq!(header(&dead, headers::DEAD_LETTER_ATTEMPTS), "2");

    // The single worker is still alive.
    publish(&bus, vec![test_message("t", "k", 1)]).await;
    wait_until("the next message handled", WAIT, || {
        running.stats().done == 1
    })
    .await;
    running.shutdown(WAIT).await;
}

// ---------------------------------------------------------------------------
// Explicit outcomes
// ---------------------------------------------------------------------------

/// What a handler recorded on each of its calls, asserting there were two.
fn two_calls<T: Clone>(recorded: &Recorded<T>) -> [T; 2] {
    let calls = lock(recorded).clone();
    <[T; 2]>::try_from(calls).unwrap_or_else(|calls| panic!("{} calls, not 2", calls.len()))
}

/// One `TestEvent` published to a group on `t`/`g` whose handler returns
/// the same outcome on every attempt and counts its calls.
struct Returning {
    bus: MemoryBus,
    running: RunningGroup,
    calls: Arc<AtomicUsize>,
    msg: Message,
}

impl Returning {
    /// Publishes the message; it gets `max_attempts` attempts, without delay.
    async fn publish(outcome: Outcome, max_attempts: u32) -> Self {
        let bus = MemoryBus::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let router = test_router(&calls, move |calls, _e, _ctx| {
            let outcome = outcome.clone();
            async move {
                calls.fetch_add(1, SeqCst);
                outcome
            }
        });
        let retry = RetryPolicy::fixed(max_attempts, Duration::ZERO);
        let msg = test_message("t", "k", 1);
        let group = ConsumerGroup::new("t", "g", router).retry(retry);
        let running = start_and_publish(&bus, group, vec![msg.clone()]).await;
        Self {
            bus,
            running,
            calls,
            msg,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_outcome_acks_and_nothing_is_redelivered() {
    let t = Returning::publish(Outcome::skip("session not found"), 3).await;

    wait_until("skipped", WAIT, || t.running.stats().skipped == 1).await;
    // Held nothing means nothing queued, delayed or in flight: no redelivery.
    wait_until_empty(&t.bus, "t", "g").await;
    assert_eq!(t.calls.load(SeqCst), 1);
    let stats = t.running.stats();
    assert_eq!((stats.done, stats.retried, stats.dead_lettered), (0, 0, 0));
    assert!(dead_letters(&t.bus, "t", "g").await.is_empty());
    t.running.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_outcome_goes_to_the_dlq_on_the_first_attempt() {
    let t = Returning::publish(Outcome::dead_letter("invalid campaign"), 5).await;

    wait_until("dead-lettered", WAIT, || {
        t.running.stats().dead_lettered == 1
    })
    .await;
    assert_eq!(t.calls.load(SeqCst), 1, "no retry before dead-lettering");
    assert_eq!(t.running.stats().retried, 0);
    let dead = only_dead_letter(&t.bus, "t", "g").await;
    assert_eq!(dead.id, t.msg.id);
    assert_eq!(
        header(&dead, headers::DEAD_LETTER_REASON),
        "invalid campaign"
    );
    assert_eq!(header(&dead, headers::DEAD_LETTER_ATTEMPTS), "1");
    assert_eq!(t.bus.group_len("t", "g"), Some(0));
    t.running.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_waits_at_least_the_given_delay_instead_of_the_policy() {
    let bus = MemoryBus::new();
    let after = Duration::from_millis(300);
    let attempts: Recorded<(u32, Instant)> = Arc::default();
    let router = test_router(&attempts, move |attempts, _e, ctx| async move {
        lock(&attempts).push((ctx.attempt, Instant::now()));
        if ctx.attempt == 1 {
            Outcome::retry_after(after, "rate limited")
        } else {
            Outcome::Done
        }
    });
    // The policy's own delay is far longer than the test may take.
    let group =
        ConsumerGroup::new("t", "g", router).retry(RetryPolicy::fixed(3, Duration::from_secs(60)));
    let running = start_and_publish(&bus, group, vec![test_message("t", "k", 1)]).await;

    wait_until("the second attempt handled", WAIT, || {
        running.stats().done == 1
    })
    .await;
    let [first, second] = two_calls(&attempts);
    assert_eq!((first.0, second.0), (1, 2));
    let gap = second.1 - first.1;
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
    let router = test_router(&errors, |errors, _e, ctx| async move {
        lock(&errors).push((ctx.attempt, ctx.headers().get(headers::ERROR).cloned()));
        tokio::time::sleep(Duration::from_secs(60)).await;
        Outcome::Done
    });
    let group = ConsumerGroup::new("t", "g", router)
        .handler_timeout(Duration::from_millis(100))
        .retry(RetryPolicy::fixed(2, Duration::from_millis(10)));
    let running = start_and_publish(&bus, group, vec![test_message("t", "k", 1)]).await;

    wait_until("dead-lettering after two timeouts", WAIT, || {
        running.stats().dead_lettered == 1
    })
    .await;
    let [first, second] = two_calls(&errors);
    assert_eq!(first, (1, None));
    assert_eq!(second.0, 2);
    let retry_error = second.1.unwrap_or_default();
    assert!(
        retry_error.contains("timed out"),
        "error header: {retry_error}"
    );
    assert_eq!(running.stats().retried, 1);
    let dead = dead_letters(&bus, "t", "g").await;
    assert_reason_contains(&dead[0], &["gave up after 2 attempts", "timed out"]);
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
    publish(&bus, vec![big.clone(), test_message("t", "k", 1)]).await;

    wait_for_one_dead_letter_and_one_done(&running).await;
    assert_eq!(
        calls.load(SeqCst),
        1,
        "the handler never sees the big payload"
    );
    let dead = only_dead_letter(&bus, "t", "g").await;
    assert_eq!(dead.id, big.id);
    assert_eq!(dead.payload.len(), 2000);
    assert_reason_contains(&dead, &["2000 bytes", "limit of 1024 bytes"]);
    running.shutdown(WAIT).await;
}

// ---------------------------------------------------------------------------
// Flat events
// ---------------------------------------------------------------------------

fn queue_joined(user: &str, position: i64) -> QueueJoined {
    // The envelope's timestamp is the only way to a `DateTime<Utc>` without
    // depending on chrono here.
    let now = test_envelope("c", 0).timestamp;
    QueueJoined {
        session_id: format!("session-{user}"),
        user_id: user.to_owned(),
        event_id: "concert-2024".to_owned(),
        position,
        joined_at: now,
        timestamp: now,
    }
}

fn flat(event: &QueueJoined) -> Message {
    Message::from_flat(topics::QUEUE_JOINED, event).expect("encode")
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
    let group = ConsumerGroup::new(topics::QUEUE_JOINED, "waitroom", router).workers(1);
    let first = queue_joined("u1", 1);
    let second = queue_joined("u2", 2);
    let running = start_and_publish(&bus, group, vec![flat(&first), flat(&second)]).await;

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
        c.fetch_add(1, SeqCst);
        async { Outcome::Done }
    }));
    let group = ConsumerGroup::new(topics::QUEUE_JOINED, "waitroom", router);
    let bad = Message::new(topics::QUEUE_JOINED, r#"{"session_id":"s","user_id":"u"}"#);
    let messages = vec![bad.clone(), flat(&queue_joined("u3", 3))];
    let running = start_and_publish(&bus, group, messages).await;

    wait_for_one_dead_letter_and_one_done(&running).await;
    assert_eq!(calls.load(SeqCst), 1);
    let dead = dead_letters(&bus, topics::QUEUE_JOINED, "waitroom").await;
    assert_eq!(dead[0].id, bad.id);
    let malformed = format!("malformed {} payload", topics::QUEUE_JOINED);
    assert_reason_contains(&dead[0], &[&malformed]);
    running.shutdown(WAIT).await;
}

// ---------------------------------------------------------------------------
// Worker pool concurrency
// ---------------------------------------------------------------------------

/// How many handlers run at the moment, the most that ever ran at once, and
/// how many deliveries each worker handled.
#[derive(Debug, Default)]
struct Concurrency {
    active: AtomicUsize,
    peak: AtomicUsize,
    per_worker: Mutex<HashMap<usize, usize>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_pool_of_three_runs_at_most_three_handlers_at_once() {
    let bus = MemoryBus::new();
    let seen = Arc::new(Concurrency::default());
    let router = test_router(&seen, |seen, _e, ctx| async move {
        let now = seen.active.fetch_add(1, SeqCst) + 1;
        seen.peak.fetch_max(now, SeqCst);
        *lock(&seen.per_worker).entry(ctx.worker_id).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
        seen.active.fetch_sub(1, SeqCst);
        Outcome::Done
    });
    let total = 15;
    let messages = (0..total).map(|i| test_message("t", &format!("k{i}"), i));
    let group = ConsumerGroup::new("t", "g", router).workers(3);
    let running = start_and_publish(&bus, group, messages.collect()).await;

    wait_until("all handled", WAIT, || running.stats().done == total).await;
    let peak = seen.peak.load(SeqCst);
    assert!(peak <= 3, "{peak} handlers ran at once with 3 workers");
    assert!(peak >= 2, "handlers never overlapped (peak {peak})");
    let workers_seen = lock(&seen.per_worker).clone();
    assert!(
        workers_seen.keys().all(|id| *id < 3),
        "worker ids: {workers_seen:?}"
    );
    running.shutdown(WAIT).await;
}
