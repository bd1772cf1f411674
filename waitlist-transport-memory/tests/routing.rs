//! Routing by the type header: a type without a route is settled without
//! parsing the payload; messages without the header route by their JSON type.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use waitlist_core::conformance::TestEvent;
use waitlist_core::events::Envelope;
use waitlist_core::runtime::{handler_fn, ConsumerGroup, Context, Outcome, Router};
use waitlist_core::{headers, Message, Publisher};
use waitlist_transport_memory::MemoryBus;

fn test_event(topic: &str, with_header: bool) -> Message {
    let env = Envelope::new(
        "a",
        "k",
        TestEvent {
            seq: 1,
            key: "k".into(),
        },
    );
    let mut m = Message::from_envelope(topic, &env).expect("encode");
    if !with_header {
        m.headers.remove(headers::EVENT_TYPE);
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_the_type_header_and_skips_unrouted_types_unparsed() {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let router = Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, _: Context| {
        c.fetch_add(1, SeqCst);
        async { Outcome::Done }
    }));
    let running = ConsumerGroup::new("t", "g", router)
        .start(Arc::new(bus.clone()))
        .await
        .expect("start");
    assert!(
        test_event("t", true)
            .headers
            .contains_key(headers::EVENT_TYPE),
        "the SDK's publishers write the type header"
    );
    // Not JSON at all, but its header names a type this group has no route
    // for: skipped, so the payload was never parsed (parsing would dead-letter it).
    let foreign =
        Message::new("t", "\u{0}not json").with_header(headers::EVENT_TYPE, "billing.invoiced");
    bus.publish(vec![test_event("t", true), foreign, test_event("t", false)])
        .await
        .expect("publish");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while running.stats().done + running.stats().skipped < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            running.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let s = running.shutdown(Duration::from_secs(5)).await.stats;
    assert_eq!((s.done, s.skipped, s.dead_lettered), (2, 1, 0), "{s:?}");
    assert_eq!(calls.load(SeqCst), 2, "with and without the header");
}
