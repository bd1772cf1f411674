//! The two paths the memory-bus benches measure, once: the SDK (publish →
//! `MemoryBus` → consumer group of 10 workers → decode → handler → ack) and
//! the baseline (a bounded tokio channel to one task that decodes the same
//! envelope). Each calls `mark` the moment the last message is handled, so a
//! bench takes its reading there (a time, an allocation count) before the
//! teardown.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use waitlist::events::UserSignedUp;
use waitlist::prelude::*;

use crate::common::counting_group;

/// Delivers `batches` through a fresh group on `bus`; `ready` runs once
/// the group has started, `mark` once every message is handled.
pub(crate) async fn sdk_flow(
    bus: &MemoryBus,
    batches: Vec<Vec<Message>>,
    ready: impl FnOnce(),
    mark: impl FnOnce(),
) {
    let n = batches.iter().map(Vec::len).sum();
    let (group, finished) = counting_group(topics::DOMAIN_EVENTS, groups::EMAIL_WORKERS, n);
    let group = group.start(Arc::new(bus.clone())).await.expect("start");
    let publisher = bus.clone();
    ready();
    let producer = tokio::spawn(async move {
        for b in batches {
            publisher.publish(b).await.expect("publish");
        }
    });
    finished.notified().await;
    mark();
    producer.await.expect("producer");
    group.shutdown(Duration::from_secs(5)).await;
}

/// Sends `payloads` through a bounded channel to one task that decodes
/// each; `mark` runs once the last one is decoded. Returns how many were.
pub(crate) async fn channel_flow(payloads: Vec<Bytes>, mark: impl FnOnce()) -> usize {
    let n = payloads.len();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(10_000);
    let consumer = tokio::spawn(async move {
        let mut count = 0;
        while let Some(p) = rx.recv().await {
            let e: Envelope<UserSignedUp> = serde_json::from_slice(&p).expect("decode");
            std::hint::black_box(&e);
            count += 1;
            if count == n {
                break;
            }
        }
        count
    });
    let producer = tokio::spawn(async move {
        for p in payloads {
            tx.send(p).await.expect("send");
        }
    });
    let count = consumer.await.expect("consumer");
    mark();
    producer.await.expect("producer");
    count
}
