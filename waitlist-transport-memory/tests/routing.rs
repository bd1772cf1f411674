//! Routing by the type header: a type without a route is settled without
//! parsing the payload; messages without the header route by their JSON type.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use waitlist_core::conformance::wait_until;
use waitlist_core::runtime::ConsumerGroup;
use waitlist_core::{headers, Message};
use waitlist_transport_memory::MemoryBus;

use support::{counting_router, start_and_publish, test_message, WAIT};

fn test_event(topic: &str, with_header: bool) -> Message {
    let mut m = test_message(topic, "k", 1);
    if !with_header {
        m.headers.remove(headers::EVENT_TYPE);
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_the_type_header_and_skips_unrouted_types_unparsed() {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
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
    let messages = vec![test_event("t", true), foreign, test_event("t", false)];
    let group = ConsumerGroup::new("t", "g", counting_router(&calls));
    let running = start_and_publish(&bus, group, messages).await;
    wait_until("all three settled", WAIT, || {
        let s = running.stats();
        s.done + s.skipped >= 3
    })
    .await;
    let s = running.shutdown(WAIT).await.stats;
    assert_eq!((s.done, s.skipped, s.dead_lettered), (2, 1, 0), "{s:?}");
    assert_eq!(calls.load(SeqCst), 2, "with and without the header");
}
