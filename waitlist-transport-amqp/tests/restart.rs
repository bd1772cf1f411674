//! Broker restart mid-stream (`rabbitmqctl stop_app` / `start_app`): nothing
//! published before or after is lost. A test binary of its own, because the
//! restart disturbs every other test using the broker.

// Tests fail by panicking: unwrap is the assertion here.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waitlist_core::conformance::{broker_restart_loses_nothing, wait_for, wait_until};
use waitlist_core::events::Envelope;
use waitlist_core::runtime::{handler_fn, ConsumerGroup, Context, Outcome, Router};
use waitlist_core::sync::lock;
use waitlist_core::{Message, Publisher};

/// The tests of this binary disturb the broker: one at a time.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Stops the broker's application, leaves it down for half a second and
/// starts it again.
async fn restart_broker() {
    support::rabbitmqctl(&["stop_app"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    support::rabbitmqctl(&["start_app"]).await;
    support::rabbitmqctl(&["await_startup"]).await;
}

/// Message `m{i}` on `topic`: an envelope of any type, with its id.
fn envelope(topic: &str, i: usize) -> Message {
    Message::new(topic, format!(r#"{{"id":"m{i}","type":"t","account_id":"a","campaign_id":"c","data":{{}},"timestamp":"2025-01-01T12:00:00Z"}}"#)).with_id(format!("m{i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_restart_loses_nothing_on_rabbitmq() {
    let _alone = BROKER.lock().await;
    let Some(mut h) = support::harness().await else {
        support::missing_broker();
        return;
    };
    h.restart = Some(Box::new(|| Box::pin(restart_broker())));
    broker_restart_loses_nothing(&h).await;
}

/// A running consumer group whose connection the broker closes keeps going:
/// the subscription reports the loss, reconnects and handles everything
/// published before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_group_recovers_after_the_broker_closes_its_connection() {
    let _alone = BROKER.lock().await;
    let Some((t, topic)) = support::setup("recover").await else {
        return;
    };
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    let router = Router::new().fallback(handler_fn(
        move |_e: Envelope<serde_json::Value>, _ctx: Context| {
            let h = Arc::clone(&h);
            async move {
                h.fetch_add(1, SeqCst);
                Outcome::Done
            }
        },
    ));
    let group = support::start(&t, ConsumerGroup::new(&topic, "g", router)).await;
    t.publish((0..50).map(|i| envelope(&topic, i)).collect())
        .await
        .unwrap();
    support::rabbitmqctl(&["close_all_connections", "--global", "test: forced close"]).await;
    // The loss must surface as a subscription error (and the member keep going).
    wait_until(
        "the loss surfaced as a subscription error",
        Duration::from_secs(30),
        || group.stats().subscription_errors >= 1,
    )
    .await;
    let mut pending: Vec<Message> = (50..100).map(|i| envelope(&topic, i)).collect();
    for _ in 0..100 {
        match t.publish(pending.clone()).await {
            Ok(()) => {
                pending.clear();
                break;
            }
            Err(e) => {
                eprintln!("publish after forced close: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert!(pending.is_empty(), "publishing never recovered");
    wait_for(
        "100 handled after the connection was closed",
        Duration::from_secs(30),
        || {
            let n = handled.load(SeqCst);
            std::future::ready(if n >= 100 {
                Ok(())
            } else {
                Err(format!("only {n}"))
            })
        },
    )
    .await;
    let report = group.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.abandoned, 0, "nothing left unsettled at shutdown");
    t.shutdown().await;
}

/// Broker restarts under a running group with work in hand: once the broker
/// is back and the queue drained, the group holds nothing in flight (no
/// settle waits forever on a dead channel) and a graceful shutdown right
/// after abandons nothing. Every message is handled at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_flight_returns_to_zero_after_broker_restarts() {
    let _alone = BROKER.lock().await;
    let Some((t, topic)) = support::setup("inflight").await else {
        return;
    };
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let s = Arc::clone(&seen);
    let router = Router::new().fallback(handler_fn(
        move |_e: Envelope<serde_json::Value>, ctx: Context| {
            let s = Arc::clone(&s);
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                lock(&s).insert(ctx.message_id().to_owned());
                Outcome::Done
            }
        },
    ));
    let group = support::start(&t, ConsumerGroup::new(&topic, "g", router).workers(10)).await;
    let total = 3000;
    let publisher = {
        let t = t.clone();
        let batches: Vec<Vec<Message>> = (0..total)
            .map(|i| envelope(&topic, i))
            .collect::<Vec<_>>()
            .chunks(25)
            .map(<[Message]>::to_vec)
            .collect();
        tokio::spawn(async move {
            for batch in batches {
                let mut tries = 0;
                while let Err(e) = t.publish(batch.clone()).await {
                    tries += 1;
                    assert!(tries < 200, "publishing never recovered: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // Restart while deliveries are being handled and acked. The points are
    // absolute counts below the total, so a group that drained the queue
    // quickly after the first restart (the publisher outran by the broker's
    // downtime) still reaches the second one; a group that never recovers
    // fails the wait below with the count it got to.
    for at in [total / 3, 2 * total / 3] {
        wait_until(
            &format!("{at} handled before the restart"),
            Duration::from_secs(120),
            || lock(&seen).len() >= at,
        )
        .await;
        restart_broker().await;
    }
    publisher.await.unwrap();
    wait_for(
        "every message handled after the restarts",
        Duration::from_secs(120),
        || {
            let n = lock(&seen).len();
            std::future::ready(if n >= total {
                Ok(())
            } else {
                Err(format!("only {n} of {total}"))
            })
        },
    )
    .await;
    // Settles are bounded (30 s by default): in-flight work drains.
    wait_for(
        "nothing in flight after the queue drained (a settle that never returns would hold it)",
        Duration::from_secs(60),
        || {
            let stats = group.stats();
            std::future::ready(if stats.in_flight == 0 {
                Ok(())
            } else {
                Err(format!("{stats:?}"))
            })
        },
    )
    .await;
    let started = tokio::time::Instant::now();
    let report = group.shutdown(Duration::from_secs(10)).await;
    assert_eq!(
        report.abandoned, 0,
        "graceful shutdown abandoned work: {report:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    eprintln!("after 2 restarts: {:?}", report.stats);
    t.shutdown().await;
}
