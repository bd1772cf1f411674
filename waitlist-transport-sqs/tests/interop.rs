//! Interoperability with another AWS client (Python `boto3`, from the
//! project's virtualenv) on the local emulator: messages in the documents'
//! JSON cross both ways, with their attributes.

// Tests fail by panicking: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waitlist_core::conformance::interop::{self, USER_SIGNED_UP_EXAMPLE};
use waitlist_core::events::{Envelope, UserSignedUp};
use waitlist_core::publish::EventPublisher;
use waitlist_core::runtime::{handler_fn, ConsumerGroup, Context, Outcome, Router};
use waitlist_core::{headers, Queue};
use waitlist_transport_sqs::{QueueKind, SqsTransport};

/// What the handler saw: the event, its `x-origin` header, its key and its message id.
type Seen = (
    Envelope<UserSignedUp>,
    Option<String>,
    Option<String>,
    String,
);

fn script(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

async fn setup() -> Option<(SqsTransport, PathBuf)> {
    let py = interop::python(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
    let (Some(t), Some(py)) = (support::transport(QueueKind::Standard).await, py) else {
        support::missing_broker();
        return None;
    };
    Some((t, py))
}

/// Starts `email-workers` on `topic`, recording what it handles.
async fn recording_group(
    t: &SqsTransport,
    topic: &str,
) -> (waitlist_core::runtime::RunningGroup, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let s = Arc::clone(&seen);
    let router = Router::new().on(handler_fn(
        move |e: Envelope<UserSignedUp>, ctx: Context| {
            let s = Arc::clone(&s);
            async move {
                let origin = ctx.headers().get("x-origin").cloned();
                let key = ctx.key().map(str::to_owned);
                let id = ctx.message_id().to_owned();
                s.lock().unwrap().push((e, origin, key, id));
                Outcome::Done
            }
        },
    ));
    let queue: Arc<dyn Queue> = Arc::new(t.clone());
    let group = ConsumerGroup::new(topic, "email-workers", router)
        .start(queue)
        .await
        .unwrap();
    (group, seen)
}

async fn wait_for(seen: &Mutex<Vec<Seen>>, n: usize) {
    for _ in 0..600 {
        if seen.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_by_boto3_are_handled_by_the_sdk() {
    let Some((t, py)) = setup().await else {
        return;
    };
    let topic = format!("interop-in-{}", uuid::Uuid::new_v4().simple());
    let (group, seen) = recording_group(&t, &topic).await;
    let endpoint = support::endpoint();
    // Through the SNS topic, with the SDK's attributes and one of its own.
    let arn = t.topic_arn(&topic).await.unwrap();
    interop::run_python(
        &py,
        &[
            &script("boto3_publish.py"),
            &endpoint,
            &arn,
            "550e8400-e29b-41d4-a716-446655440000",
            "campaign-uuid",
            USER_SIGNED_UP_EXAMPLE,
        ],
    )
    .await;
    wait_for(&seen, 1).await;
    // Straight to the group's queue, with no attributes at all.
    let url = t.declare_group(&topic, "email-workers").await.unwrap();
    interop::run_python(
        &py,
        &[
            &script("boto3_publish.py"),
            &endpoint,
            "--queue",
            &url,
            USER_SIGNED_UP_EXAMPLE,
        ],
    )
    .await;
    wait_for(&seen, 2).await;
    let report = group.shutdown(Duration::from_secs(5)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        2,
        "the SDK must handle both messages boto3 sent"
    );
    let (event, origin, key, id) = &seen[0];
    assert_eq!(event.id, "550e8400-e29b-41d4-a716-446655440000");
    assert_eq!(event.data.email, "user@example.com");
    assert_eq!(origin.as_deref(), Some("boto3"));
    assert_eq!(key.as_deref(), Some("campaign-uuid"));
    assert_eq!(id, "550e8400-e29b-41d4-a716-446655440000");
    let (event, origin, key, id) = &seen[1];
    assert_eq!(event.data.user_id, "user-uuid");
    assert_eq!(origin, &None);
    assert_eq!(key, &None);
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "without an id attribute the SQS MessageId is the id, got {id}"
    );
    assert_eq!(report.stats.done, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_by_the_sdk_is_read_by_boto3_with_its_attributes() {
    let Some((t, py)) = setup().await else {
        return;
    };
    let topic = format!("interop-out-{}", uuid::Uuid::new_v4().simple());
    let url = t.declare_group(&topic, "boto3-reader").await.unwrap();
    let event: Envelope<UserSignedUp> = serde_json::from_str(USER_SIGNED_UP_EXAMPLE).unwrap();
    EventPublisher::new(Arc::new(t.clone()))
        .publish_event(&topic, &event)
        .await
        .unwrap();
    let out = interop::run_python(
        &py,
        &[&script("boto3_receive.py"), &support::endpoint(), &url],
    )
    .await;
    let got: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let attributes = &got["attributes"];
    assert_eq!(attributes["waitlist-message-id"], event.id.as_str());
    assert_eq!(attributes["waitlist-key"], "campaign-uuid");
    assert_eq!(attributes[headers::EVENT_TYPE], "user.signed_up");
    assert_eq!(attributes[headers::CONTENT_TYPE], "application/json");
    let body: serde_json::Value = serde_json::from_str(got["body"].as_str().unwrap()).unwrap();
    let original: serde_json::Value = serde_json::from_str(USER_SIGNED_UP_EXAMPLE).unwrap();
    assert_eq!(
        body, original,
        "boto3 must read the documents' JSON unchanged"
    );
}
