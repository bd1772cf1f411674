//! The transactional outbox on PostgreSQL: staging in the host's
//! transaction, relays (several at once, failing brokers), notifications,
//! retention, the backlog, and the typed publishers through it.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waitlist_core::domain::DomainEventPublisher;
use waitlist_core::events::{topics, Envelope, UserSignedUp};
use waitlist_core::publish::EventPublisher;
use waitlist_core::{async_trait, Error, Message, Publisher, Result};
use waitlist_postgres::{Outbox, OutboxRelay};

use support::{TestDb, WAIT};
use waitlist_core::conformance::eventually;

/// A broker stand-in that records what it is sent, in order, and refuses
/// the first `failures` publishes.
#[derive(Debug, Default)]
struct Sink {
    sent: Mutex<Vec<Message>>,
    failures: AtomicU32,
    calls: AtomicU32,
}

impl Sink {
    fn failing(n: u32) -> Self {
        let s = Self::default();
        s.failures.store(n, Ordering::SeqCst);
        s
    }

    fn sent(&self) -> Vec<Message> {
        self.sent.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Publisher for Sink {
    async fn publish(&self, messages: Vec<Message>) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let refuse = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse {
            return Err(Error::unavailable("broker down (test)"));
        }
        // A little latency, so relays overlap.
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.sent.lock().expect("lock").extend(messages);
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

fn numbered(key: &str, n: u32) -> Message {
    Message::new("orders", format!("{{\"key\":\"{key}\",\"n\":{n}}}"))
        .with_key(key)
        .with_header("n", n.to_string())
}

/// Checks every message arrived exactly once and in order per key; returns
/// how many arrived.
fn assert_once_in_order(sent: &[Message]) -> usize {
    let mut seen = HashSet::new();
    let mut last: HashMap<String, u32> = HashMap::new();
    for m in sent {
        assert!(seen.insert(m.id.clone()), "{} published twice", m.id);
        let Some(key) = m.key.clone() else {
            continue; // no key, no order to keep
        };
        let n: u32 = m.headers["n"].parse().expect("n");
        if let Some(prev) = last.insert(key.clone(), n) {
            assert_eq!(n, prev + 1, "key {key}: {n} came after {prev}");
        } else {
            assert_eq!(n, 0, "key {key} started at {n}");
        }
    }
    seen.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_the_host_commits_is_published_with_the_host_rows() {
    let Some(db) = TestDb::new("outbox_commit").await else {
        return;
    };
    let pool = db.store.pool().clone();
    let s = &db.schema;
    sqlx::raw_sql(&format!(
        "CREATE TABLE \"{s}\".orders (id text PRIMARY KEY)"
    ))
    .execute(&pool)
    .await
    .expect("host table");
    let outbox = db.store.outbox();
    let event = |user: &str| {
        Envelope::new(
            "acme",
            "launch",
            UserSignedUp {
                user_id: user.into(),
                campaign_id: "launch".into(),
                email: format!("{user}@example.com"),
            },
        )
    };

    let mut tx = pool.begin().await.expect("begin");
    sqlx::query(&format!("INSERT INTO \"{s}\".orders VALUES ('o-1')"))
        .execute(&mut *tx)
        .await
        .expect("host row");
    outbox
        .stage_event(&mut *tx, topics::DOMAIN_EVENTS, &event("rolled-back"))
        .await
        .expect("stage");
    tx.rollback().await.expect("rollback");

    let mut tx = pool.begin().await.expect("begin");
    sqlx::query(&format!("INSERT INTO \"{s}\".orders VALUES ('o-2')"))
        .execute(&mut *tx)
        .await
        .expect("host row");
    let id = outbox
        .stage_event(&mut *tx, topics::DOMAIN_EVENTS, &event("ada"))
        .await
        .expect("stage");
    assert_eq!(
        outbox.backlog().await.expect("backlog").pending,
        0,
        "uncommitted"
    );
    tx.commit().await.expect("commit");

    let sink = Arc::new(Sink::default());
    let sent = outbox.relay(sink.clone()).drain().await.expect("drain");
    assert_eq!(sent, 1);
    let got = sink.sent();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, id);
    assert_eq!(got[0].topic, topics::DOMAIN_EVENTS);
    assert_eq!(got[0].key.as_deref(), Some("launch"), "keyed by campaign");
    assert!(String::from_utf8_lossy(&got[0].payload).contains("ada@example.com"));
    let back = Message::from_envelope(topics::DOMAIN_EVENTS, &event("ada")).expect("encode");
    assert_eq!(
        got[0].headers.keys().collect::<Vec<_>>(),
        back.headers.keys().collect::<Vec<_>>()
    );
    assert_eq!(outbox.relay(sink.clone()).drain().await.expect("again"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_relays_publish_every_message_once_and_in_order_per_key() {
    let Some(db) = TestDb::new("outbox_relays").await else {
        return;
    };
    const KEYS: u32 = 24;
    const PER_KEY: u32 = 100;
    let sink = Arc::new(Sink::default());
    // Four relays on four pools (as four processes would be).
    let mut relays = Vec::new();
    for i in 0..4 {
        let store = if i == 0 {
            db.store.clone()
        } else {
            db.second_instance().await
        };
        relays.push(
            OutboxRelay::new(Outbox::new(&store), sink.clone())
                .with_batch_size(37)
                .with_poll_interval(Duration::from_millis(50))
                .start(),
        );
    }
    // Eight writers, each owning three keys, stage in transactions of 1-5.
    let mut writers = Vec::new();
    for w in 0..8u32 {
        let outbox = db.store.outbox();
        let pool = db.store.pool().clone();
        writers.push(tokio::spawn(async move {
            let keys: Vec<String> = (0..KEYS)
                .filter(|k| k % 8 == w)
                .map(|k| format!("k{k}"))
                .collect();
            let mut next = vec![0u32; keys.len()];
            let mut round = 0usize;
            let mut unkeyed = 0usize;
            while next.iter().any(|&n| n < PER_KEY) {
                round += 1;
                let i = round % keys.len();
                if next[i] >= PER_KEY {
                    continue;
                }
                let take = (1 + round % 5) as u32;
                let batch: Vec<Message> = (next[i]..(next[i] + take).min(PER_KEY))
                    .map(|n| numbered(&keys[i], n))
                    .collect();
                next[i] += batch.len() as u32;
                let mut batch = batch;
                if round % 3 == 0 {
                    batch.push(Message::new("orders", "{\"unkeyed\":true}"));
                    unkeyed += 1;
                }
                let mut tx = pool.begin().await.expect("begin");
                outbox.stage(&mut *tx, &batch).await.expect("stage");
                tx.commit().await.expect("commit");
            }
            unkeyed
        }));
    }
    let mut total = (KEYS * PER_KEY) as usize;
    for w in writers {
        total += w.await.expect("writer");
    }
    eventually("every message relayed", Duration::from_secs(60), || async {
        sink.sent().len() >= total
    })
    .await;
    let mut relayed = 0;
    for r in relays {
        relayed += r.stats().relayed();
        r.stop().await;
    }
    assert_eq!(assert_once_in_order(&sink.sent()), total);
    assert_eq!(relayed, total as u64);
    assert_eq!(
        db.store.outbox().backlog().await.expect("backlog").pending,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_broker_delays_messages_but_loses_none_and_keeps_their_order() {
    let Some(db) = TestDb::new("outbox_failing").await else {
        return;
    };
    let outbox = db.store.outbox();
    let sink = Arc::new(Sink::failing(6));
    let relay = outbox
        .relay(sink.clone())
        .with_batch_size(20)
        .with_poll_interval(Duration::from_millis(20))
        .with_backoff(Duration::from_millis(10), Duration::from_millis(80))
        .start();
    for n in 0..40 {
        let batch: Vec<Message> = (0..5).map(|k| numbered(&format!("k{k}"), n)).collect();
        outbox.stage(db.store.pool(), &batch).await.expect("stage");
    }
    eventually("all 200 relayed", Duration::from_secs(30), || async {
        sink.sent().len() >= 200
    })
    .await;
    assert!(
        relay.stats().failed_batches() >= 6,
        "{}",
        relay.stats().failed_batches()
    );
    relay.stop().await;
    assert_eq!(assert_once_in_order(&sink.sent()), 200);
    // The failures are on record with their reason.
    let (attempts, error): (i64, Option<String>) = sqlx::query_as(&format!(
        "SELECT sum(attempts), max(last_error) FROM \"{}\".outbox",
        db.schema
    ))
    .fetch_one(db.store.pool())
    .await
    .expect("attempts");
    assert!(attempts >= 6, "{attempts}");
    assert!(error.is_some_and(|e| e.contains("broker down")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_wakes_the_relay_without_waiting_for_the_poll() {
    let Some(db) = TestDb::new("outbox_notify").await else {
        return;
    };
    let outbox = db.store.outbox();
    let sink = Arc::new(Sink::default());
    let relay = outbox
        .relay(sink.clone())
        .with_poll_interval(Duration::from_secs(3600))
        .start();
    let idle = || async { relay.stats().is_idle() };
    eventually("the relay's first round", WAIT, idle).await;
    for n in 0..3 {
        outbox
            .stage(db.store.pool(), &[numbered("k", n)])
            .await
            .expect("stage");
        eventually("the notified relay publishes", WAIT, || async {
            sink.sent().len() as u32 > n
        })
        .await;
        // Idle again: the relay's quick looks after work have stopped.
        eventually("the relay idle again", WAIT, idle).await;
    }
    relay.stop().await;
    assert_eq!(assert_once_in_order(&sink.sent()), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_is_reported_and_sent_rows_are_purged_after_the_retention() {
    let Some(db) = TestDb::new("outbox_retention").await else {
        return;
    };
    let outbox = db.store.outbox();
    let empty = outbox.backlog().await.expect("backlog");
    assert_eq!((empty.pending, empty.oldest), (0, None));
    let batch: Vec<Message> = (0..3).map(|n| numbered("k", n)).collect();
    outbox.stage(db.store.pool(), &batch).await.expect("stage");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waiting = outbox.backlog().await.expect("backlog");
    assert_eq!(waiting.pending, 3);
    assert!(
        waiting
            .oldest
            .is_some_and(|d| d >= Duration::from_millis(40)),
        "{waiting:?}"
    );

    let sink = Arc::new(Sink::default());
    assert_eq!(outbox.relay(sink.clone()).drain().await.expect("drain"), 3);
    assert_eq!(outbox.backlog().await.expect("backlog").pending, 0);
    assert_eq!(
        outbox
            .purge_sent(Duration::from_secs(3600))
            .await
            .expect("purge"),
        0,
        "kept"
    );
    assert_eq!(outbox.purge_sent(Duration::ZERO).await.expect("purge"), 3);
    // A failed drain reports the broker's error and keeps the rows.
    outbox.stage(db.store.pool(), &batch).await.expect("stage");
    let down = Arc::new(Sink::failing(1));
    let e = outbox.relay(down).drain().await.expect_err("broker down");
    assert!(e.is_transient(), "{e}");
    assert_eq!(outbox.backlog().await.expect("backlog").pending, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_publishers_stage_through_the_outbox() {
    let Some(db) = TestDb::new("outbox_typed").await else {
        return;
    };
    let outbox = db.store.outbox();
    // Broker down: the typed publisher still succeeds, into the outbox.
    let events = DomainEventPublisher::new(EventPublisher::new(outbox.publisher()));
    let id = events
        .user_signed_up(
            "acme",
            UserSignedUp {
                user_id: "ada".into(),
                campaign_id: "launch".into(),
                email: "ada@example.com".into(),
            },
        )
        .await
        .expect("staged");
    assert_eq!(outbox.backlog().await.expect("backlog").pending, 1);
    // Broker back: the relay sends it with the id the host was given.
    let sink = Arc::new(Sink::default());
    assert_eq!(outbox.relay(sink.clone()).drain().await.expect("drain"), 1);
    let got = sink.sent();
    assert_eq!(got[0].id, id);
    assert_eq!(got[0].topic, topics::DOMAIN_EVENTS);
    assert_eq!(
        got[0]
            .headers
            .get(waitlist_core::headers::EVENT_TYPE)
            .map(String::as_str),
        Some("user.signed_up")
    );
}
