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
#[path = "common/flows.rs"]
mod flows;

use std::alloc::System;
use std::cell::{Cell, OnceCell};

use bytes::Bytes;
use common::{full_run, median, runtime, signed_up_messages, sizes, Row};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
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
    let batches: Vec<Vec<Message>> = msgs.chunks(100).map(<[Message]>::to_vec).collect();
    let (region, count) = (OnceCell::new(), Cell::new(None));
    let ready = || drop(region.set(Region::new(GLOBAL)));
    let mark = || count.set(region.get().map(|r| Count::of(r, n)));
    flows::sdk_flow(&MemoryBus::new(), batches, ready, mark).await;
    count.get().expect("counted")
}

async fn channel_round(payloads: &[Bytes]) -> Count {
    let n = payloads.len();
    let payloads = payloads.to_vec();
    let (region, count) = (Region::new(GLOBAL), Cell::new(None));
    flows::channel_flow(payloads, || count.set(Some(Count::of(&region, n)))).await;
    count.get().expect("counted")
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
