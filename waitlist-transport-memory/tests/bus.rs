//! Behaviours specific to the memory bus: capacity and publish timeout,
//! backlog of topics without groups, per-key hand-out across members, closed
//! handles, dead-letter lookup and partitions.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use waitlist_core::transport::OrderingGuarantee;
use waitlist_core::{Delivery, Error, Message, Publisher, Queue, SubscribeOptions, Subscription};
use waitlist_transport_memory::{MemoryBus, MemoryConfig};

/// Longest wait for something that should happen almost at once.
const WAIT: Duration = Duration::from_secs(5);
/// How long to wait to be confident that nothing arrives.
const QUIET: Duration = Duration::from_millis(150);

fn bus_with(capacity: usize, publish_timeout: Duration) -> MemoryBus {
    MemoryBus::with_config(MemoryConfig {
        capacity,
        publish_timeout,
        ..Default::default()
    })
}

async fn subscribe(bus: &MemoryBus, topic: &str, group: &str) -> Box<dyn Subscription> {
    bus.subscribe(topic, group, SubscribeOptions::default())
        .await
        .expect("subscribe")
}

async fn recv(sub: &mut Box<dyn Subscription>) -> Delivery {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a delivery in time")
        .expect("subscription open")
        .expect("delivery")
}

async fn try_recv(sub: &mut Box<dyn Subscription>) -> Option<Delivery> {
    match tokio::time::timeout(QUIET, sub.next()).await {
        Ok(Some(Ok(d))) => Some(d),
        Ok(Some(Err(e))) => panic!("subscription error: {e}"),
        Ok(None) | Err(_) => None,
    }
}

/// Receives the next delivery, acks it and returns its id.
async fn ack_next(sub: &mut Box<dyn Subscription>) -> String {
    let d = recv(sub).await;
    let id = d.message.id.clone();
    d.ack().await.expect("ack");
    id
}

/// The ids of the next `n` deliveries, each acked.
async fn ack_ids(sub: &mut Box<dyn Subscription>, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(ack_next(sub).await);
    }
    ids
}

fn msg(topic: &str, n: usize) -> Message {
    Message::new(topic, format!("{{\"n\":{n}}}")).with_id(format!("m{n}"))
}

/// Publishes `msg("t", n)` for every `n` of `numbers` in one call.
async fn publish_numbered(bus: &MemoryBus, numbers: Range<usize>, what: &str) {
    bus.publish(numbers.map(|n| msg("t", n)).collect())
        .await
        .expect(what);
}

/// Publishes `msg("t", n)` from a task of its own, as it may have to wait.
fn spawn_publish(bus: &MemoryBus, n: usize) -> JoinHandle<waitlist_core::Result<()>> {
    let publisher = bus.clone();
    tokio::spawn(async move { publisher.publish_one(msg("t", n)).await })
}

/// Asserts that the publish of `waiting` is still waiting after [`QUIET`].
async fn assert_still_waits(waiting: &mut JoinHandle<waitlist_core::Result<()>>, why: &str) {
    assert!(tokio::time::timeout(QUIET, waiting).await.is_err(), "{why}");
}

/// Asserts that the publish of `waiting` succeeds within [`WAIT`].
async fn assert_completes(waiting: JoinHandle<waitlist_core::Result<()>>, what: &str) {
    tokio::time::timeout(WAIT, waiting)
        .await
        .expect(what)
        .expect("task")
        .expect("publish succeeds");
}

// ---------------------------------------------------------------------------
// Capacity and publish timeout
// ---------------------------------------------------------------------------

