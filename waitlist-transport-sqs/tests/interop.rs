//! Interoperability with another AWS client (Python `boto3`, from the
//! project's virtualenv) on the local emulator: messages in the documents'
//! JSON cross both ways, with their attributes.

// Tests fail by panicking: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use waitlist_core::conformance::interop::{self, Recording, USER_SIGNED_UP_EXAMPLE};
use waitlist_core::headers;
use waitlist_transport_sqs::{QueueKind, SqsTransport};

/// How long the emulator may take to deliver.
const WAIT: Duration = Duration::from_secs(30);

fn script(name: &str) -> String {
    interop::script(env!("CARGO_MANIFEST_DIR"), name)
}

async fn setup() -> Option<(SqsTransport, PathBuf)> {
    let py = interop::member_python(env!("CARGO_MANIFEST_DIR"));
    let (Some(t), Some(py)) = (support::transport(QueueKind::Standard).await, py) else {
        support::missing_broker();
        return None;
    };
    Some((t, py))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_by_boto3_are_handled_by_the_sdk() {
    let Some((t, py)) = setup().await else {
        return;
    };
    let topic = format!("interop-in-{}", uuid::Uuid::new_v4().simple());
    let recording = Recording::start(Arc::new(t.clone()), &topic, "email-workers").await;
    let endpoint = support::endpoint();
    // Through the SNS topic, with the SDK's attributes and one of its own.
    let arn = t.topic_arn(&topic).await.unwrap();
    interop::send_example(&py, &script("boto3_publish.py"), &endpoint, &arn).await;
    recording.wait_for(1, WAIT).await;
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
    recording.wait_for(2, WAIT).await;
    let (report, seen) = recording.finish().await;
    assert_eq!(
        seen.len(),
        2,
        "the SDK must handle both messages boto3 sent"
    );
    seen[0].assert_example_from("boto3");
    let bare = &seen[1];
    assert_eq!(bare.event.data.user_id, "user-uuid");
    assert_eq!(bare.origin, None);
    assert_eq!(bare.key, None);
    assert!(
        uuid::Uuid::parse_str(&bare.id).is_ok(),
        "without an id attribute the SQS MessageId is the id, got {}",
        bare.id
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
    let event = interop::publish_example(Arc::new(t.clone()), &topic).await;
    let out = interop::run_python(
        &py,
        &[&script("boto3_receive.py"), &support::endpoint(), &url],
    )
    .await;
    let got = interop::read_example(&out, "boto3");
    let attributes = &got["attributes"];
    assert_eq!(attributes["waitlist-message-id"], event.id.as_str());
    assert_eq!(attributes["waitlist-key"], "campaign-uuid");
    assert_eq!(attributes[headers::EVENT_TYPE], "user.signed_up");
    assert_eq!(attributes[headers::CONTENT_TYPE], "application/json");
}
