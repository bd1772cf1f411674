//! Interoperability with another AMQP client (Python `pika`, from the
//! project's virtualenv): messages in the documents' JSON cross both ways.

// Tests fail by panicking: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waitlist_core::conformance::interop::{self, USER_SIGNED_UP_EXAMPLE};
use waitlist_core::conformance::wait_until;
use waitlist_core::events::{Envelope, UserSignedUp};
use waitlist_core::headers;
use waitlist_core::publish::EventPublisher;
use waitlist_core::runtime::{handler_fn, ConsumerGroup, Context, Outcome, Router};
use waitlist_transport_amqp::AmqpTransport;

/// What the handler saw: the event, its `x-origin` header and its key.
type Seen = (Envelope<UserSignedUp>, String, Option<String>);

fn python() -> Option<PathBuf> {
    interop::python(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// A transport, a fresh topic `{what}-…` and the virtualenv's Python, or
/// `None` (reported by [`support::missing_broker`]) when the broker or the
/// Python is missing.
async fn setup(what: &str) -> Option<(AmqpTransport, String, PathBuf)> {
    let Some(py) = python() else {
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
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let s = Arc::clone(&seen);
    let router = Router::new().on(handler_fn(
        move |e: Envelope<UserSignedUp>, ctx: Context| {
            let s = Arc::clone(&s);
            async move {
                let origin = ctx.headers().get("x-origin").cloned().unwrap_or_default();
                s.lock()
                    .unwrap()
                    .push((e, origin, ctx.key().map(str::to_owned)));
                Outcome::Done
            }
        },
    ));
    let group = support::start(&t, ConsumerGroup::new(&topic, "email-workers", router)).await;
    let exchange = t.names(&topic, "email-workers").exchange;
    let url = t.config().url.clone();
    interop::run_python(
        &py,
        &[
            script("pika_publish.py").to_str().unwrap(),
            &url,
            &exchange,
            "550e8400-e29b-41d4-a716-446655440000",
            "campaign-uuid",
            USER_SIGNED_UP_EXAMPLE,
        ],
    )
    .await;
    wait_until(
        "the SDK to handle the message pika sent",
        Duration::from_secs(10),
        || !seen.lock().unwrap().is_empty(),
    )
    .await;
    let report = group.shutdown(Duration::from_secs(5)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "the SDK must handle the message pika sent");
    let (event, origin, key) = &seen[0];
    assert_eq!(event.id, "550e8400-e29b-41d4-a716-446655440000");
    assert_eq!(event.data.email, "user@example.com");
    assert_eq!(origin, "pika");
    assert_eq!(key.as_deref(), Some("campaign-uuid"));
    assert_eq!(report.stats.done, 1);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_published_by_the_sdk_is_read_by_pika_with_its_headers() {
    let Some((t, topic, py)) = setup("interop-out").await else {
        return;
    };
    t.declare_group(&topic, "pika-reader").await.unwrap();
    let event: Envelope<UserSignedUp> = serde_json::from_str(USER_SIGNED_UP_EXAMPLE).unwrap();
    EventPublisher::new(Arc::new(t.clone()))
        .publish_event(&topic, &event)
        .await
        .unwrap();
    let queue = t.names(&topic, "pika-reader").queue;
    let url = t.config().url.clone();
    let out = interop::run_python(
        &py,
        &[script("pika_get.py").to_str().unwrap(), &url, &queue],
    )
    .await;
    let got: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(got["message_id"], event.id.as_str());
    assert_eq!(got["content_type"], "application/json");
    assert_eq!(got["delivery_mode"], 2, "messages must be persistent");
    assert_eq!(got["headers"]["waitlist-key"], "campaign-uuid");
    assert_eq!(got["headers"][headers::EVENT_TYPE], "user.signed_up");
    let body: serde_json::Value = serde_json::from_str(got["body"].as_str().unwrap()).unwrap();
    let original: serde_json::Value = serde_json::from_str(USER_SIGNED_UP_EXAMPLE).unwrap();
    assert_eq!(
        body, original,
        "pika must read the documents' JSON unchanged"
    );
    t.shutdown().await;
}