#[tokio::test]
async fn full_group_makes_publish_wait_then_time_out() {
    let timeout = Duration::from_millis(200);
    let bus = bus_with(3, timeout);
    let _sub = subscribe(&bus, "t", "g").await;
    publish_numbered(&bus, 0..3, "three fit").await;
    assert_eq!(bus.group_len("t", "g"), Some(3));

    let started = Instant::now();
    let err = bus
        .publish_one(msg("t", 3))
        .await
        .expect_err("a fourth does not fit");
    let waited = started.elapsed();
    assert!(
        matches!(err, Error::Timeout(d) if d == timeout),
        "error: {err:?}"
    );
    assert!(
        waited >= timeout,
        "gave up after {waited:?}, before {timeout:?}"
    );
    assert!(waited < WAIT, "waited {waited:?}");
    assert_eq!(bus.group_len("t", "g"), Some(3), "nothing was added");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_into_full_group_succeeds_once_a_delivery_is_acked() {
    let bus = bus_with(3, WAIT);
    let mut sub = subscribe(&bus, "t", "g").await;
    publish_numbered(&bus, 0..3, "three fit").await;

    let mut waiting = spawn_publish(&bus, 3);
    assert_still_waits(&mut waiting, "publish into a full group must wait").await;

    // A nack keeps the message in the group: still no space.
    let first = recv(&mut sub).await;
    first.nack(None, Default::default()).await.expect("nack");
    assert_still_waits(&mut waiting, "a nack must not free space").await;

    let again = recv(&mut sub).await;
    assert_eq!((again.message.id.as_str(), again.attempt), ("m0", 2));
    again.ack().await.expect("ack");
    assert_completes(waiting, "publish resumes after the ack").await;

    assert_eq!(ack_ids(&mut sub, 3).await, ["m1", "m2", "m3"]);
    assert_eq!(bus.group_len("t", "g"), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_peak_len_never_exceeds_capacity_with_fast_producer_and_slow_consumer() {
    let capacity = 5;
    let total = 60;
    let bus = bus_with(capacity, WAIT);
    let mut sub = subscribe(&bus, "t", "g").await;
    let producer = bus.clone();
    let produce = tokio::spawn(async move {
        for n in 0..total {
            producer.publish_one(msg("t", n)).await.expect("publish");
        }
    });

    let mut received = Vec::new();
    while received.len() < total {
        let d = recv(&mut sub).await;
        let len = bus.group_len("t", "g").expect("group");
        assert!(
            len <= capacity,
            "group holds {len} with capacity {capacity}"
        );
        received.push(d.message.id.clone());
        tokio::time::sleep(Duration::from_millis(2)).await;
        d.ack().await.expect("ack");
    }
    produce.await.expect("producer");

    let expected: Vec<String> = (0..total).map(|n| format!("m{n}")).collect();
    assert_eq!(received, expected, "every message, in publish order");
    let peak = bus.group_peak_len("t", "g").expect("group");
    assert!(peak <= capacity, "peak {peak} over capacity {capacity}");
    assert_eq!(peak, capacity, "the producer was never held back");
    assert_eq!(bus.group_len("t", "g"), Some(0));
}

// ---------------------------------------------------------------------------
// Topics without groups
// ---------------------------------------------------------------------------

#[tokio::test]
async fn messages_published_before_any_group_go_to_the_first_group_only() {
    let bus = MemoryBus::new();
    publish_numbered(&bus, 0..3, "publish without any group").await;
    assert_eq!(bus.group_len("t", "first"), None, "no group yet");

    let mut first = subscribe(&bus, "t", "first").await;
    assert_eq!(bus.group_len("t", "first"), Some(3));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let d = recv(&mut first).await;
        assert_eq!(d.attempt, 1);
        ids.push(d.message.id.clone());
        d.ack().await.expect("ack");
    }
    assert_eq!(ids, ["m0", "m1", "m2"]);

    let mut second = subscribe(&bus, "t", "second").await;
    assert!(
        try_recv(&mut second).await.is_none(),
        "the backlog goes to the first group only"
    );
    bus.publish_one(msg("t", 3)).await.expect("publish");
    assert_eq!(recv(&mut first).await.message.id, "m3");
    assert_eq!(recv(&mut second).await.message.id, "m3");
}

/// A publisher waiting for space in the backlog of a topic without groups
/// must not lose its message when the first group subscribes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_blocked_on_full_backlog_does_not_lose_its_message() {
    let bus = bus_with(3, WAIT);
    publish_numbered(&bus, 0..3, "backlog of three").await;
    let mut waiting = spawn_publish(&bus, 3);
    assert_still_waits(&mut waiting, "the backlog is full: the publish waits").await;

    // The new group takes the full backlog; the waiting publish moves over
    // to it and completes once the consumer makes room.
    let mut sub = subscribe(&bus, "t", "g").await;
    let mut ids = HashSet::new();
    while let Some(d) = try_recv(&mut sub).await {
        ids.insert(d.message.id.clone());
        d.ack().await.expect("ack");
    }
    assert_completes(waiting, "publish resumes").await;
    assert!(
        ids.contains("m3"),
        "m3 was published successfully but never delivered (got {ids:?})"
    );
}

// ---------------------------------------------------------------------------
// Per-key hand-out
// ---------------------------------------------------------------------------

fn keyed(topic: &str, key: &str, n: usize) -> Message {
    Message::new(topic, "{}")
        .with_id(format!("{key}{n}"))
        .with_key(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_members_never_hold_two_deliveries_of_one_key_while_other_keys_flow() {
    let bus = MemoryBus::new();
    let options = SubscribeOptions::new(OrderingGuarantee::PerKey, 4);
    let mut m1 = bus.subscribe("t", "g", options.clone()).await.expect("m1");
    let mut m2 = bus.subscribe("t", "g", options).await.expect("m2");
    bus.publish(vec![
        keyed("t", "a", 1),
        keyed("t", "a", 2),
        keyed("t", "a", 3),
        keyed("t", "b", 1),
        keyed("t", "b", 2),
    ])
    .await
    .expect("publish");

    // m1 holds a1; m2 gets the other key, never a2.
    let a1 = recv(&mut m1).await;
    assert_eq!(a1.message.id, "a1");
    assert_eq!(ack_ids(&mut m2, 2).await, ["b1", "b2"]);

    // A key published while "a" is held flows too.
    bus.publish_one(keyed("t", "c", 1)).await.expect("publish");
    assert_eq!(ack_next(&mut m2).await, "c1");

    // Only "a" is left, and a1 is held: neither member gets anything.
    assert!(
        try_recv(&mut m2).await.is_none(),
        "a2 handed out while a1 is held"
    );
    assert!(
        try_recv(&mut m1).await.is_none(),
        "a2 handed out while a1 is held"
    );

    // Releasing a1 (a nack counts too) lets the key go on, in order.
    a1.nack(None, Default::default()).await.expect("nack");
    let again = recv(&mut m2).await;
    assert_eq!((again.message.id.as_str(), again.attempt), ("a1", 2));
    assert!(
        try_recv(&mut m1).await.is_none(),
        "a2 handed out while a1 is held"
    );
    again.ack().await.expect("ack");
    assert_eq!(ack_next(&mut m1).await, "a2");
    assert_eq!(ack_next(&mut m2).await, "a3");
    assert_eq!(bus.group_len("t", "g"), Some(0));
}

// ---------------------------------------------------------------------------
// Handles, dead letters, partitions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn closed_handle_refuses_publishes_but_other_handles_still_publish() {
    let bus = MemoryBus::new();
    let mut sub = subscribe(&bus, "t", "g").await;
    let closing = bus.handle();
    let clone_of_closing = closing.clone();
    let other = bus.handle();
    closing.close().await.expect("close");

    for (name, h) in [
        ("closed handle", &closing),
        ("its clone", &clone_of_closing),
    ] {
        let err = h.publish_one(msg("t", 0)).await.expect_err(name);
        assert!(matches!(err, Error::Closed), "{name}: {err:?}");
    }
    other.publish_one(msg("t", 1)).await.expect("other handle");
    bus.publish_one(msg("t", 2)).await.expect("original handle");

    assert_eq!(ack_ids(&mut sub, 2).await, ["m1", "m2"]);
    assert!(
        try_recv(&mut sub).await.is_none(),
        "the refused publish arrived"
    );
}

#[tokio::test]
async fn dead_letters_of_an_unknown_group_is_not_found() {
    let bus = MemoryBus::new();
    let _sub = subscribe(&bus, "t", "known").await;
    for (topic, group) in [("t", "unknown"), ("other-topic", "known")] {
        let err = bus
            .dead_letters(topic, group)
            .await
            .expect_err("no such group");
        match err {
            Error::NotFound(what) => assert!(what.contains(group), "{what}"),
            other => panic!("expected NotFound for {topic}/{group}, got {other:?}"),
        }
    }
    let dlq = bus.dead_letters("t", "known").await.expect("known group");
    assert!(dlq.list(10).await.expect("list").is_empty());
}

#[tokio::test]
async fn partitions_are_stable_per_key_and_within_range() {
    let partitions = 4;
    let config = MemoryConfig {
        partitions,
        ..Default::default()
    };
    let bus = MemoryBus::with_config(config.clone());
    let other_bus = MemoryBus::with_config(config);
    let mut sub = subscribe(&bus, "t", "g").await;
    let mut other_sub = subscribe(&other_bus, "t", "g").await;
    let keys: Vec<String> = (0..40).map(|i| format!("campaign-{i}")).collect();
    let round: Vec<Message> = keys
        .iter()
        .map(|k| Message::new("t", "{}").with_key(k.clone()))
        .collect();
    // Every key twice on one bus, once on another bus of the same shape.
    bus.publish(round.clone()).await.expect("publish");
    bus.publish(round.clone()).await.expect("publish");
    other_bus.publish(round).await.expect("publish");
    bus.publish_one(Message::new("t", "{}"))
        .await
        .expect("publish");

    let mut seen: HashMap<String, i32> = HashMap::new();
    for _ in 0..keys.len() * 2 {
        let d = recv(&mut sub).await;
        let key = d.message.key.clone().expect("keyed");
        let p = d.partition.expect("the memory bus reports partitions");
        assert!(
            (0..partitions as i32).contains(&p),
            "partition {p} out of 0..{partitions}"
        );
        if let Some(before) = seen.insert(key.clone(), p) {
            assert_eq!(before, p, "partition of {key} changed");
        }
        d.ack().await.expect("ack");
    }
    for _ in 0..keys.len() {
        let d = recv(&mut other_sub).await;
        let key = d.message.key.clone().expect("keyed");
        assert_eq!(
            Some(&d.partition.expect("partition")),
            seen.get(&key),
            "{key} hashed differently on another bus"
        );
    }
    let distinct: HashSet<i32> = seen.values().copied().collect();
    assert!(
        distinct.len() > 1,
        "40 keys all on one partition: {distinct:?}"
    );

    let unkeyed = recv(&mut sub).await;
    assert_eq!(unkeyed.message.key, None);
    assert_eq!(unkeyed.partition, Some(0), "messages without a key go to 0");
}

// ---------------------------------------------------------------------------
// Dead-letter replay and capacity
// ---------------------------------------------------------------------------

/// Replaying dead letters into a full group must respect its capacity, or at
/// least show up in its peak.
#[tokio::test]
async fn replay_into_a_full_group_stays_within_capacity() {
    let bus = bus_with(3, Duration::from_millis(100));
    let mut sub = subscribe(&bus, "t", "g").await;
    publish_numbered(&bus, 0..3, "publish").await;
    for _ in 0..3 {
        recv(&mut sub)
            .await
            .dead_letter(Default::default())
            .await
            .expect("dead-letter");
    }
    publish_numbered(&bus, 3..6, "the group is empty again").await;
    let dlq = bus.dead_letters("t", "g").await.expect("dlq");
    let moved = dlq.replay(10).await.expect("replay");

    let len = bus.group_len("t", "g").expect("group");
    let peak = bus.group_peak_len("t", "g").expect("group");
    assert!(peak >= len, "peak_len {peak} below the current len {len}");
    assert!(
        len <= 3,
        "group holds {len} with capacity 3 after replaying {moved}"
    );
}
