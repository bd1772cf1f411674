//! Interoperability with another AMQP client (Python `pika`, from the
//! project's virtualenv): messages in the documents' JSON cross both ways.

// Tests fail by panicking: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use waitlist_core::conformance::interop::{self, Recording};
use waitlist_core::headers;
use waitlist_transport_amqp::AmqpTransport;

/// A transport, a fresh topic `{what}-…` and the virtualenv's Python, or
/// `None` (reported by [`support::missing_broker`]) when the broker or the
/// Python is missing.
async fn setup(what: &str) -> Option<(AmqpTransport, String, PathBuf)> {
    let Some(py) = interop::member_python(env!("CARGO_MANIFEST_DIR")) else {
        support::missing_broker();
        return None;
    };
    let (t, topic) = support::setup(what).await?;
    Some((t, topic, py))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_published_by_pika_is_handled_by_the_sdk() {
    let Some((t, topic, py)) = setup("interop-in").await else {
        return;
    };
    let recording = Recording::start(Arc::new(t.clone()), &topic, "email-workers").await;
    let exchange = t.names(&topic, "email-workers").exchange;
    let url = t.config().url.clone();
    let script = interop::script(env!("CARGO_MANIFEST_DIR"), "pika_publish.py");
    interop::send_example(&py, &script, &url, &exchange).await;
    recording.wait_for(1, Duration::from_secs(10)).await;
    let (report, seen) = recording.finish().await;
    assert_eq!(seen.len(), 1, "the SDK must handle the message pika sent");
    seen[0].assert_example_from("pika");
    assert_eq!(report.stats.done, 1);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_published_by_the_sdk_is_read_by_pika_with_its_headers() {
    let Some((t, topic, py)) = setup("interop-out").await else {
        return;
    };
    t.declare_group(&topic, "pika-reader").await.unwrap();
    let event = interop::publish_example(Arc::new(t.clone()), &topic).await;
    let queue = t.names(&topic, "pika-reader").queue;
    let url = t.config().url.clone();
    let script = interop::script(env!("CARGO_MANIFEST_DIR"), "pika_get.py");
    let out = interop::run_python(&py, &[&script, &url, &queue]).await;
    let got = interop::read_example(&out, "pika");
    assert_eq!(got["message_id"], event.id.as_str());
    assert_eq!(got["content_type"], "application/json");
    assert_eq!(got["delivery_mode"], 2, "messages must be persistent");
    assert_eq!(got["headers"]["waitlist-key"], "campaign-uuid");
    assert_eq!(got["headers"][headers::EVENT_TYPE], "user.signed_up");
    t.shutdown().await;
}
