//! Interoperability with two independent Kafka clients from the project's
//! virtualenv, `confluent-kafka` and `kafka-python`: messages in the
//! documents' JSON cross both ways, with the key and the `waitlist-*`
//! headers.

// Tests fail by panicking: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use waitlist_core::conformance::interop::{self, Recording};
use waitlist_core::{headers, Publisher as _};
use waitlist_transport_kafka::codec::ID_HEADER;
use waitlist_transport_kafka::KafkaTransport;

async fn setup() -> Option<(KafkaTransport, PathBuf)> {
    let py = interop::member_python(env!("CARGO_MANIFEST_DIR"));
    let (Some(t), Some(py)) = (support::broker_transport().await, py) else {
        support::missing_broker();
        return None;
    };
    Some((t, py))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// `producer_script` produces the documents' example to a topic; the SDK
/// handles it through a consumer group with a typed handler.
async fn produced_by_python_is_handled(producer_script: &str, origin: &str) {
    let Some((t, py)) = setup().await else {
        return;
    };
    let topic = unique("interop-in");
    // Subscribing creates the topic (with the group's retry and dead-letter
    // topics): the broker does not create topics on first use.
    let recording = Recording::start(Arc::new(t.clone()), &topic, &unique("email-workers")).await;
    let brokers = t.config().brokers.clone();
    let script = interop::script(env!("CARGO_MANIFEST_DIR"), producer_script);
    interop::send_example(&py, &script, &brokers, &topic).await;
    recording.wait_for(1, Duration::from_secs(20)).await;
    let (report, seen) = recording.finish().await;
    assert_eq!(
        seen.len(),
        1,
        "the SDK must handle the record {origin} produced"
    );
    seen[0].assert_example_from(origin);
    assert_eq!(report.stats.done, 1);
    t.close().await.unwrap();
}

/// The SDK publishes the documents' example; `consumer_script` reads it
/// from the beginning of the topic with a group of its own.
async fn published_by_the_sdk_is_read(consumer_script: &str) {
    let Some((t, py)) = setup().await else {
        return;
    };
    let topic = unique("interop-out");
    // Publishing creates the topic.
    let event = interop::publish_example(Arc::new(t.clone()), &topic).await;
    let brokers = t.config().brokers.clone();
    let script = interop::script(env!("CARGO_MANIFEST_DIR"), consumer_script);
    let out =
        interop::run_python(&py, &[&script, &brokers, &topic, &unique("python-reader")]).await;
    let got = interop::read_example(&out, consumer_script);
    assert_eq!(got["key"], "campaign-uuid", "the key is the campaign id");
    assert_eq!(got["headers"][ID_HEADER], event.id.as_str());
    assert_eq!(got["headers"][headers::EVENT_TYPE], "user.signed_up");
    assert_eq!(got["headers"][headers::CONTENT_TYPE], "application/json");
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_produced_by_confluent_kafka_is_handled_by_the_sdk() {
    produced_by_python_is_handled("confluent_produce.py", "confluent-kafka").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_produced_by_kafka_python_is_handled_by_the_sdk() {
    produced_by_python_is_handled("kafka_python_produce.py", "kafka-python").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_published_by_the_sdk_is_read_by_confluent_kafka_with_its_headers() {
    published_by_the_sdk_is_read("confluent_consume.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_published_by_the_sdk_is_read_by_kafka_python_with_its_headers() {
    published_by_the_sdk_is_read("kafka_python_consume.py").await;
}
