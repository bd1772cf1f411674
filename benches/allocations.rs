//! Heap allocations per delivered message on the memory bus, against a bare
//! channel that decodes the same envelope.
//!
//! SDK: publish → `MemoryBus` → consumer group (10 workers) → router decodes
//! the `user.signed_up` envelope → handler → ack. Baseline: the same payload
//! bytes through a bounded `tokio::sync::mpsc` channel to one task that
//! decodes the same envelope. The messages are built before counting starts
//! in both, so only what delivering them costs is counted.
//!
//! The counting is `stats_alloc`'s instrumented system allocator (atomic
//! counters around `std::alloc::System`, every thread counted), installed as
//! this bench's global allocator without any `unsafe` here.
//!
//! Run: `cargo bench --bench allocations` (`BENCH_EVENTS`, `BENCH_ROUNDS`
//! override the defaults of 20 000 events and 5 rounds).

mod common;

use std::alloc::System;
use std::time::Duration;

use bytes::Bytes;
use common::{counting_group, full_run, median, runtime, signed_up_messages, sizes, Row};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use waitlist::events::UserSignedUp;
use waitlist::prelude::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (fresh blocks and reallocations) and bytes of one round.
#[derive(Debug, Clone, Copy)]
struct Count {
    allocations: f64,
    bytes: f64,
}

impl Count {
    fn of(region: &Region<'_, System>, n: usize) -> Self {
        let s = region.change();
        Self {
            allocations: (s.allocations + s.reallocations) as f64 / n as f64,
            bytes: (s.bytes_allocated + s.bytes_reallocated.max(0) as usize) as f64 / n as f64,
        }
    }
}

async fn sdk_round(msgs: &[Message]) -> Count {
    let n = msgs.len();
    let bus = MemoryBus::new();
    let (group, finished) = counting_group(topics::DOMAIN_EVENTS, groups::EMAIL_WORKERS, n);
    let group = group
        .start(std::sync::Arc::new(bus.clone()))
        .await
        .expect("start");
    let batches: Vec<Vec<Message>> = msgs.chunks(100).map(<[Message]>::to_vec).collect();
    let publisher = bus.clone();
    let region = Region::new(GLOBAL);
    let producer = tokio::spawn(async move {
        for b in batches {
            publisher.publish(b).await.expect("publish");
        }
    });
    finished.notified().await;
    let count = Count::of(&region, n);
    producer.await.expect("producer");
    group.shutdown(Duration::from_secs(5)).await;
    count
}

async fn channel_round(payloads: &[Bytes]) -> Count {
    let n = payloads.len();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(10_000);
    let payloads = payloads.to_vec();
    let region = Region::new(GLOBAL);
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
    });
    let producer = tokio::spawn(async move {
        for p in payloads {
            tx.send(p).await.expect("send");
        }
    });
    consumer.await.expect("consumer");
    let count = Count::of(&region, n);
    producer.await.expect("producer");
    count
}

fn main() {
    let (n, rounds) = sizes("BENCH_EVENTS", 2_000, 20_000, 5);
    let rt = runtime();
    let msgs = signed_up_messages(topics::DOMAIN_EVENTS, n);
    let payloads: Vec<Bytes> = msgs.iter().map(|m| m.payload.clone()).collect();
    let (mut sdk, mut raw) = (Vec::new(), Vec::new());
    rt.block_on(async {
        sdk_round(&msgs[..n.min(1000)]).await; // warm-up
        for _ in 0..rounds {
            sdk.push(sdk_round(&msgs).await);
            raw.push(channel_round(&payloads).await);
        }
    });
    let med = |v: &[Count], f: fn(&Count) -> f64| median(v.iter().map(f).collect());
    let (sdk_a, raw_a) = (med(&sdk, |c| c.allocations), med(&raw, |c| c.allocations));
    let (sdk_b, raw_b) = (med(&sdk, |c| c.bytes), med(&raw, |c| c.bytes));
    println!("allocations: {n} events, {rounds} rounds, medians per delivered message");
    println!("  waitlist memory bus (10 workers, decode, ack): {sdk_a:>7.2} allocations, {sdk_b:>7.0} bytes");
    println!("  bare tokio mpsc channel (1 task, decode):      {raw_a:>7.2} allocations, {raw_b:>7.0} bytes");
    let ratio = sdk_a / raw_a;
    Row {
        what: "allocations per delivered message, memory bus: publish → group → decode → ack (vs mpsc + decode)",
        sdk: format!("{sdk_a:.1} ({sdk_b:.0} B)"),
        baseline: format!("{raw_a:.1} ({raw_b:.0} B)"),
        ratio: Some(ratio),
        target: "≤ 2 × baseline",
        met: full_run().then_some(ratio <= 2.0),
    }
    .print();
}
