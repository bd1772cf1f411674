//! Members joining and leaving share one connection with the others: a
//! member that goes away must never disturb the rest.

// Tests fail by panicking: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use waitlist_core::{Delivery, Message, Publisher, Queue, SubscribeOptions, Subscription};
use waitlist_transport_amqp::AmqpTransport;

async fn next(sub: &mut Box<dyn Subscription>, what: &str) -> Delivery {
    match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
        Ok(Some(Ok(d))) => d,
        Ok(Some(Err(e))) => panic!("{what}: subscription error: {e}"),
        Ok(None) => panic!("{what}: subscription ended"),
        Err(_) => panic!("{what}: nothing within 10 s"),
    }
}

/// Receives and acks deliveries until `n` distinct ids arrived; returns
/// them.
async fn drain(sub: &mut Box<dyn Subscription>, n: usize, what: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    while ids.len() < n {
        let d = next(sub, what).await;
        ids.insert(d.message.id.clone());
        d.ack().await.unwrap();
    }
    ids
}

/// `rounds` members of group `leavers` join and leave without `close()`;
/// every third one leaves right away, the others with a delivery in hand,
/// dropped before or after the member. Returns the ids published.
async fn join_and_leave(t: AmqpTransport, topic: String, rounds: usize) -> HashSet<String> {
    let mut published = HashSet::new();
    for round in 0..rounds {
        let mut member = t
            .subscribe(&topic, "leavers", SubscribeOptions::default())
            .await
            .unwrap_or_else(|e| panic!("a member could not join in round {round}: {e}"));
        if round % 3 == 0 {
            drop(member);
            continue;
        }
        let m = Message::new(&topic, format!("{{\"round\":{round}}}"));
        published.insert(m.id.clone());
        t.publish_one(m).await.unwrap();
        let d = next(&mut member, "a leaving member").await;
        if round % 3 == 1 {
            drop(d);
            drop(member);
        } else {
            drop(member);
            drop(d);
        }
    }
    published
}

/// Members of one group are dropped without `close()` (with and without
/// deliveries in hand), several at a time, while another group consumes on
/// the same connection: that group sees every message and no error, and
/// every message the leavers held goes back to their group.
///
/// A lapin consumer dropped while active sends a `basic.cancel` of its own;
/// when the channel had started closing by then, lapin made that refused
/// cancel an error of the whole connection and every member on it failed
/// ("invalid channel state: Closing (basic.cancel)").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_members_does_not_disturb_the_connection() {
    let Some((t, topic)) = support::setup("members").await else {
        return;
    };
    let mut watcher = t
        .subscribe(&topic, "watcher", SubscribeOptions::default())
        .await
        .unwrap();
    t.declare_group(&topic, "leavers").await.unwrap();

    let tasks: Vec<_> = (0..4)
        .map(|_| tokio::spawn(join_and_leave(t.clone(), topic.clone(), 150)))
        .collect();
    let mut published = HashSet::new();
    for task in tasks {
        published.extend(task.await.expect("a leaving task failed"));
    }

    let seen = drain(&mut watcher, published.len(), "the watcher").await;
    assert_eq!(seen, published);

    // Nothing the leavers held is lost: a last member gets all of it.
    let mut last = t
        .subscribe(&topic, "leavers", SubscribeOptions::default())
        .await
        .unwrap();
    let back = drain(&mut last, published.len(), "the last member").await;
    assert_eq!(back, published);
    last.close().await.unwrap();
    watcher.close().await.unwrap();
    t.shutdown().await;
}
