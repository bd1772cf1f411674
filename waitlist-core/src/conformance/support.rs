//! Harness and helpers shared by the conformance tests.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::events::{Envelope, EventData};
use crate::{Capabilities, Delivery, Message, Publisher, Queue, Subscription};

/// Default time to wait for an expected message.
pub const WAIT: Duration = Duration::from_secs(30);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type PublisherFactory = Box<dyn Fn() -> BoxFuture<crate::Result<Arc<dyn Publisher>>> + Send + Sync>;
type Restart = Box<dyn Fn() -> BoxFuture<()> + Send + Sync>;

/// A transport under test.
pub struct Harness {
    /// Publisher shared by the tests (never closed by them).
    pub publisher: Arc<dyn Publisher>,
    /// The consuming side.
    pub queue: Arc<dyn Queue>,
    /// Makes a new, independent publisher (closed by `publisher_close_flushes`).
    pub new_publisher: PublisherFactory,
    /// Restarts the broker, when the transport supports it.
    pub restart: Option<Restart>,
    /// How long to wait to be sure that nothing more arrives.
    pub quiet: Duration,
    /// Prefix of the topic and group names the tests create.
    pub prefix: String,
    /// Fraction of the volume tests' message counts to send (concurrency
    /// stays the same): 1.0 on real brokers; lower for an emulator whose
    /// cost grows with the backlog (moto's SQS is quadratic in it).
    pub volume: f64,
    /// A second consuming side on the same broker (same names) whose publish
    /// size limit is below [`queue`](Self::queue)'s, for
    /// [`oversized_messages_are_dead_lettered_once`](super::oversized_messages_are_dead_lettered_once).
    /// `None`: the suite wraps `queue` to report a smaller limit (right for
    /// a transport that checks no size when settling).
    pub limited_queue: Option<Arc<dyn Queue>>,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("transport", &self.queue.capabilities().name)
            .field("restart", &self.restart.is_some())
            .finish()
    }
}

impl Harness {
    /// A harness with 300 ms quiet time and no restart.
    pub fn new(
        publisher: Arc<dyn Publisher>,
        queue: Arc<dyn Queue>,
        new_publisher: PublisherFactory,
    ) -> Self {
        Self {
            publisher,
            queue,
            new_publisher,
            restart: None,
            quiet: Duration::from_millis(300),
            prefix: "conformance".to_owned(),
            volume: 1.0,
            limited_queue: None,
        }
    }

    /// The transport's capabilities.
    pub fn caps(&self) -> Capabilities {
        self.queue.capabilities()
    }

    /// `n` scaled by [`volume`](Self::volume), at least 1.
    pub fn count(&self, n: usize) -> usize {
        ((n as f64 * self.volume).round() as usize).max(1)
    }

    /// A fresh name for a topic or group.
    pub fn name(&self, what: &str) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        format!("{}-{what}-{}", self.prefix, &id[..12])
    }

    /// Called when the broker is missing: fails under
    /// `WAITLIST_REQUIRE_BROKERS=1`, otherwise prints that the test is skipped.
    pub fn missing_broker(test: &str) {
        let required = std::env::var("WAITLIST_REQUIRE_BROKERS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{test}: broker not reachable and WAITLIST_REQUIRE_BROKERS=1"
        );
        eprintln!(
            "SKIPPED {test}: broker not reachable (set WAITLIST_REQUIRE_BROKERS=1 to fail instead)"
        );
    }

    /// Subscribes with default options.
    pub async fn subscribe(&self, topic: &str, group: &str) -> Box<dyn Subscription> {
        self.queue
            .subscribe(topic, group, crate::SubscribeOptions::default())
            .await
            .unwrap_or_else(|e| panic!("subscribe {topic}/{group}: {e}"))
    }

    /// Publishes and panics on error.
    pub async fn publish(&self, messages: Vec<Message>) {
        if let Err(e) = self.publisher.publish(messages).await {
            panic!("publish failed: {e}");
        }
    }
}

/// Receives the next delivery or panics after `wait`.
pub(crate) async fn recv(sub: &mut Box<dyn Subscription>, wait: Duration) -> Delivery {
    match tokio::time::timeout(wait, sub.next()).await {
        Ok(Some(Ok(d))) => d,
        Ok(Some(Err(e))) => panic!("subscription error: {e}"),
        Ok(None) => panic!("subscription closed unexpectedly"),
        Err(_) => panic!("no delivery within {wait:?}"),
    }
}

