//! Pieces shared by the memory bus's runtime tests: the test event, routers
//! over it, and starting, feeding and inspecting a consumer group.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waitlist_core::conformance::{wait_until, TestEvent};
use waitlist_core::events::Envelope;
use waitlist_core::runtime::{
    handler_fn, ConsumerGroup, Context, Outcome, RetryPolicy, Router, RunningGroup,
};
use waitlist_core::{headers, Message, Publisher, Queue};
use waitlist_transport_memory::MemoryBus;

/// Longest wait for a condition that should hold almost at once.
pub const WAIT: Duration = Duration::from_secs(5);

/// What a handler records, shared with the test.
pub type Recorded<T> = Arc<Mutex<Vec<T>>>;

/// A [`TestEvent`] envelope keyed by `key`.
pub fn test_envelope(key: &str, seq: u64) -> Envelope<TestEvent> {
    let event = TestEvent {
        seq,
        key: key.to_owned(),
    };
    Envelope::new("account", key, event)
}

/// An enveloped [`TestEvent`] on `topic`, keyed by `key`.
pub fn test_message(topic: &str, key: &str, seq: u64) -> Message {
    Message::from_envelope(topic, &test_envelope(key, seq)).expect("encode test event")
}

/// A router whose [`TestEvent`] handler is `handle`, given its own clone of
/// `state` on every call.
pub fn test_router<S, F, Fut>(state: &Arc<S>, handle: F) -> Router
where
    S: ?Sized + Send + Sync + 'static,
    F: Fn(Arc<S>, Envelope<TestEvent>, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let state = Arc::clone(state);
    Router::new().on(handler_fn(move |e: Envelope<TestEvent>, ctx: Context| {
        handle(Arc::clone(&state), e, ctx)
    }))
}

/// A router whose [`TestEvent`] handler counts its calls and returns `Done`.
pub fn counting_router(calls: &Arc<AtomicUsize>) -> Router {
    test_router(calls, |calls, _e, _ctx| async move {
        calls.fetch_add(1, SeqCst);
        Outcome::Done
    })
}

pub async fn start(queue: Arc<dyn Queue>, group: ConsumerGroup) -> RunningGroup {
    group.start(queue).await.expect("start consumer group")
}

/// Starts `group` on `bus`.
pub async fn start_on(bus: &MemoryBus, group: ConsumerGroup) -> RunningGroup {
    start(Arc::new(bus.clone()), group).await
}

pub async fn publish(bus: &MemoryBus, messages: Vec<Message>) {
    bus.publish(messages).await.expect("publish");
}

/// Starts `group` on `bus`, then publishes `messages`.
pub async fn start_and_publish(
    bus: &MemoryBus,
    group: ConsumerGroup,
    messages: Vec<Message>,
) -> RunningGroup {
    let running = start_on(bus, group).await;
    publish(bus, messages).await;
    running
}

/// Waits until the group `topic`/`group` of `bus` holds nothing: nothing
/// queued, delayed or in flight.
pub async fn wait_until_empty(bus: &MemoryBus, topic: &str, group: &str) {
    wait_until("the group to hold nothing", WAIT, || {
        bus.group_len(topic, group) == Some(0)
    })
    .await;
}

pub async fn dead_letters(bus: &MemoryBus, topic: &str, group: &str) -> Vec<Message> {
    let dlq = bus.dead_letters(topic, group).await.expect("dead_letters");
    dlq.list(100).await.expect("list dead letters")
}

pub fn header(m: &Message, name: &str) -> String {
    m.headers.get(name).cloned().unwrap_or_default()
}

/// Asserts that the dead-letter reason of `dead` contains every one of `parts`.
pub fn assert_reason_contains(dead: &Message, parts: &[&str]) {
    let reason = header(dead, headers::DEAD_LETTER_REASON);
    assert!(
        parts.iter().all(|part| reason.contains(part)),
        "reason: {reason}"
    );
}

/// Publishes one [`TestEvent`] to a group on `t`/`g` (retrying after 10 ms,
/// and shaped further by `configure`) whose handler panics on its first
/// call: the panic is contained, counted and retried.
pub async fn assert_a_first_attempt_panic_is_retried(
    configure: impl FnOnce(ConsumerGroup) -> ConsumerGroup,
) {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let router = test_router(&calls, |calls, _e, _ctx| {
        let first = calls.fetch_add(1, SeqCst) == 0;
        async move {
            assert!(!first, "injected panic on the first attempt");
            Outcome::Done
        }
    });
    let group = ConsumerGroup::new("t", "g", router)
        .retry(RetryPolicy::fixed(3, Duration::from_millis(10)));
    let running = start_and_publish(&bus, configure(group), vec![test_message("t", "k", 1)]).await;
    wait_until("handled after the panic", WAIT, || {
        running.stats().done == 1
    })
    .await;
    let s = running.shutdown(WAIT).await.stats;
    assert_eq!((s.panics, s.retried, s.done), (1, 1, 1), "{s:?}");
}
