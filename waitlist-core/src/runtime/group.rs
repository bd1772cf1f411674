//! Consumer groups: a subscription, a worker pool and a dispatcher.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::layer::{Deduplicate, Guard, Layer, PayloadLimit};
use super::observer::Observer;
use super::worker::Processor;
use super::{IdempotencyStore, PerKeyScheduler, RetryPolicy, Router};
use crate::sync::lock;
use crate::transport::{OrderingGuarantee, SubscribeOptions};
use crate::{Delivery, Queue, Result, Subscription};

/// A consumer group's configuration; [`start`](Self::start) runs one member.
#[derive(Debug)]
pub struct ConsumerGroup {
    topic: String,
    group: String,
    router: Router,
    workers: usize,
    ordering: OrderingGuarantee,
    retry: RetryPolicy,
    max_in_flight: Option<usize>,
    idempotency: Option<Arc<dyn IdempotencyStore>>,
    dedupe_ttl: Duration,
    handler_timeout: Option<Duration>,
    shutdown_timeout: Duration,
    max_payload: Option<usize>,
    layers: Vec<Arc<dyn Layer>>,
}

impl ConsumerGroup {
    /// Group `group` on `topic`, handling with `router`: 10 workers, no
    /// ordering, the default [`RetryPolicy`], no deduplication.
    pub fn new(
        topic: impl Into<String>,
        group: impl Into<String>,
        router: impl Into<Router>,
    ) -> Self {
        Self {
            topic: topic.into(),
            group: group.into(),
            router: router.into(),
            workers: 10,
            ordering: OrderingGuarantee::None,
            retry: RetryPolicy::default(),
            max_in_flight: None,
            idempotency: None,
            dedupe_ttl: Duration::from_secs(24 * 3600),
            handler_timeout: None,
            shutdown_timeout: Duration::from_secs(30),
            max_payload: None,
            layers: Vec::new(),
        }
    }

    /// Worker pool size (at least 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Ordering: [`OrderingGuarantee::PerKey`] runs keys in parallel but one
    /// message per key at a time, in order.
    pub fn ordering(mut self, ordering: OrderingGuarantee) -> Self {
        self.ordering = ordering;
        self
    }

