//! Settling that fails or never returns, injected between the runtime and
//! the memory bus: the runtime backs off instead of spinning, counts only
//! what the transport took, and no worker waits forever on a settle call.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use waitlist_core::conformance::wait_until;
use waitlist_core::runtime::{ConsumerGroup, RunningGroup};
use waitlist_core::{
    Capabilities, DeadLetterQueue, Delivery, Error, Headers, Queue, Result, Settle, Subscribe,
    Subscription,
};
use waitlist_transport_memory::MemoryBus;

use support::{
    assert_a_first_attempt_panic_is_retried, counting_router, publish, start, test_message,
    wait_until_empty,
};

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

/// One message published to a group on `t`/`g` with `workers` workers over
/// a [`FaultyQueue`] whose settling is faulty from the start.
struct OneMessage {
    bus: MemoryBus,
    queue: Arc<FaultyQueue>,
    /// Calls of the handler.
    calls: Arc<AtomicUsize>,
    running: RunningGroup,
}

impl OneMessage {
    async fn publish(fault: Fault, settle_timeout: Duration, workers: usize) -> Self {
        let bus = MemoryBus::new();
        let queue = Arc::new(FaultyQueue {
            bus: bus.clone(),
            fault,
            failing: Arc::new(AtomicBool::new(true)),
            delivered: Arc::default(),
            settle_timeout,
        });
        let calls = Arc::new(AtomicUsize::new(0));
        let group = ConsumerGroup::new("t", "g", counting_router(&calls)).workers(workers);
        let running = start(Arc::clone(&queue) as Arc<dyn Queue>, group).await;
        publish(&bus, vec![test_message("t", "k", 1)]).await;
        Self {
            bus,
            queue,
            calls,
            running,
        }
    }

    /// Heals settling and waits for the message to be acked.
    async fn heal(&self) {
        self.queue.failing.store(false, SeqCst);
        wait_until("the message acked", Duration::from_secs(15), || {
            self.running.stats().done == 1
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_that_keeps_failing_is_retried_with_backoff_not_in_a_loop() {
    let t = OneMessage::publish(Fault::Refuse, Duration::from_secs(5), 4).await;

    let window = Duration::from_secs(3);
    tokio::time::sleep(window).await;
    let attempts = t.queue.delivered.load(SeqCst);
    let per_second = attempts as f64 / window.as_secs_f64();
    eprintln!("deliveries of one message whose settle always fails: {attempts} in {window:?} ({per_second:.1}/s)");
    // Pauses of 100, 200, 400, 800 ms, 1.6 s after each failure: at most
    // five deliveries in three seconds (a loop made thousands).
    assert!(
        (2..=6).contains(&attempts),
        "{attempts} deliveries in {window:?}: the runtime must back off after a failed settle"
    );
    let s = t.running.stats();
    assert_eq!(
        s.done, 0,
        "nothing counts as done while its ack fails: {s:?}"
    );
    assert!(s.settle_errors >= 2, "{s:?}");

    // Once settling works again the message is handled and acked.
    t.heal().await;
    wait_until_empty(&t.bus, "t", "g").await;
    let report = t.running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.abandoned, 0);
    assert_eq!(report.stats.in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_that_never_returns_is_given_up_within_its_timeout() {
    let t = OneMessage::publish(Fault::Hang, Duration::from_millis(100), 2).await;

    wait_until("a settle error", Duration::from_secs(10), || {
        t.running.stats().settle_errors >= 1
    })
    .await;
    assert_eq!(t.running.stats().done, 0);
    // The worker and its in-flight slot come back: with settling healed the
    // redelivered message is acked and nothing stays in flight.
    t.heal().await;
    wait_until("nothing in flight", Duration::from_secs(5), || {
        t.running.stats().in_flight == 0
    })
    .await;
    let started = Instant::now();
    let report = t.running.shutdown(Duration::from_secs(10)).await;
    assert_eq!(report.abandoned, 0, "a graceful shutdown abandons nothing");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?}",
        started.elapsed()
    );
    assert!(
        t.calls.load(SeqCst) >= 2,
        "the message was handled again after the lost settle"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_counted_apart_and_retried() {
    assert_a_first_attempt_panic_is_retried(|group| group).await;
}
