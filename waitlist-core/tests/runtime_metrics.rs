//! The consumer runtime over a scripted in-test transport: how each outcome
//! is settled (ack, nack with its delay, dead letter with the failure
//! headers), how failed settle calls are retried, and the metrics it records.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use metrics::LocalRecorderGuard;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use waitlist_core::events::{Envelope, EventData};
use waitlist_core::runtime::metrics as names;
use waitlist_core::runtime::{
    handler_fn, ConsumerGroup, Context, GroupReport, Outcome, RetryPolicy, Router, RunningGroup,
};
use waitlist_core::sync::lock;
use waitlist_core::{
    headers, Capabilities, DeadLetterQueue, Delivery, Error, Headers, Message, Queue, Result,
    Settle, Subscribe, Subscription,
};

const WAIT: Duration = Duration::from_secs(5);
const TOPIC: &str = "scripted";
const GROUP: &str = "metrics-group";
const MAX_PAYLOAD: usize = 4096;

// ---------------------------------------------------------------------------
// The scripted transport
// ---------------------------------------------------------------------------

/// A settle call the runtime made.
#[derive(Debug, Clone, PartialEq)]
enum Settled {
    Ack(String),
    Nack {
        id: String,
        delay: Option<Duration>,
        failure: Headers,
    },
    DeadLetter {
        id: String,
        failure: Headers,
    },
    /// Dropped without a successful settle call.
    Dropped(String),
}

impl Settled {
    fn id(&self) -> &str {
        match self {
            Settled::Ack(id) | Settled::Dropped(id) => id,
            Settled::Nack { id, .. } | Settled::DeadLetter { id, .. } => id,
        }
    }
}

type Log = Arc<Mutex<Vec<Settled>>>;

/// Records settle calls; the first `failures` calls fail with `error`.
#[derive(Debug)]
struct RecordingSettle {
    id: String,
    log: Log,
    failures: usize,
    error: fn() -> Error,
    attempts: Arc<AtomicUsize>,
    settled: bool,
}

impl RecordingSettle {
    fn record(&mut self, what: Settled) -> Result<()> {
        let n = self.attempts.fetch_add(1, SeqCst);
        if n < self.failures {
            return Err((self.error)());
        }
        self.settled = true;
        lock(&self.log).push(what);
        Ok(())
    }
}

#[async_trait]
impl Settle for RecordingSettle {
    async fn ack(&mut self) -> Result<()> {
        let id = self.id.clone();
        self.record(Settled::Ack(id))
    }

    async fn nack(&mut self, delay: Option<Duration>, failure: Headers) -> Result<()> {
        let id = self.id.clone();
        self.record(Settled::Nack { id, delay, failure })
    }

    async fn dead_letter(&mut self, failure: Headers) -> Result<()> {
        let id = self.id.clone();
        self.record(Settled::DeadLetter { id, failure })
    }
}

impl Drop for RecordingSettle {
    fn drop(&mut self) {
        if !self.settled {
            lock(&self.log).push(Settled::Dropped(self.id.clone()));
        }
    }
}

/// A queue with one subscription that hands out what the test sends.
#[derive(Debug)]
struct ScriptedQueue {
    deliveries: Mutex<Option<mpsc::UnboundedReceiver<Delivery>>>,
}

#[derive(Debug)]
struct ScriptedSubscription {
    deliveries: mpsc::UnboundedReceiver<Delivery>,
}

#[async_trait]
impl Queue for ScriptedQueue {
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::new("scripted");
        caps.max_payload = MAX_PAYLOAD;
        caps
    }

    async fn join(&self, _request: Subscribe) -> Result<Box<dyn Subscription>> {
        let deliveries = lock(&self.deliveries)
            .take()
            .ok_or_else(|| Error::Config("the scripted queue has one member".into()))?;
        Ok(Box::new(ScriptedSubscription { deliveries }))
    }

    async fn dead_letters(&self, _topic: &str, _group: &str) -> Result<Box<dyn DeadLetterQueue>> {
        Err(Error::NotSupported("dead letters of the scripted queue"))
    }
}

#[async_trait]
impl Subscription for ScriptedSubscription {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        self.deliveries.recv().await.map(Ok)
    }

    async fn close(&mut self) -> Result<()> {
        self.deliveries.close();
        Ok(())
    }
}

/// The test's side of a [`ScriptedQueue`].
struct Script {
    tx: mpsc::UnboundedSender<Delivery>,
    log: Log,
}

impl Script {
    fn new() -> (Self, Arc<ScriptedQueue>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(ScriptedQueue {
            deliveries: Mutex::new(Some(rx)),
        });
        let log = Log::default();
        (Self { tx, log }, queue)
    }

