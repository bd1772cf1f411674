//! Settling that fails or never returns, injected between the runtime and
//! the memory bus: the runtime backs off instead of spinning, counts only
//! what the transport took, and no worker waits forever on a settle call.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use waitlist_core::conformance::{wait_until, TestEvent};
use waitlist_core::events::Envelope;
use waitlist_core::runtime::{handler_fn, ConsumerGroup, Context, Outcome, Router};
use waitlist_core::{
    Capabilities, DeadLetterQueue, Delivery, Error, Headers, Message, Publisher, Queue, Result,
    Settle, Subscribe, Subscription,
};
use waitlist_transport_memory::MemoryBus;

/// How the injected settle behaves while `failing` is set.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Every settle call fails with a permanent error.
    Refuse,
    /// Every settle call waits forever.
    Hang,
}

/// The memory bus with settling that fails while `failing` is set;
/// counts the deliveries it hands out.
#[derive(Debug)]
struct FaultyQueue {
    bus: MemoryBus,
    fault: Fault,
    failing: Arc<AtomicBool>,
    delivered: Arc<AtomicUsize>,
    settle_timeout: Duration,
}

#[derive(Debug)]
struct FaultySubscription {
    inner: Box<dyn Subscription>,
    fault: Fault,
    failing: Arc<AtomicBool>,
    delivered: Arc<AtomicUsize>,
    settle_timeout: Duration,
}

/// Settles through the bus's own delivery unless the fault is on; dropped
/// unsettled, the bus's delivery is dropped too (and redelivered).
#[derive(Debug)]
struct FaultySettle {
    inner: Option<Delivery>,
    fault: Fault,
    failing: Arc<AtomicBool>,
}

impl FaultySettle {
    async fn inject(&self) -> Result<()> {
        if !self.failing.load(SeqCst) {
            return Ok(());
        }
        match self.fault {
            Fault::Refuse => Err(Error::Rejected("injected settle failure".into())),
            Fault::Hang => std::future::pending().await,
        }
    }

    fn take(&mut self) -> Result<Delivery> {
        self.inner
            .take()
            .ok_or_else(|| Error::Rejected("already settled".into()))
    }
}

#[async_trait]
impl Settle for FaultySettle {
    async fn ack(&mut self) -> Result<()> {
        self.inject().await?;
        self.take()?.ack().await.map_err(|e| e.error)
    }

    async fn nack(&mut self, delay: Option<Duration>, failure: Headers) -> Result<()> {
        self.inject().await?;
        self.take()?.nack(delay, failure).await.map_err(|e| e.error)
    }

    async fn dead_letter(&mut self, failure: Headers) -> Result<()> {
        self.inject().await?;
        self.take()?.dead_letter(failure).await.map_err(|e| e.error)
    }
}

#[async_trait]
impl Subscription for FaultySubscription {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        let d = match self.inner.next().await? {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        self.delivered.fetch_add(1, SeqCst);
        let (message, attempt) = (d.message.clone(), d.attempt);
        let settle = FaultySettle {
            inner: Some(d),
            fault: self.fault,
            failing: Arc::clone(&self.failing),
        };
        Some(Ok(Delivery::new(message, attempt, Box::new(settle))
            .with_settle_timeout(self.settle_timeout)))
    }

    async fn close(&mut self) -> Result<()> {
        self.inner.close().await
    }
}

#[async_trait]
impl Queue for FaultyQueue {
    fn capabilities(&self) -> Capabilities {
        self.bus.capabilities()
    }

    async fn join(&self, request: Subscribe) -> Result<Box<dyn Subscription>> {
        Ok(Box::new(FaultySubscription {
            inner: self.bus.join(request).await?,
            fault: self.fault,
            failing: Arc::clone(&self.failing),
            delivered: Arc::clone(&self.delivered),
            settle_timeout: self.settle_timeout,
        }))
    }

    async fn dead_letters(&self, topic: &str, group: &str) -> Result<Box<dyn DeadLetterQueue>> {
        self.bus.dead_letters(topic, group).await
    }
}

fn faulty(fault: Fault, settle_timeout: Duration) -> (MemoryBus, Arc<FaultyQueue>) {
    let bus = MemoryBus::new();
    let queue = Arc::new(FaultyQueue {
        bus: bus.clone(),
        fault,
        failing: Arc::new(AtomicBool::new(true)),
        delivered: Arc::default(),
        settle_timeout,
    });
    (bus, queue)
}

