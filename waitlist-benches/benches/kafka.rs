//! Kafka throughput: the SDK against raw rdkafka on the same broker, in the
//! same run.
//!
//! - publish: 20 000 envelope-sized messages in batches of 500; raw rdkafka
//!   (a `FutureProducer` with the SDK's own producer settings: `acks=all`,
//!   idempotence, murmur2 partitioner, `linger.ms=5`) enqueues each batch
//!   with the same key and headers as the SDK sends (`waitlist-id`, event
//!   type, content type) and awaits all delivery futures together; the SDK
//!   calls `Publisher::publish` per batch.
//! - consume with commits: the topic filled above, read from the beginning
//!   by a fresh group; raw rdkafka with one `StreamConsumer` (the SDK's
//!   consumer settings: `enable.auto.commit=false`, earliest) decoding each
//!   envelope and committing asynchronously every 100 messages; the SDK with
//!   a consumer group of 10 workers (max 100 in flight) decoding each
//!   envelope, committing finished offsets every `commit_interval`. Both
//!   times include joining the group and end at the last message handled.
//!
//! Every round uses fresh topics and fresh groups and reads from offset 0,
//! so the test broker's quirk (tansu 0.6 does not serve a fetch starting
//! inside a record batch, which the tests avoid with `batch.num.messages=1`)
//! does not apply: neither side sets `batch.num.messages`, both batch as the
//! SDK's defaults do.
//!
//! Run: `cargo bench -p waitlist-benches --bench kafka --features kafka` with the broker up
//! (`scripts/services.sh up`); `KAFKA_BROKERS` selects the broker,
//! `BENCH_MESSAGES` and `BENCH_ROUNDS` the size.

#[path = "../../benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{runtime, sdk_consume, signed_up_messages, sizes, unreachable, Rounds};
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message as _;
use waitlist::events::UserSignedUp;
use waitlist::kafka::codec::ID_HEADER;
use waitlist::prelude::*;
use waitlist::{KafkaConfig, KafkaTransport};

const BATCH: usize = 500;
/// Raw consumer: commit (asynchronously) after this many messages.
const COMMIT_EVERY: usize = 100;

async fn raw_publish(p: &FutureProducer, topic: &str, msgs: &[Message]) -> Duration {
    let started = Instant::now();
    for batch in msgs.chunks(BATCH) {
        let mut reports = Vec::with_capacity(batch.len());
        for m in batch {
            // The same record the SDK sends: key, id header and headers.
            let mut headers = OwnedHeaders::new_with_capacity(m.headers.len() + 1).insert(Header {
                key: ID_HEADER,
                value: Some(m.id.as_bytes()),
            });
            for (k, v) in &m.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(v.as_bytes()),
                });
            }
            let mut record = FutureRecord::to(topic)
                .payload(&m.payload[..])
                .headers(headers);
            if let Some(key) = &m.key {
                record = record.key(key.as_str());
            }
            loop {
                match p.send_result(record) {
                    Ok(report) => {
                        reports.push(report);
                        break;
                    }
                    Err((e, back)) => {
                        assert!(
                            matches!(
                                e,
                                rdkafka::error::KafkaError::MessageProduction(
                                    rdkafka::types::RDKafkaErrorCode::QueueFull
                                )
                            ),
                            "produce: {e}"
                        );
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        }
        for r in futures::future::join_all(reports).await {
            r.expect("producer alive").expect("delivered");
        }
    }
    started.elapsed()
}

async fn sdk_publish(t: &KafkaTransport, msgs: &[Message]) -> Duration {
    let started = Instant::now();
    for batch in msgs.chunks(BATCH) {
        t.publish(batch.to_vec()).await.expect("publish");
    }
    started.elapsed()
}

async fn raw_consume(config: &KafkaConfig, topic: &str, group: &str, n: usize) -> Duration {
    let started = Instant::now();
    let consumer: StreamConsumer = config.consumer(group).create().expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    for i in 1..=n {
        let m = consumer.recv().await.expect("record");
        if i == 1 && std::env::var_os("BENCH_VERBOSE").is_some() {
            eprintln!("  raw first record after {:?}", started.elapsed());
        }
        let e: Envelope<UserSignedUp> =
            serde_json::from_slice(m.payload().expect("payload")).expect("decode");
        std::hint::black_box(&e);
        consumer
            .store_offset_from_message(&m)
            .expect("store offset");
        if i % COMMIT_EVERY == 0 || i == n {
            consumer
                .commit_consumer_state(CommitMode::Async)
                .expect("commit");
        }
    }
    let elapsed = started.elapsed();
    let _ = consumer.commit_consumer_state(CommitMode::Sync);
    consumer.unsubscribe();
    elapsed
}

/// Whether something listens at the first of `brokers`.
async fn reachable(brokers: &str) -> bool {
    let Some(addr) = brokers.split(',').next().map(str::trim) else {
        return false;
    };
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(addr.to_owned())
        )
        .await,
        Ok(Ok(_))
    )
}

fn main() {
    let (n, rounds) = sizes("BENCH_MESSAGES", 500, 20_000, 3);
    let rt = runtime();
    rt.block_on(async {
        let config = KafkaConfig::from_env();
        let brokers = config.brokers.clone();
        if !reachable(&brokers).await {
            unreachable("kafka", "Kafka", &brokers);
            return;
        }
        let t = KafkaTransport::new(config.clone()).expect("transport");
        // The SDK's own producer settings.
        let raw: FutureProducer = config.producer().create().expect("raw producer");
        let run = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default()
        );
        let mut rounds_of = Rounds::of(n);
        let mut size = 0;
        for round in 0..rounds {
            let raw_topic = format!("bench-raw-{run}-{round}");
            let sdk_topic = format!("bench-sdk-{run}-{round}");
            t.create_topics(&[&raw_topic, &sdk_topic])
                .await
                .expect("create topics");
            let msgs = signed_up_messages(&sdk_topic, n);
            size = msgs[0].payload.len();
            let publish = raw_publish(&raw, &raw_topic, &msgs).await;
            let raw_times = (
                publish,
                raw_consume(&config, &raw_topic, &raw_topic, n).await,
            );
            let publish = sdk_publish(&t, &msgs).await;
            let consume = sdk_consume(Arc::new(t.clone()), &sdk_topic, &sdk_topic, n).await;
            rounds_of.push(raw_times, (publish, consume));
        }
        println!("kafka: {n} messages of ~{size} bytes, {rounds} rounds, medians");
        let publish = "Kafka publish, acks=all (vs raw FutureProducer)";
        let consume = "Kafka consume, commit after handle (vs raw StreamConsumer + commit)";
        rounds_of.report("rdkafka", [publish, consume], ["≥ 0.95"; 2]);
        let _ = t.close().await;
    });
}