    /// Hands out `message` as attempt `attempt`; its first `failures` settle
    /// calls fail with `error`. Returns how many settle calls were made.
    fn deliver_failing(
        &self,
        message: Message,
        attempt: u32,
        failures: usize,
        error: fn() -> Error,
    ) -> Arc<AtomicUsize> {
        let attempts = Arc::new(AtomicUsize::new(0));
        let settle = RecordingSettle {
            id: message.id.clone(),
            log: Arc::clone(&self.log),
            failures,
            error,
            attempts: Arc::clone(&attempts),
            settled: false,
        };
        let delivery = Delivery::new(message, attempt, Box::new(settle));
        assert!(self.tx.send(delivery).is_ok(), "the subscription is gone");
        attempts
    }

    fn deliver(&self, message: Message, attempt: u32) {
        self.deliver_failing(message, attempt, 0, || Error::Closed);
    }

    /// Ends the subscription and waits for `running` to stop.
    async fn finish(self, running: RunningGroup) -> GroupReport {
        drop(self);
        running.join().await
    }

    async fn wait_for(&self, n: usize) -> Vec<Settled> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let log = lock(&self.log).clone();
            if log.len() >= n {
                return log;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} settle calls: {log:?}",
                log.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn find<'a>(log: &'a [Settled], id: &str) -> &'a Settled {
    let mut found = log.iter().filter(|s| s.id() == id);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("{id} not settled: {log:?}"));
    assert!(found.next().is_none(), "{id} settled twice: {log:?}");
    first
}

// ---------------------------------------------------------------------------
// Events and handler
// ---------------------------------------------------------------------------

/// Tells the handler which outcome to return.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ping {
    action: String,
}

impl EventData for Ping {
    const TYPES: &'static [&'static str] = &["metrics.ping"];
}

fn ping(id: &str, action: &str) -> Message {
    let mut env = Envelope::new(
        "acc",
        "camp",
        Ping {
            action: action.to_owned(),
        },
    );
    env.id = id.to_owned();
    Message::from_envelope(TOPIC, &env).expect("encode")
}

fn router() -> Router {
    Router::new().on(handler_fn(|e: Envelope<Ping>, _ctx: Context| async move {
        match e.data.action.as_str() {
            "done" => Outcome::Done,
            "skip" => Outcome::skip("nothing to do"),
            "retry_after" => Outcome::retry_after(Duration::from_millis(250), "rate limited"),
            "retry" => Outcome::retry("downstream unavailable"),
            "dead" => Outcome::dead_letter("poison pill"),
            other => Outcome::dead_letter(format!("unexpected action {other}")),
        }
    }))
}

fn group() -> ConsumerGroup {
    ConsumerGroup::new(TOPIC, GROUP, router())
        .workers(2)
        .retry(RetryPolicy::fixed(3, Duration::from_millis(700)))
}

/// The [`group`] started over a new [`Script`], with `recorder` as this
/// thread's metrics recorder until the guard drops (handles bind when the
/// group starts; the runtime must run on this thread).
async fn start_recorded(
    recorder: &DebuggingRecorder,
) -> (LocalRecorderGuard<'_>, Script, RunningGroup) {
    let guard = metrics::set_default_local_recorder(recorder);
    let (script, queue) = Script::new();
    let running = group().start(queue).await.expect("start");
    (guard, script, running)
}

// ---------------------------------------------------------------------------
// Metrics lookup
// ---------------------------------------------------------------------------

/// One snapshot of the recorder (histograms are drained by a snapshot).
struct Metrics(Vec<Sample>);

/// One metric of a snapshot, labels sorted.
struct Sample {
    kind: MetricKind,
    name: String,
    labels: Vec<(String, String)>,
    value: DebugValue,
}

