//! RabbitMQ throughput: the SDK against raw lapin on the same broker, in the
//! same run.
//!
//! - publish: 20 000 envelope-sized messages in batches of 500; raw lapin
//!   publishes each batch (same id, key and headers as the SDK sends) on a
//!   confirm channel and awaits the confirms together (pipelined); the SDK
//!   calls `Publisher::publish` per batch.
//! - consume: the queue filled above, drained with acks; raw lapin with one
//!   consumer (prefetch 100) acking each message, the SDK with a consumer
//!   group of 10 workers (max 100 in flight) decoding each envelope.
//!
//! Run: `cargo bench -p waitlist-benches --bench amqp --features amqp` with RabbitMQ up
//! (`scripts/services.sh up`); `AMQP_URL` selects the broker,
//! `BENCH_MESSAGES` and `BENCH_ROUNDS` the size.

#[path = "../../benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{runtime, sdk_consume, signed_up_messages, sizes, unreachable, Rounds};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueuePurgeOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use waitlist::events::UserSignedUp;
use waitlist::prelude::*;
use waitlist::{AmqpConfig, AmqpTransport};

const BATCH: usize = 500;

async fn raw_publish(conn: &Connection, exchange: &str, msgs: &[Message]) -> Duration {
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let started = Instant::now();
    for batch in msgs.chunks(BATCH) {
        let mut confirms = Vec::with_capacity(batch.len());
        for m in batch {
            // The same information the SDK sends: id, key and headers.
            let mut headers = FieldTable::default();
            for (k, v) in &m.headers {
                headers.insert(
                    k.as_str().into(),
                    AMQPValue::LongString(v.as_bytes().into()),
                );
            }
            let key = m.key.as_deref().unwrap_or_default();
            headers.insert(
                "waitlist-key".into(),
                AMQPValue::LongString(key.as_bytes().into()),
            );
            let props = BasicProperties::default()
                .with_message_id(m.id.as_str().into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2)
                .with_headers(headers);
            let c = ch
                .basic_publish(
                    exchange.into(),
                    "".into(),
                    BasicPublishOptions::default(),
                    &m.payload,
                    props,
                )
                .await
                .expect("publish");
            confirms.push(c);
        }
        for c in confirms {
            assert!(matches!(c.await.expect("confirm"), Confirmation::Ack(_)));
        }
    }
    let elapsed = started.elapsed();
    let _ = ch.close(200, "done".into()).await;
    elapsed
}

async fn sdk_publish(t: &AmqpTransport, msgs: &[Message]) -> Duration {
    let started = Instant::now();
    for batch in msgs.chunks(BATCH) {
        t.publish(batch.to_vec()).await.expect("publish");
    }
    started.elapsed()
}

async fn raw_consume(conn: &Connection, queue: &str, n: usize) -> Duration {
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_qos(100, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "raw-bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let started = Instant::now();
    for _ in 0..n {
        let d = consumer.next().await.expect("open").expect("delivery");
        let e: Envelope<UserSignedUp> = serde_json::from_slice(&d.data).expect("decode");
        std::hint::black_box(&e);
        d.ack(BasicAckOptions::default()).await.expect("ack");
    }
    let elapsed = started.elapsed();
    let _ = ch.close(200, "done".into()).await;
    elapsed
}

fn main() {
    let (n, rounds) = sizes("BENCH_MESSAGES", 500, 20_000, 3);
    let rt = runtime();
    rt.block_on(async {
        let config = AmqpConfig::from_env().with_prefix("wl-bench.");
        let url = config.url.clone();
        let Ok(t) = AmqpTransport::connect(config).await else {
            unreachable("amqp", "RabbitMQ", &url);
            return;
        };
        let raw = Connection::connect(&url, ConnectionProperties::default())
            .await
            .expect("raw connect");
        let topic = format!("bench-{}", std::process::id());
        let group = "bench";
        t.declare_group(&topic, group).await.expect("declare");
        let names = t.names(&topic, group);
        let msgs = signed_up_messages(&topic, n);
        let purge = || async {
            let ch = raw.create_channel().await.expect("channel");
            ch.queue_purge(names.queue.as_str().into(), QueuePurgeOptions::default())
                .await
                .expect("purge");
            let _ = ch.close(200, "purged".into()).await;
        };
        let mut rounds_of = Rounds::of(n);
        for _ in 0..rounds {
            purge().await;
            let publish = raw_publish(&raw, &names.exchange, &msgs).await;
            let raw_times = (publish, raw_consume(&raw, &names.queue, n).await);
            purge().await;
            let publish = sdk_publish(&t, &msgs).await;
            let consume = sdk_consume(Arc::new(t.clone()), &topic, group, n).await;
            rounds_of.push(raw_times, (publish, consume));
        }
        println!(
            "amqp: {n} messages of ~{} bytes, {rounds} rounds, medians",
            msgs[0].payload.len()
        );
        let publish = "RabbitMQ publish with confirms (vs raw lapin, pipelined confirms)";
        let consume = "RabbitMQ consume with acks (vs raw lapin, one consumer)";
        rounds_of.report("lapin", [publish, consume], ["≥ 0.95", "keep (≥ 0.95)"]);
        t.shutdown().await;
    });
}
