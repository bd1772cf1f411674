//! Middleware: a layer written by a user wraps every handler of a group;
//! the runtime's own layers still contain panics; the rate limit layer
//! spaces handler calls.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use waitlist_core::conformance::{wait_until, TestEvent};
use waitlist_core::events::{Envelope, UserSignedUp};
use waitlist_core::runtime::{
    handler_fn, ConsumerGroup, Context, Layer, Next, Outcome, RateLimit, Router,
};
use waitlist_core::sync::lock;
use waitlist_core::Message;
use waitlist_transport_memory::MemoryBus;

use support::{
    assert_a_first_attempt_panic_is_retried, start_and_publish, test_message, test_router, Recorded,
};

const WAIT: Duration = Duration::from_secs(10);

/// Records the event type and attempt of every delivery it wraps.
#[derive(Debug, Default)]
struct Recording {
    seen: Mutex<Vec<(String, u32)>>,
}

#[derive(Debug)]
struct RecordingLayer(Arc<Recording>);

#[async_trait]
impl Layer for RecordingLayer {
    async fn call(&self, ctx: &Context, next: Next<'_>) -> Outcome {
        lock(&self.0.seen).push((ctx.event_type.to_string(), ctx.attempt));
        next.run(ctx).await
    }
}

fn signed_up(topic: &str) -> Message {
    let data = UserSignedUp {
        user_id: "u".into(),
        campaign_id: "c".into(),
        email: "u@example.com".into(),
    };
    Message::from_envelope(topic, &Envelope::new("a", "c", data)).expect("encode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_layer_wraps_every_handler_of_the_group() {
    let bus = MemoryBus::new();
    let handled = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (Arc::clone(&handled), Arc::clone(&handled));
    let router = Router::new()
        .on(handler_fn(move |_e: Envelope<TestEvent>, _: Context| {
            h1.fetch_add(1, SeqCst);
            async { Outcome::Done }
        }))
        .on(handler_fn(move |_e: Envelope<UserSignedUp>, _: Context| {
            h2.fetch_add(1, SeqCst);
            async { Outcome::Done }
        }));
    let recording = Arc::new(Recording::default());
    let group = ConsumerGroup::new("t", "g", router).layer(RecordingLayer(Arc::clone(&recording)));
    let unrouted =
        Message::new("t", "{}").with_header(waitlist_core::headers::EVENT_TYPE, "other.type");
    let messages = vec![
        test_message("t", "k", 1),
        signed_up("t"),
        test_message("t", "k", 2),
        unrouted,
    ];
    let running = start_and_publish(&bus, group, messages).await;
    wait_until("all four settled", WAIT, || {
        let s = running.stats();
        s.done + s.skipped == 4
    })
    .await;
    let s = running.shutdown(WAIT).await.stats;
    assert_eq!((s.done, s.skipped, s.unrouted), (3, 1, 1), "{s:?}");
    assert_eq!(handled.load(SeqCst), 3);
    let mut types: Vec<String> = lock(&recording.seen)
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "conformance.test",
            "conformance.test",
            "unknown",
            "user.signed_up"
        ],
        "the layer sees every delivery, routed or not, with its type"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_under_a_user_layer_is_contained_counted_and_retried() {
    let recording = Arc::new(Recording::default());
    let layer = RecordingLayer(Arc::clone(&recording));
    assert_a_first_attempt_panic_is_retried(|group| group.layer(layer)).await;
    let attempts: Vec<u32> = lock(&recording.seen).iter().map(|(_, a)| *a).collect();
    assert_eq!(attempts, [1, 2], "the user layer wrapped both attempts");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_rate_limit_layer_spaces_handler_calls() {
    let bus = MemoryBus::new();
    let at: Recorded<tokio::time::Instant> = Arc::default();
    let router = test_router(&at, |at, _e, _ctx| async move {
        lock(&at).push(tokio::time::Instant::now());
        Outcome::Done
    });
    let group = ConsumerGroup::new("t", "g", router)
        .workers(4)
        .layer(RateLimit::per_second(10, 2));
    let messages = (0..22).map(|i| test_message("t", "k", i)).collect();
    let running = start_and_publish(&bus, group, messages).await;
    wait_until("all handled", Duration::from_secs(60), || {
        running.stats().done == 22
    })
    .await;
    running.shutdown(WAIT).await;
    let at = lock(&at).clone();
    let span = *at.last().expect("calls") - at[0];
    // A burst of 2, then 10 per second: 20 more calls take about 2 s.
    assert!(
        span >= Duration::from_millis(1900) && span <= Duration::from_millis(2600),
        "22 calls took {span:?} of (virtual) time"
    );
}