fn test_message(topic: &str) -> Message {
    let env = Envelope::new(
        "account",
        "k",
        TestEvent {
            seq: 1,
            key: "k".into(),
        },
    );
    Message::from_envelope(topic, &env).expect("encode test event")
}

fn done_router(calls: &Arc<AtomicUsize>) -> Router {
    let c = Arc::clone(calls);
    Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, _ctx: Context| {
        c.fetch_add(1, SeqCst);
        async { Outcome::Done }
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_that_keeps_failing_is_retried_with_backoff_not_in_a_loop() {
    let (bus, queue) = faulty(Fault::Refuse, Duration::from_secs(5));
    let calls = Arc::new(AtomicUsize::new(0));
    let running = ConsumerGroup::new("t", "g", done_router(&calls))
        .workers(4)
        .start(Arc::clone(&queue) as Arc<dyn Queue>)
        .await
        .expect("start");
    bus.publish_one(test_message("t")).await.expect("publish");

    let window = Duration::from_secs(3);
    tokio::time::sleep(window).await;
    let attempts = queue.delivered.load(SeqCst);
    let per_second = attempts as f64 / window.as_secs_f64();
    eprintln!("deliveries of one message whose settle always fails: {attempts} in {window:?} ({per_second:.1}/s)");
    // Pauses of 100, 200, 400, 800 ms, 1.6 s after each failure: at most
    // five deliveries in three seconds (a loop made thousands).
    assert!(
        (2..=6).contains(&attempts),
        "{attempts} deliveries in {window:?}: the runtime must back off after a failed settle"
    );
    let s = running.stats();
    assert_eq!(
        s.done, 0,
        "nothing counts as done while its ack fails: {s:?}"
    );
    assert!(s.settle_errors >= 2, "{s:?}");

    // Once settling works again the message is handled and acked.
    queue.failing.store(false, SeqCst);
    wait_until("the message acked", Duration::from_secs(15), || {
        running.stats().done == 1
    })
    .await;
    wait_until("the bus to hold nothing", Duration::from_secs(5), || {
        bus.group_len("t", "g") == Some(0)
    })
    .await;
    let report = running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.abandoned, 0);
    assert_eq!(report.stats.in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_that_never_returns_is_given_up_within_its_timeout() {
    let (bus, queue) = faulty(Fault::Hang, Duration::from_millis(100));
    let calls = Arc::new(AtomicUsize::new(0));
    let running = ConsumerGroup::new("t", "g", done_router(&calls))
        .workers(2)
        .start(Arc::clone(&queue) as Arc<dyn Queue>)
        .await
        .expect("start");
    bus.publish_one(test_message("t")).await.expect("publish");

    wait_until("a settle error", Duration::from_secs(10), || {
        running.stats().settle_errors >= 1
    })
    .await;
    assert_eq!(running.stats().done, 0);
    // The worker and its in-flight slot come back: with settling healed the
    // redelivered message is acked and nothing stays in flight.
    queue.failing.store(false, SeqCst);
    wait_until("the message acked", Duration::from_secs(15), || {
        running.stats().done == 1
    })
    .await;
    wait_until("nothing in flight", Duration::from_secs(5), || {
        running.stats().in_flight == 0
    })
    .await;
    let started = Instant::now();
    let report = running.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.abandoned, 0, "a graceful shutdown abandons nothing");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?}",
        started.elapsed()
    );
    assert!(
        calls.load(SeqCst) >= 2,
        "the message was handled again after the lost settle"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_counted_apart_and_retried() {
    let bus = MemoryBus::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let router = Router::new().on(handler_fn(move |_e: Envelope<TestEvent>, _ctx: Context| {
        let first = c.fetch_add(1, SeqCst) == 0;
        async move {
            assert!(!first, "injected panic on the first attempt");
            Outcome::Done
        }
    }));
    let running = ConsumerGroup::new("t", "g", router)
        .retry(waitlist_core::runtime::RetryPolicy::fixed(
            3,
            Duration::from_millis(10),
        ))
        .start(Arc::new(bus.clone()))
        .await
        .expect("start");
    bus.publish_one(test_message("t")).await.expect("publish");
    wait_until("handled after the panic", Duration::from_secs(5), || {
        running.stats().done == 1
    })
    .await;
    let s = running.shutdown(Duration::from_secs(5)).await.stats;
    assert_eq!((s.panics, s.retried, s.done), (1, 1, 1), "{s:?}");
}
