//! Publishing guarantees specific to RabbitMQ.

// Tests fail by panicking: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

mod support;

use waitlist_core::{Error, Message, Publisher};

/// A message no queue would take is reported, not dropped silently.
#[tokio::test]
async fn publish_to_a_topic_without_groups_is_an_error() {
    let Some((t, topic)) = support::setup("nobody").await else {
        return;
    };
    let err = t
        .publish_one(Message::new(&topic, "{}"))
        .await
        .expect_err("unroutable must fail");
    assert!(
        matches!(err, Error::Rejected(ref m) if m.contains("unroutable")),
        "{err}"
    );
    t.declare_group(&topic, "g").await.unwrap();
    t.publish_one(Message::new(&topic, "{}"))
        .await
        .expect("routable once a group exists");
    t.shutdown().await;
}

/// A payload over the configured limit is refused before it is sent.
#[tokio::test]
async fn oversized_payload_is_refused() {
    let Some((t, topic)) = support::setup("big").await else {
        return;
    };
    t.declare_group(&topic, "g").await.unwrap();
    let big = vec![b'x'; t.config().max_payload + 1];
    let err = t
        .publish_one(Message::new(&topic, big))
        .await
        .expect_err("too large");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    t.shutdown().await;
}
