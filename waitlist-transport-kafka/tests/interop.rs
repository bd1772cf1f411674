//! Interoperability with two independent Kafka clients from the project's
//! virtualenv, `confluent-kafka` and `kafka-python`: messages in the
//! documents' JSON cross both ways, with the key and the `waitlist-*`
//! headers.

// Tests fail by panicking: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waitlist_core::conformance::interop::{self, USER_SIGNED_UP_EXAMPLE};
use waitlist_core::conformance::wait_until;
use waitlist_core::events::{Envelope, UserSignedUp};
use waitlist_core::publish::EventPublisher;
use waitlist_core::runtime::{handler_fn, ConsumerGroup, Context, Outcome, Router};
use waitlist_core::{headers, Publisher as _, Queue};
use waitlist_transport_kafka::codec::ID_HEADER;
use waitlist_transport_kafka::KafkaTransport;

/// What the handler saw: the event, its `x-origin` header, its message id
/// and its key.
type Seen = (Envelope<UserSignedUp>, String, String, Option<String>);

fn python() -> Option<PathBuf> {
    interop::python(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

async fn setup() -> Option<(KafkaTransport, PathBuf)> {
    let (Some(t), Some(py)) = (support::broker_transport().await, python()) else {
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
    let group = unique("email-workers");
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let s = Arc::clone(&seen);
    let router = Router::new().on(handler_fn(
        move |e: Envelope<UserSignedUp>, ctx: Context| {
            let s = Arc::clone(&s);
            async move {
                let origin = ctx.headers().get("x-origin").cloned().unwrap_or_default();
                let id = ctx.message_id().to_owned();
                s.lock()
                    .unwrap()
                    .push((e, origin, id, ctx.key().map(str::to_owned)));
                Outcome::Done
            }
        },
    ));
    let queue: Arc<dyn Queue> = Arc::new(t.clone());
    // Subscribing creates the topic (with the group's retry and dead-letter
    // topics): the broker does not create topics on first use.
    let consumers = ConsumerGroup::new(&topic, &group, router)
        .start(queue)
        .await
        .unwrap();
    let brokers = t.config().brokers.clone();
    interop::run_python(
        &py,
        &[
            script(producer_script).to_str().unwrap(),
            &brokers,
            &topic,
            "550e8400-e29b-41d4-a716-446655440000",
            "campaign-uuid",
            USER_SIGNED_UP_EXAMPLE,
        ],
    )
    .await;
    wait_until(
        &format!("the SDK to handle the record {origin} produced"),
        Duration::from_secs(20),
        || !seen.lock().unwrap().is_empty(),
    )
    .await;
    let report = consumers.shutdown(Duration::from_secs(5)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        1,
        "the SDK must handle the record {origin} produced"
    );
    let (event, got_origin, id, key) = &seen[0];
    assert_eq!(event.id, "550e8400-e29b-41d4-a716-446655440000");
    assert_eq!(event.event_type, "user.signed_up");
    assert_eq!(event.data.email, "user@example.com");
    assert_eq!(id, "550e8400-e29b-41d4-a716-446655440000", "{ID_HEADER}");
    assert_eq!(got_origin, origin);
    assert_eq!(key.as_deref(), Some("campaign-uuid"));
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
    let event: Envelope<UserSignedUp> = serde_json::from_str(USER_SIGNED_UP_EXAMPLE).unwrap();
    // Publishing creates the topic.
    EventPublisher::new(Arc::new(t.clone()))
        .publish_event(&topic, &event)
        .await
        .unwrap();
    let brokers = t.config().brokers.clone();
    let group = unique("python-reader");
    let out = interop::run_python(
        &py,
        &[
            script(consumer_script).to_str().unwrap(),
            &brokers,
            &topic,
            &group,
        ],
    )
    .await;
    let got: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(got["key"], "campaign-uuid", "the key is the campaign id");
    assert_eq!(got["headers"][ID_HEADER], event.id.as_str());
    assert_eq!(got["headers"][headers::EVENT_TYPE], "user.signed_up");
    assert_eq!(got["headers"][headers::CONTENT_TYPE], "application/json");
    let body: serde_json::Value = serde_json::from_str(got["body"].as_str().unwrap()).unwrap();
    let original: serde_json::Value = serde_json::from_str(USER_SIGNED_UP_EXAMPLE).unwrap();
    assert_eq!(
        body, original,
        "{consumer_script} must read the documents' JSON unchanged"
    );
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