    /// Retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Most deliveries fetched and not yet settled (default 2 × workers, at
    /// least `workers`): the back-pressure bound of the group.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = Some(max.max(1));
        self
    }

    /// Deduplicates by message id through `store`, remembering handled ids
    /// for `ttl`.
    pub fn idempotency(mut self, store: Arc<dyn IdempotencyStore>, ttl: Duration) -> Self {
        self.idempotency = Some(store);
        self.dedupe_ttl = ttl;
        self
    }

    /// Handlers running longer are abandoned and retried.
    pub fn handler_timeout(mut self, limit: Duration) -> Self {
        self.handler_timeout = Some(limit);
        self
    }

    /// Deadline for in-flight work when the handle is dropped (default 30 s).
    pub fn shutdown_timeout(mut self, limit: Duration) -> Self {
        self.shutdown_timeout = limit;
        self
    }

    /// Dead-letters payloads larger than `bytes` unhandled (default, and
    /// at most: the transport's own limit).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// Wraps every handler of the group in `layer` (see [`Layer`]): layers
    /// run in the order they were added, inside the runtime's own
    /// (payload limit, deduplication, panic containment, timeout, timing)
    /// and around the router.
    pub fn layer(mut self, layer: impl Layer) -> Self {
        self.layers.push(Arc::new(layer));
        self
    }

    /// The payload limit (checked before the chain) and the chain around the
    /// router: the runtime's layers, then the group's.
    fn chain(
        &mut self,
        transport_max: usize,
        observer: &Arc<Observer>,
    ) -> (PayloadLimit, Vec<Arc<dyn Layer>>) {
        let limit = self
            .max_payload
            .map_or(transport_max, |m| m.min(transport_max));
        let mut chain: Vec<Arc<dyn Layer>> = Vec::new();
        if let Some(store) = self.idempotency.take() {
            let lease = self.handler_timeout.unwrap_or(Duration::from_secs(300)) * 2;
            let in_progress = self.retry.base_delay(1);
            chain.push(Arc::new(Deduplicate::new(
                store,
                self.dedupe_ttl,
                lease,
                in_progress,
            )));
        }
        chain.push(Arc::new(Guard {
            observer: Arc::clone(observer),
            timeout: self.handler_timeout,
        }));
        chain.append(&mut self.layers);
        (PayloadLimit(limit), chain)
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.group
    }

    /// Configured worker pool size.
    pub fn worker_count(&self) -> usize {
        self.workers
    }

    /// Subscribes as one member of the group and starts the worker pool.
    /// Call it again (on this or another process) for more members.
    ///
    /// # Errors
    /// If subscribing fails.
    #[must_use = "dropping the RunningGroup stops the group at once"]
    pub async fn start(mut self, queue: Arc<dyn Queue>) -> Result<RunningGroup> {
        let workers = self.workers;
        let max_in_flight = self.max_in_flight.unwrap_or(workers * 2).max(workers);
        let caps = queue.capabilities();
        let options = SubscribeOptions::new(self.ordering, max_in_flight);
        let subscription = queue.subscribe(&self.topic, &self.group, options).await?;
        let observer = Arc::new(Observer::new(&self.group, self.router.labels().iter()));
        let (payload_limit, layers) = self.chain(caps.max_payload, &observer);
        let (stop_tx, stop_rx) = watch::channel(None);
        let processor = Arc::new(Processor {
            topic: Arc::from(self.topic.as_str()),
            group: Arc::from(self.group.as_str()),
            router: self.router,
            retry: self.retry,
            payload_limit,
            layers,
            observer: Arc::clone(&observer),
            settle_failures: std::sync::atomic::AtomicU32::new(0),
            stop: stop_rx.clone(),
        });
        let dispatcher = Dispatcher {
            subscription: tokio::sync::Mutex::new(subscription),
            processor,
            workers,
            max_in_flight,
            per_key: self.ordering == OrderingGuarantee::PerKey,
            stop: stop_rx,
            default_deadline: self.shutdown_timeout,
        };
        tracing::info!(group = %self.group, topic = %self.topic, workers, max_in_flight, "consumer group started");
        let members = MemberGauge::up(&self.group);
        let task = tokio::spawn(async move {
            let _members = members;
            dispatcher.run().await;
        });
        Ok(RunningGroup {
            group: self.group,
            observer,
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// What a group has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupStats {
    /// Deliveries handled with [`Outcome::Done`](super::Outcome::Done).
    pub done: u64,
    /// Deliveries skipped (no interest, or [`Outcome::Skip`](super::Outcome::Skip)).
    pub skipped: u64,
    /// Of `skipped`, the deliveries of an event type the group has no
    /// route for: a misrouted event shows here.
    pub unrouted: u64,
    /// Deliveries sent back for a retry.
    pub retried: u64,
    /// Deliveries dead-lettered.
    pub dead_lettered: u64,
    /// Duplicate deliveries acknowledged without running the handler.
    pub duplicates: u64,
    /// Settle calls that failed after retries (those messages are redelivered).
    pub settle_errors: u64,
    /// Handler panics, contained and retried (also counted in `retried`
    /// or `dead_lettered`, by what happened next).
    pub panics: u64,
    /// Errors returned by the subscription.
    pub subscription_errors: u64,
    /// Deliveries fetched and not yet settled.
    pub in_flight: usize,
    /// Highest `in_flight` seen.
    pub peak_in_flight: usize,
}

impl GroupStats {
    /// Deliveries settled so far, whatever the outcome (done, skipped,
    /// retried, dead-lettered, duplicates): what a caller waits on to know
    /// that the group has seen what was published.
    pub fn settled(&self) -> u64 {
        self.done + self.skipped + self.retried + self.dead_lettered + self.duplicates
    }
}

/// How a group ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupReport {
    /// Group name.
    pub group: String,
    /// Final counters.
    pub stats: GroupStats,
    /// Deliveries still unsettled at the deadline; the transport redelivers them.
    pub abandoned: usize,
}

/// A running member of a consumer group.
///
/// Dropping it stops the member like [`shutdown`](Self::shutdown) with the
/// group's shutdown timeout, without waiting. Several groups run together
/// in a [`Workers`](super::Workers) set.
#[derive(Debug)]
#[must_use = "dropping a RunningGroup stops the group"]
pub struct RunningGroup {
    group: String,
    observer: Arc<Observer>,
    stop: watch::Sender<Option<Duration>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningGroup {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.group
    }

    /// Whether the member is still running (not stopped, subscription open).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Counters so far.
    pub fn stats(&self) -> GroupStats {
        self.observer.snapshot()
    }

    /// Stops fetching, lets in-flight deliveries finish and settle until
    /// `deadline`, then abandons the rest (the transport redelivers them).
    pub async fn shutdown(mut self, deadline: Duration) -> GroupReport {
        let _ = self.stop.send(Some(deadline));
        self.wait().await
    }

    /// Waits until the member ends on its own (its subscription closed).
    pub async fn join(mut self) -> GroupReport {
        self.wait().await
    }

    async fn wait(&mut self) -> GroupReport {
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!(group = %self.group, error = %e, "consumer group task failed");
            }
        }
        GroupReport {
            group: self.group.clone(),
            stats: self.observer.snapshot(),
            abandoned: self.observer.abandoned.load(Relaxed),
        }
    }
}