impl Metrics {
    fn take(recorder: &DebuggingRecorder) -> Self {
        let all = recorder
            .snapshotter()
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (kind, key) = key.into_parts();
                let mut labels: Vec<(String, String)> = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                Sample {
                    kind,
                    name: key.name().to_owned(),
                    labels,
                    value,
                }
            })
            .collect();
        Self(all)
    }

    fn get(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> &DebugValue {
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted.sort();
        self.0
            .iter()
            .find(|s| s.kind == kind && s.name == name && s.labels == wanted)
            .map(|s| &s.value)
            .unwrap_or_else(|| panic!("no {kind:?} {name} {labels:?}"))
    }

    fn processed(&self, event_type: &str, outcome: &str) -> u64 {
        let labels = [
            ("group", GROUP),
            ("event_type", event_type),
            ("outcome", outcome),
        ];
        match self.get(MetricKind::Counter, names::PROCESSED, &labels) {
            DebugValue::Counter(n) => *n,
            other => panic!("not a counter: {other:?}"),
        }
    }

    fn counter(&self, name: &str) -> u64 {
        match self.get(MetricKind::Counter, name, &[("group", GROUP)]) {
            DebugValue::Counter(n) => *n,
            other => panic!("not a counter: {other:?}"),
        }
    }

    fn seconds(&self, event_type: &str) -> Vec<f64> {
        let labels = [("group", GROUP), ("event_type", event_type)];
        match self.get(MetricKind::Histogram, names::PROCESSING_SECONDS, &labels) {
            DebugValue::Histogram(v) => v.iter().map(|x| x.into_inner()).collect(),
            other => panic!("not a histogram: {other:?}"),
        }
    }

    /// Asserts that the metric and the stats of `running` both count `n`
    /// failed settle calls.
    fn assert_settle_errors(&self, running: &RunningGroup, n: u64) {
        assert_eq!(self.counter(names::SETTLE_ERRORS), n);
        assert_eq!(running.stats().settle_errors, n);
    }

    fn in_flight(&self) -> f64 {
        match self.get(MetricKind::Gauge, names::IN_FLIGHT, &[("group", GROUP)]) {
            DebugValue::Gauge(v) => v.into_inner(),
            other => panic!("not a gauge: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn outcomes_are_settled_and_counted_by_type_and_outcome() {
    let recorder = DebuggingRecorder::new();
    let (_guard, script, running) = start_recorded(&recorder).await;

    let first_failure = "2020-01-01T00:00:00.000Z";
    script.deliver(ping("done", "done"), 1);
    script.deliver(ping("skip", "skip"), 1);
    script.deliver(ping("retry-after", "retry_after"), 1);
    script.deliver(
        ping("retry", "retry").with_header(headers::FIRST_FAILURE_AT, first_failure),
        2,
    );
    script.deliver(ping("retry-last", "retry"), 3);
    script.deliver(ping("dead", "dead"), 1);
    let foreign = Message::new(
        TOPIC,
        r#"{"id":"foreign","type":"other.type","account_id":"a","campaign_id":"c","data":{},"timestamp":"2025-01-01T12:00:00Z"}"#,
    )
    .with_id("foreign");
    script.deliver(foreign, 1);
    let big = Message::new(TOPIC, vec![b' '; MAX_PAYLOAD + 1]).with_id("big");
    script.deliver(big, 1);

    let log = script.wait_for(8).await;
    assert_eq!(log.len(), 8, "{log:?}");

    assert_eq!(find(&log, "done"), &Settled::Ack("done".into()));
    assert_eq!(find(&log, "skip"), &Settled::Ack("skip".into()));
    assert_eq!(find(&log, "foreign"), &Settled::Ack("foreign".into()));

    // Retry with an explicit delay: nacked with that delay and the error.
    let Settled::Nack { delay, failure, .. } = find(&log, "retry-after") else {
        panic!("retry-after not nacked: {log:?}");
    };
    assert_eq!(*delay, Some(Duration::from_millis(250)));
    assert_eq!(failure[headers::ERROR], "rate limited");
    assert!(failure.contains_key(headers::FIRST_FAILURE_AT));
    assert!(failure.contains_key(headers::LAST_FAILURE_AT));
    assert!(!failure.contains_key(headers::DEAD_LETTER_REASON));

    // Retry without a delay: the policy's delay; the first failure time kept.
    let Settled::Nack { delay, failure, .. } = find(&log, "retry") else {
        panic!("retry not nacked: {log:?}");
    };
    assert_eq!(*delay, Some(Duration::from_millis(700)));
    assert_eq!(failure[headers::ERROR], "downstream unavailable");
    assert_eq!(failure[headers::FIRST_FAILURE_AT], first_failure);
    assert!(failure[headers::LAST_FAILURE_AT].as_str() > first_failure);

    // Retry on the last attempt: dead-lettered instead.
    let Settled::DeadLetter { failure, .. } = find(&log, "retry-last") else {
        panic!("retry-last not dead-lettered: {log:?}");
    };
    let reason = &failure[headers::DEAD_LETTER_REASON];
    assert!(
        reason.contains("gave up after 3 attempts") && reason.contains("downstream unavailable"),
        "{reason}"
    );
    assert_eq!(failure[headers::DEAD_LETTER_ATTEMPTS], "3");

    // Explicit dead letter: every dead-letter header.
    let Settled::DeadLetter { failure, .. } = find(&log, "dead") else {
        panic!("dead not dead-lettered: {log:?}");
    };
    assert_eq!(failure[headers::DEAD_LETTER_REASON], "poison pill");
    assert_eq!(failure[headers::DEAD_LETTER_ATTEMPTS], "1");
    assert_eq!(failure[headers::ORIGIN_TOPIC], TOPIC);
    assert_eq!(failure[headers::ORIGIN_GROUP], GROUP);
    assert_eq!(failure[headers::ERROR], "poison pill");
    assert!(failure.contains_key(headers::FIRST_FAILURE_AT));
    assert!(failure.contains_key(headers::LAST_FAILURE_AT));

    // Over the transport's payload limit: dead-lettered before decoding.
    let Settled::DeadLetter { failure, .. } = find(&log, "big") else {
        panic!("big not dead-lettered: {log:?}");
    };
    assert!(
        failure[headers::DEAD_LETTER_REASON].contains("exceeds the limit of 4096 bytes"),
        "{:?}",
        failure[headers::DEAD_LETTER_REASON]
    );

    let stats = running.stats();
    assert_eq!(
        (
            stats.done,
            stats.skipped,
            stats.retried,
            stats.dead_lettered
        ),
        (1, 2, 2, 3)
    );

    let m = Metrics::take(&recorder);
    let ping_type = "metrics.ping";
    assert_eq!(m.processed(ping_type, "done"), 1);
    assert_eq!(m.processed(ping_type, "skip"), 1);
    // The label is the handler's outcome: the retry that gave up on its last
    // attempt counts as `retry` (and in waitlist_dead_lettered_total).
    assert_eq!(
        m.processed(ping_type, "retry"),
        3,
        "retried twice, gave up once"
    );
    assert_eq!(m.processed(ping_type, "dead_letter"), 1);
    assert_eq!(m.processed(ping_type, "duplicate"), 0);
    assert_eq!(m.processed("unknown", "skip"), 1, "the unrouted type");
    assert_eq!(
        m.processed("unknown", "dead_letter"),
        1,
        "the oversize payload"
    );
    assert_eq!(m.processed("unknown", "done"), 0);
    assert_eq!(m.counter(names::RETRIED), 2);
    assert_eq!(m.counter(names::DEAD_LETTERED), 3);
    assert_eq!(m.counter(names::SETTLE_ERRORS), 0);
    assert_eq!(m.counter(names::SUBSCRIPTION_ERRORS), 0);
    assert_eq!(m.in_flight(), 0.0, "everything settled");
    let ping_seconds = m.seconds(ping_type);
    assert_eq!(ping_seconds.len(), 6, "one handler time per ping");
    assert!(ping_seconds
        .iter()
        .all(|s| (0.0..WAIT.as_secs_f64()).contains(s)));
    assert_eq!(
        m.seconds("unknown").len(),
        1,
        "the unrouted type is timed, the oversize payload is not"
    );

    let report = script.finish(running).await;
    assert_eq!(report.abandoned, 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn transient_settle_failures_are_retried_until_the_settle_succeeds() {
    let recorder = DebuggingRecorder::new();
    let (_guard, script, running) = start_recorded(&recorder).await;

    let calls = script.deliver_failing(ping("flaky-ack", "done"), 1, 2, || {
        Error::Unavailable("broker restarting".into())
    });
    let log = script.wait_for(1).await;
    assert_eq!(log, vec![Settled::Ack("flaky-ack".into())]);
    assert_eq!(
        calls.load(SeqCst),
        3,
        "two failed ack calls, then one that worked"
    );

    Metrics::take(&recorder).assert_settle_errors(&running, 0);
    script.finish(running).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn permanent_settle_failure_drops_the_delivery_and_is_counted() {
    let recorder = DebuggingRecorder::new();
    let (_guard, script, running) = start_recorded(&recorder).await;

    let rejected = script.deliver_failing(ping("rejected", "done"), 1, usize::MAX, || {
        Error::Rejected("receipt handle expired".into())
    });
    let timing_out = script.deliver_failing(ping("timing-out", "done"), 1, usize::MAX, || {
        Error::Timeout(Duration::from_secs(1))
    });
    let log = script.wait_for(2).await;
    assert_eq!(find(&log, "rejected"), &Settled::Dropped("rejected".into()));
    assert_eq!(
        find(&log, "timing-out"),
        &Settled::Dropped("timing-out".into())
    );
    assert_eq!(rejected.load(SeqCst), 1, "a permanent error is not retried");
    assert_eq!(
        timing_out.load(SeqCst),
        4,
        "a transient error is tried four times"
    );

    let m = Metrics::take(&recorder);
    m.assert_settle_errors(&running, 2);
    assert_eq!(
        m.processed("metrics.ping", "done"),
        0,
        "a delivery whose ack failed is not counted as processed"
    );
    assert_eq!(running.stats().done, 0);
    script.finish(running).await;
}
