//! End-to-end throughput of the memory bus against a bare tokio channel.
//!
//! SDK: publish → `MemoryBus` → consumer group (10 workers) → router decodes
//! the envelope → handler → ack. Baseline: the same payload bytes through a
//! bounded `tokio::sync::mpsc` channel to one task that decodes the same
//! envelope; and the same channel feeding 10 worker tasks (the worker-pool
//! pattern of the product documents, without the SDK). All run in the same
//! process, alternating, several rounds; the medians and ratios are printed.
//!
//! Run: `cargo bench --bench memory_bus` (`BENCH_EVENTS`, `BENCH_ROUNDS`
//! override the defaults of 50 000 events and 5 rounds).

mod common;
#[path = "common/flows.rs"]
mod flows;

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{median, runtime, signed_up_messages, sizes, throughput_row};
use tokio::sync::Notify;
use waitlist::events::UserSignedUp;
use waitlist::prelude::*;

async fn sdk_round(msgs: &[Message]) -> Duration {
    let batches: Vec<Vec<Message>> = msgs.chunks(100).map(<[Message]>::to_vec).collect();
    let (started, elapsed) = (Cell::new(Instant::now()), Cell::new(Duration::ZERO));
    let ready = || started.set(Instant::now());
    let mark = || elapsed.set(started.get().elapsed());
    flows::sdk_flow(&MemoryBus::new(), batches, ready, mark).await;
    elapsed.get()
}

/// The bus without the runtime: one task reads the group's subscription,
/// decodes and acks (where the time goes: bus or runtime).
async fn bus_round(msgs: &[Message]) -> Duration {
    let n = msgs.len();
    let bus = MemoryBus::new();
    let mut sub = bus
        .subscribe(
            topics::DOMAIN_EVENTS,
            groups::EMAIL_WORKERS,
            waitlist::SubscribeOptions::new(OrderingGuarantee::PerKey, 100),
        )
        .await
        .expect("subscribe");
    let batches: Vec<Vec<Message>> = msgs.chunks(100).map(<[Message]>::to_vec).collect();
    let started = Instant::now();
    let publisher = bus.clone();
    let producer = tokio::spawn(async move {
        for b in batches {
            publisher.publish(b).await.expect("publish");
        }
    });
    for _ in 0..n {
        let d = sub.next().await.expect("open").expect("delivery");
        let e: Envelope<UserSignedUp> = serde_json::from_slice(&d.message.payload).expect("decode");
        std::hint::black_box(&e);
        d.ack().await.expect("ack");
    }
    let elapsed = started.elapsed();
    producer.await.expect("producer");
    elapsed
}

async fn channel_round(payloads: &[Bytes]) -> Duration {
    let payloads = payloads.to_vec();
    let (started, elapsed) = (Instant::now(), Cell::new(Duration::ZERO));
    flows::channel_flow(payloads, || elapsed.set(started.elapsed())).await;
    elapsed.get()
}

/// The worker-pool pattern of the product documents with no SDK: a bounded
/// channel and 10 worker tasks sharing its receiver, each decoding.
async fn channel_pool_round(payloads: &[Bytes]) -> Duration {
    let n = payloads.len();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(100);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let handled = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(Notify::new());
    let workers: Vec<_> = (0..10)
        .map(|_| {
            let (rx, h, f) = (Arc::clone(&rx), Arc::clone(&handled), Arc::clone(&finished));
            tokio::spawn(async move {
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(p) = next else { break };
                    let e: Envelope<UserSignedUp> = serde_json::from_slice(&p).expect("decode");
                    std::hint::black_box(&e);
                    if h.fetch_add(1, Ordering::Relaxed) + 1 == n {
                        f.notify_one();
                    }
                }
            })
        })
        .collect();
    let payloads = payloads.to_vec();
    let started = Instant::now();
    let producer = tokio::spawn(async move {
        for p in payloads {
            tx.send(p).await.expect("send");
        }
    });
    finished.notified().await;
    let elapsed = started.elapsed();
    producer.await.expect("producer");
    for w in workers {
        w.await.expect("worker");
    }
    elapsed
}

fn main() {
    // `cargo test --benches` runs benches with `--bench` absent: keep it short then.
    let (n, rounds) = sizes("BENCH_EVENTS", 2_000, 50_000, 5);
    let rt = runtime();
    let msgs = signed_up_messages(topics::DOMAIN_EVENTS, n);
    let payloads: Vec<Bytes> = msgs.iter().map(|m| m.payload.clone()).collect();
    let avg = payloads.iter().map(Bytes::len).sum::<usize>() / n;
    let (mut sdk, mut raw, mut pool, mut bare) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    rt.block_on(async {
        sdk_round(&msgs[..n.min(1000)]).await; // warm-up
        for _ in 0..rounds {
            sdk.push(n as f64 / sdk_round(&msgs).await.as_secs_f64());
            raw.push(n as f64 / channel_round(&payloads).await.as_secs_f64());
            pool.push(n as f64 / channel_pool_round(&payloads).await.as_secs_f64());
            bare.push(n as f64 / bus_round(&msgs).await.as_secs_f64());
        }
    });
    let (sdk, raw, pool, bare) = (median(sdk), median(raw), median(pool), median(bare));
    println!("memory_bus: {n} events of ~{avg} bytes, {rounds} rounds, medians");
    println!("  waitlist memory bus (10 workers, decode, ack): {sdk:>12.0} events/s");
    println!("  bare tokio mpsc channel (1 task, decode):      {raw:>12.0} events/s");
    println!("  tokio mpsc channel + 10 worker tasks (decode):  {pool:>12.0} events/s");
    println!("  memory bus subscription, no runtime (1 task):   {bare:>12.0} events/s");
    println!("  ratio waitlist / channel (1 task):   {:.3}", sdk / raw);
    println!("  ratio waitlist / channel (10 tasks): {:.3}", sdk / pool);
    throughput_row(
        "memory bus: publish → group (10 workers) → decode → ack (vs mpsc + 10 worker tasks)",
        sdk,
        pool,
        "≥ 0.7",
        0.7,
    );
}
