//! What the SQS transport does beyond the shared contract, against the
//! local emulator: batching and the request counter, the redrive policy,
//! the visibility heartbeat, delayed re-sends, referenced topology and
//! clear errors for what SQS cannot take.

mod support;

use std::time::{Duration, Instant};

use waitlist_core::{headers, Delivery, Error, Message, Publisher, Queue, SubscribeOptions};
use waitlist_transport_sqs::{QueueKind, SqsConfig, SqsTransport};

fn fresh(what: &str) -> String {
    format!(
        "{what}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A transport on the emulator with the test configuration `tune`d, or
/// `None` (reported by [`support::missing_broker`]) when it does not answer.
async fn transport(tune: impl FnOnce(SqsConfig) -> SqsConfig) -> Option<SqsTransport> {
    if support::transport(QueueKind::Standard).await.is_none() {
        support::missing_broker();
        return None;
    }
    let config = tune(support::config(QueueKind::Standard).await);
    Some(SqsTransport::connect(config).await.expect("connect"))
}

/// A fresh topic `{what}-…` and a [`transport`] whose configuration `tune`
/// is given with that topic.
async fn setup(
    what: &str,
    tune: impl FnOnce(SqsConfig, &str) -> SqsConfig,
) -> Option<(SqsTransport, String)> {
    let topic = fresh(what);
    let t = transport(|c| tune(c, &topic)).await?;
    Some((t, topic))
}

/// A member of group `g` on `topic`, with the default options.
async fn member(t: &SqsTransport, topic: &str) -> Box<dyn waitlist_core::Subscription> {
    t.subscribe(topic, "g", SubscribeOptions::default())
        .await
        .expect("subscribe")
}

async fn recv(sub: &mut Box<dyn waitlist_core::Subscription>, wait: Duration) -> Option<Delivery> {
    match tokio::time::timeout(wait, sub.next()).await {
        Ok(Some(Ok(d))) => Some(d),
        Ok(Some(Err(e))) => panic!("subscription error: {e}"),
        _ => None,
    }
}

/// The next delivery within 30 s; panics with `what` when none comes.
async fn next(sub: &mut Box<dyn waitlist_core::Subscription>, what: &str) -> Delivery {
    recv(sub, Duration::from_secs(30)).await.expect(what)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_publish_of_25_messages_is_three_batch_requests() {
    let Some((t, topic)) = setup("batch", |c, topic| c.with_direct_topic(topic, "g")).await else {
        return;
    };
    t.declare_group(&topic, "g").await.expect("declare");
    let before = t.requests_sent();
    let msgs: Vec<Message> = (0..25)
        .map(|i| Message::new(&topic, format!("{{\"n\":{i}}}")).with_key("k"))
        .collect();
    t.publish(msgs).await.expect("publish");
    assert_eq!(
        t.requests_sent() - before,
        3,
        "25 messages must take 3 SendMessageBatch requests"
    );
    let mut sub = t
        .subscribe(&topic, "g", SubscribeOptions::new(Default::default(), 25))
        .await
        .expect("subscribe");
    let mut deliveries = Vec::new();
    while deliveries.len() < 25 {
        deliveries.push(next(&mut sub, "delivery").await);
    }
    // Only deletes count: the subscription keeps polling in the background.
    let deleted = || t.requests_of("DeleteMessageBatch") + t.requests_of("DeleteMessage");
    let before = deleted();
    let acks = deliveries.into_iter().map(|d| async move {
        d.ack().await.expect("ack");
    });
    futures::future::join_all(acks).await;
    let deletes = deleted() - before;
    assert!(
        deletes <= 6,
        "25 concurrent acks took {deletes} requests; they must share DeleteMessageBatch requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_never_settled_is_moved_by_the_redrive_policy_and_listed_with_a_reason() {
    let Some((t, topic)) = setup("redrive", |c, _| c.with_max_receive_count(2)).await else {
        return;
    };
    let mut sub = member(&t, &topic).await;
    let sent = Message::new(&topic, "{\"poison\":true}").with_key("k");
    t.publish(vec![sent.clone()]).await.expect("publish");
    // Two receives that end without settling (a crashing consumer).
    for attempt in 1..=2 {
        let d = next(&mut sub, "delivery").await;
        assert_eq!(d.attempt, attempt, "attempt follows the receive count");
        drop(d);
    }
    assert!(
        recv(&mut sub, Duration::from_secs(3)).await.is_none(),
        "after max receives SQS must move the message to the dead-letter queue"
    );
    let dlq = t.dead_letters(&topic, "g").await.expect("dlq");
    let listed = dlq.list(10).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, sent.id);
    let reason = listed[0]
        .headers
        .get(headers::DEAD_LETTER_REASON)
        .expect("reason");
    assert!(reason.contains("redrive policy"), "{reason}");
    // Listing leaves it there; replay brings it back to the group.
    assert_eq!(dlq.list(10).await.expect("list again").len(), 1);
    assert_eq!(dlq.replay(10).await.expect("replay"), 1);
    let back = next(&mut sub, "replayed").await;
    assert_eq!(back.message.id, sent.id);
    assert_eq!(
        back.attempt, 1,
        "a replayed message starts again at attempt 1"
    );
    back.ack().await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_a_long_handler_message_invisible() {
    let visibility = Duration::from_secs(2);
    let Some((t, topic)) = setup("heartbeat", |c, _| c.with_visibility_timeout(visibility)).await
    else {
        return;
    };
    let mut busy = member(&t, &topic).await;
    t.publish(vec![Message::new(&topic, "{}")])
        .await
        .expect("publish");
    let d = next(&mut busy, "delivery").await;
    // A second member joins only now, so the message is the first one's.
    let mut other = member(&t, &topic).await;
    // Three visibility timeouts pass while the "handler" runs.
    assert!(
        recv(&mut other, Duration::from_secs(6)).await.is_none(),
        "the message reappeared while its handler was still running"
    );
    d.ack().await.expect("ack after a long handler");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_with_a_future_not_before_time_waits_for_it() {
    let Some((t, topic)) = setup("notbefore", |c, _| c).await else {
        return;
    };
    let mut sub = member(&t, &topic).await;
    // How a delay longer than a visibility timeout travels: re-sent with a
    // not-before time, hidden again when received early.
    let due = chrono::Utc::now() + chrono::Duration::seconds(3);
    let started = Instant::now();
    let m = Message::new(&topic, "{}").with_header(headers::NOT_BEFORE, due.to_rfc3339());
    t.publish(vec![m.clone()]).await.expect("publish");
    let d = next(&mut sub, "delivery").await;
    assert_eq!(d.message.id, m.id);
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "delivered after {:?}, before its not-before time",
        started.elapsed()
    );
    d.ack().await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referenced_topology_is_used_as_given_and_missing_pieces_are_clear_errors() {
    let Some((owner, topic)) = setup("referenced", |c, _| c).await else {
        return;
    };
    // Infrastructure made elsewhere.
    let url = owner.declare_group(&topic, "g").await.expect("declare");
    let arn = owner.topic_arn(&topic).await.expect("arn");
    let t = transport(|c| {
        c.with_create_topology(false)
            .with_topic_arn(&topic, &arn)
            .with_queue_url(&topic, "g", &url)
    })
    .await
    .expect("transport");
    let mut sub = t
        .subscribe(&topic, "g", SubscribeOptions::default())
        .await
        .expect("subscribe to referenced queue");
    let m = Message::new(&topic, "{}");
    t.publish(vec![m.clone()])
        .await
        .expect("publish to referenced topic");
    let d = next(&mut sub, "delivery").await;
    assert_eq!(d.message.id, m.id);
    d.ack().await.expect("ack");
    let err = t
        .publish(vec![Message::new(fresh("unknown"), "{}")])
        .await
        .expect_err("a topic without ARN must fail when creation is off");
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_sqs_cannot_take_is_refused_clearly() {
    let Some((t, topic)) = setup("refused", |c, topic| c.with_direct_topic(topic, "only")).await
    else {
        return;
    };
    let too_big = Message::new(&topic, "x".repeat(300 * 1024));
    match t.publish(vec![too_big]).await {
        Err(Error::TooLarge { size, limit }) => assert!(size > limit),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let err = t
        .subscribe(&topic, "another", SubscribeOptions::default())
        .await
        .expect_err("a direct topic has one group");
    assert!(matches!(err, Error::Config(_)), "{err}");
    let err = t
        .publish(vec![Message::new(&topic, "{}").with_key("bad\u{1}key")])
        .await
        .expect_err("a key SQS cannot carry");
    assert!(matches!(err, Error::Rejected(_)), "{err}");
}
