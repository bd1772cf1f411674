//! The transactional outbox against publishing directly, same broker
//! (RabbitMQ), same run.
//!
//! Eight host tasks each produce their share of `BENCH_MESSAGES` (default
//! 10,000) envelope-sized events, one per "request":
//! - direct: `Publisher::publish` of the one event, awaited (publish after
//!   commit, the way a host does without an outbox);
//! - outbox: `Outbox::stage` of the one event in a transaction of its own,
//!   with one `OutboxRelay` (batches of 256) publishing to the same broker;
//!   the time runs until the relay has published the last one.
//!
//! Target: outbox throughput ≥ 0.5 × direct.
//!
//! Run: `cargo bench -p waitlist-benches --bench outbox --features amqp,postgres` with RabbitMQ
//! and PostgreSQL up (`scripts/services.sh up`; `AMQP_URL`, `DATABASE_URL`).

#[path = "../../benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{median, runtime, signed_up_messages, sizes, throughput_row, unreachable};
use waitlist::postgres::sqlx;
use waitlist::prelude::*;
use waitlist::{AmqpConfig, AmqpTransport, PgStore};

const PRODUCERS: usize = 8;

async fn direct(t: &AmqpTransport, msgs: &[Message]) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = msgs
        .chunks(msgs.len().div_ceil(PRODUCERS))
        .map(|share| {
            let (t, share) = (t.clone(), share.to_vec());
            tokio::spawn(async move {
                for m in share {
                    t.publish(vec![m]).await.expect("publish");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("producer");
    }
    started.elapsed()
}

async fn through_outbox(pg: &PgStore, t: &AmqpTransport, msgs: &[Message]) -> Duration {
    let outbox = pg.outbox();
    let relay = outbox
        .relay(Arc::new(t.clone()))
        .with_batch_size(256)
        .start();
    let started = Instant::now();
    let tasks: Vec<_> = msgs
        .chunks(msgs.len().div_ceil(PRODUCERS))
        .map(|share| {
            let (outbox, pool, share) = (outbox.clone(), pg.pool().clone(), share.to_vec());
            tokio::spawn(async move {
                for m in share {
                    let mut tx = pool.begin().await.expect("begin");
                    outbox
                        .stage(&mut *tx, std::slice::from_ref(&m))
                        .await
                        .expect("stage");
                    tx.commit().await.expect("commit");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("producer");
    }
    let staged = started.elapsed();
    while relay.stats().relayed() < msgs.len() as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    eprintln!(
        "  outbox round: staged in {staged:.2?}, relayed {} in {elapsed:.2?}",
        msgs.len()
    );
    relay.stop().await;
    elapsed
}

fn main() {
    let (n, rounds) = sizes("BENCH_MESSAGES", 200, 10_000, 3);
    runtime().block_on(async move {
        let amqp = std::env::var("AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/waitlist-test".into());
        let db = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let Ok(t) = AmqpTransport::connect(AmqpConfig::new(&amqp)).await else {
            return unreachable("outbox", "RabbitMQ", &amqp);
        };
        let Ok(pg) = PgStore::connect(&db).await else {
            return unreachable("outbox", "PostgreSQL", &db);
        };
        let schema = format!("bench_outbox_{}", std::process::id());
        let pg = pg.with_schema(&schema);
        pg.migrate().await.expect("migrate");
        let topic = format!("bench-outbox-{}", std::process::id());
        t.declare_group(&topic, "bench").await.expect("declare");

        let (mut d, mut o) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let msgs = signed_up_messages(&topic, n);
            d.push(n as f64 / direct(&t, &msgs).await.as_secs_f64());
            let msgs = signed_up_messages(&topic, n);
            o.push(n as f64 / through_outbox(&pg, &t, &msgs).await.as_secs_f64());
        }
        let (d, o) = (median(d), median(o));
        let ratio = o / d;
        println!("outbox bench: {n} events, {PRODUCERS} producers, {rounds} rounds (medians)");
        println!("  direct publish {d:>8.0}/s   outbox {o:>8.0}/s   ratio {ratio:.3}");
        throughput_row(
            "outbox: staged + relayed (vs direct publish, RabbitMQ confirms)",
            o,
            d,
            "≥ 0.5",
            0.5,
        );
        let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(pg.pool())
            .await;
        let _ = t.close().await;
    });
}