impl Drop for RunningGroup {
    fn drop(&mut self) {
        if self.task.is_some() {
            let _ = self.stop.send(Some(Duration::MAX));
        }
    }
}

/// One running member in the `waitlist_group_members` gauge, taken out
/// when dropped (at the member's end, also if its task panicked).
struct MemberGauge(metrics::Gauge);

impl MemberGauge {
    fn up(group: &str) -> Self {
        let gauge = metrics::gauge!(super::metrics::GROUP_MEMBERS, "group" => group.to_owned());
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for MemberGauge {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

struct Job {
    delivery: Delivery,
    _permit: OwnedSemaphorePermit,
}

type Scheduler = Arc<Mutex<PerKeyScheduler<Job>>>;

/// The member's shared state: workers pull from the subscription directly
/// (no dispatcher hop), bounded by the in-flight permits.
struct Dispatcher {
    subscription: tokio::sync::Mutex<Box<dyn Subscription>>,
    processor: Arc<Processor>,
    workers: usize,
    max_in_flight: usize,
    per_key: bool,
    stop: watch::Receiver<Option<Duration>>,
    default_deadline: Duration,
}

struct Pool {
    shared: Arc<Dispatcher>,
    permits: Arc<Semaphore>,
    scheduler: Scheduler,
    /// Set once the subscription reported its end.
    ended: Arc<AtomicBool>,
}

impl Dispatcher {
    async fn run(self) {
        let observer = Arc::clone(&self.processor.observer);
        let group = self.processor.group.to_string();
        let workers = self.workers;
        let mut stop = self.stop.clone();
        let pool = Arc::new(Pool {
            permits: Arc::new(Semaphore::new(self.max_in_flight)),
            scheduler: Arc::new(Mutex::new(PerKeyScheduler::new())),
            ended: Arc::new(AtomicBool::new(false)),
            shared: Arc::new(self),
        });
        let mut tasks = JoinSet::new();
        for worker_id in 0..workers {
            tasks.spawn(worker_loop(worker_id, Arc::clone(&pool)));
        }
        // Wait until asked to stop or until every worker ended on its own.
        let stopped = tokio::select! {
            _ = stop.changed() => true,
            _ = async { while tasks.join_next().await.is_some() {} } => false,
        };
        let deadline = (*stop.borrow()).unwrap_or(pool.shared.default_deadline);
        if stopped {
            let drained = tokio::time::timeout(deadline, async {
                while tasks.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                // Deliveries waiting in the scheduler are dropped unsettled too.
                lock(&pool.scheduler).clear();
                let left = observer.in_flight();
                observer.abandoned.store(left, Relaxed);
                tracing::warn!(%group, abandoned = left, "shutdown deadline passed; unsettled deliveries will be redelivered");
            }
        }
        if let Err(error) = pool.shared.subscription.lock().await.close().await {
            tracing::warn!(%group, %error, "closing the subscription failed");
        }
        tracing::info!(%group, "consumer group stopped");
    }
}

/// Fetches the next delivery for a worker: `Some(Some(job))` to run now,
/// `Some(None)` when it waits behind its key, `None` when the member stops.
async fn fetch(pool: &Pool, stop: &mut watch::Receiver<Option<Duration>>) -> Option<Option<Job>> {
    if pool.ended.load(Relaxed) || stop.borrow().is_some() {
        return None;
    }
    // One wait for the stop around the whole fetch (a `changed()` future
    // per await point cost a waiter registration each, per delivery).
    tokio::select! {
        biased;
        _ = stop.changed() => None,
        fetched = fetch_until_stopped(pool) => fetched,
    }
}

/// [`fetch`] without the stop: cancelled at an await point when the member
/// stops (before it holds a delivery).
async fn fetch_until_stopped(pool: &Pool) -> Option<Option<Job>> {
    let shared = &pool.shared;
    let observer = &shared.processor.observer;
    let permit = Arc::clone(&pool.permits).acquire_owned().await.ok()?;
    let mut error_pause = Duration::from_millis(100);
    loop {
        if pool.ended.load(Relaxed) {
            return None;
        }
        let mut sub = shared.subscription.lock().await;
        match sub.next().await {
            None => {
                pool.ended.store(true, Relaxed);
                return None;
            }
            Some(Ok(delivery)) => {
                observer.fetched();
                let job = Job {
                    delivery,
                    _permit: permit,
                };
                // Submit to the per-key scheduler while still holding the
                // subscription, so that deliveries of one key enter it in
                // the order the transport handed them out.
                let message = Arc::clone(&job.delivery.message);
                let runnable = match (message.key.as_deref(), shared.per_key) {
                    (Some(key), true) => lock(&pool.scheduler).submit(key, job),
                    _ => Some(job),
                };
                drop(sub);
                return Some(runnable);
            }
            Some(Err(error)) => {
                observer.subscription_failed();
                let group = &shared.processor.group;
                tracing::warn!(%group, %error, pause = ?error_pause, "subscription error; retrying");
                // Pause while holding the subscription: one retry at a time.
                tokio::time::sleep(error_pause).await;
                error_pause = (error_pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn worker_loop(worker_id: usize, pool: Arc<Pool>) {
    let processor = Arc::clone(&pool.shared.processor);
    let mut stop = pool.shared.stop.clone();
    while let Some(fetched) = fetch(&pool, &mut stop).await {
        // `None`: it waits behind its key (its permit stays taken).
        let Some(mut job) = fetched else { continue };
        loop {
            // The message (shared, not copied) names the key to complete.
            let keyed = pool
                .shared
                .per_key
                .then(|| Arc::clone(&job.delivery.message));
            let Job { delivery, _permit } = job;
            processor.process(delivery, worker_id).await;
            drop(_permit);
            processor.observer.released();
            let key = keyed.as_ref().and_then(|m| m.key.as_deref());
            match key.and_then(|k| lock(&pool.scheduler).complete(k)) {
                Some(next) => job = next,
                None => break,
            }
        }
    }
}