/// Receives with a timeout, `None` when nothing arrives.
pub(crate) async fn try_recv(sub: &mut Box<dyn Subscription>, wait: Duration) -> Option<Delivery> {
    match tokio::time::timeout(wait, sub.next()).await {
        Ok(Some(Ok(d))) => Some(d),
        Ok(Some(Err(e))) => panic!("subscription error: {e}"),
        Ok(None) | Err(_) => None,
    }
}

/// Acks or panics.
pub(crate) async fn ack(d: Delivery) {
    if let Err(e) = d.ack().await {
        panic!("ack failed: {e}");
    }
}

/// Receives and acks deliveries until `expected` distinct ids arrived.
pub(crate) async fn drain_ids(
    sub: &mut Box<dyn Subscription>,
    expected: usize,
    wait: Duration,
) -> HashSet<String> {
    let mut ids = HashSet::new();
    while ids.len() < expected {
        let d = match tokio::time::timeout(wait, sub.next()).await {
            Ok(Some(Ok(d))) => d,
            Ok(Some(Err(e))) => panic!("subscription error: {e}"),
            _ => panic!(
                "only {} of {expected} messages arrived within {wait:?}",
                ids.len()
            ),
        };
        ids.insert(d.message.id.clone());
        ack(d).await;
    }
    ids
}

/// Polls `cond` every 10 ms until it holds, panicking after `wait`: the one
/// way tests of the SDK wait for a condition (never a fixed sleep).
/// [`eventually`] and [`wait_for`] are the same for asynchronous checks.
pub async fn wait_until(what: &str, wait: Duration, mut cond: impl FnMut() -> bool) {
    eventually(what, wait, || std::future::ready(cond())).await;
}

/// Polls the asynchronous `cond` every 10 ms until it holds, panicking
/// after `wait`.
pub async fn eventually<F, Fut>(what: &str, wait: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for(what, wait, || {
        let check = cond();
        async move {
            if check.await {
                Ok(())
            } else {
                Err(String::new())
            }
        }
    })
    .await;
}

/// Polls `probe` every 10 ms until it returns `Ok`, and returns its value;
/// after `wait` it panics with `what` and the last `Err` (which should say
/// how far things got, e.g. "41 of 50 arrived").
pub async fn wait_for<T, F, Fut>(what: &str, wait: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let last = match probe().await {
            Ok(value) => return value,
            Err(last) => last,
        };
        if tokio::time::Instant::now() >= deadline {
            let sep = if last.is_empty() { "" } else { ": " };
            panic!("timed out after {wait:?} waiting for {what}{sep}{last}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The event the runtime tests publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestEvent {
    /// Sequence number within its key.
    pub seq: u64,
    /// Partition key.
    pub key: String,
}

impl EventData for TestEvent {
    const TYPES: &'static [&'static str] = &["conformance.test"];
}

/// An enveloped [`TestEvent`] message on `topic` keyed by `key`.
pub(crate) fn test_message(topic: &str, key: &str, seq: u64) -> Message {
    let env = Envelope::new(
        "account",
        key,
        TestEvent {
            seq,
            key: key.to_owned(),
        },
    );
    match Message::from_envelope(topic, &env) {
        Ok(m) => m,
        Err(e) => panic!("encoding a test event: {e}"),
    }
}

/// `tasks` concurrent publishers, each sending `per` plain messages on
/// `topic` in calls of `chunk` (`publish_one` when 1); returns the ids of
/// all of them once every task has finished. A failed publish fails the test.
pub(crate) async fn publish_concurrently(
    publisher: &Arc<dyn Publisher>,
    topic: &str,
    tasks: usize,
    per: usize,
    chunk: usize,
) -> HashSet<String> {
    let mut expected = HashSet::new();
    let mut running = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let msgs = plain_messages(topic, per, &format!("t{t}"));
        expected.extend(msgs.iter().map(|m| m.id.clone()));
        let p = Arc::clone(publisher);
        running.push(tokio::spawn(async move {
            if chunk == 1 {
                for m in msgs {
                    p.publish_one(m).await?;
                }
            } else {
                for c in msgs.chunks(chunk) {
                    p.publish(c.to_vec()).await?;
                }
            }
            Ok::<(), crate::Error>(())
        }));
    }
    for t in running {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("publish failed: {e}"),
            Err(e) => panic!("publisher task failed: {e}"),
        }
    }
    expected
}

/// `n` plain messages with unique ids on `topic`.
pub(crate) fn plain_messages(topic: &str, n: usize, tag: &str) -> Vec<Message> {
    (0..n)
        .map(|i| {
            Message::new(topic, format!("{{\"n\":{i}}}")).with_key(format!("{tag}-{}", i % 32))
        })
        .collect()
}
