//! Consuming: long-polling receivers, a visibility heartbeat, settling.
//!
//! A member runs a few receive loops (each `ReceiveMessage` asks for up to
//! 10 messages, waiting up to 20 s) bounded by the member's prefetch: every
//! received message holds a permit until it is settled or released. While a
//! message is held, fetched or in a handler, a heartbeat keeps it invisible
//! by extending its visibility in batches. A delivery dropped unsettled, or
//! fetched by a member that closes, is made visible again at once. Settling
//! or releasing a message waits for an extension of it still in flight, so
//! a late heartbeat never hides a nacked or released message again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use waitlist_core::transport::OrderingGuarantee;
use waitlist_core::{
    headers, Delivery, Error, Headers, Message, Result, Settle, SubscribeOptions, Subscription,
};

use crate::codec;
use crate::config::{QueueKind, MAX_VISIBILITY_SECS};
use crate::metrics as m;
use crate::send::{self, sdk_error, Dest, Outgoing};
use crate::settler::Op;
use crate::transport::{GroupQueues, Inner};

/// A received message the member still answers for.
#[derive(Debug)]
struct Tracked {
    handle: String,
    visible_until: Instant,
    /// Being settled: the heartbeat leaves it alone.
    busy: bool,
    /// Outcome of the last visibility extension. Settling waits for it, so
    /// an extension still in flight never lands after (and undoes) a nack's
    /// or a release's visibility change.
    extension: Option<oneshot::Receiver<Result<()>>>,
}

/// State shared by a member's receivers, heartbeat and deliveries.
#[derive(Debug)]
pub(crate) struct Member {
    inner: Arc<Inner>,
    topic: String,
    queues: Arc<GroupQueues>,
    tracked: Mutex<HashMap<u64, Tracked>>,
    next_token: AtomicU64,
    closed: AtomicBool,
}

impl Member {
    fn tracked(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Tracked>> {
        self.tracked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn url(&self) -> &Arc<str> {
        &self.queues.url
    }
}

/// A received message until it is settled; dropping it unsettled makes the
/// message visible again.
#[derive(Debug)]
struct Held {
    member: Arc<Member>,
    token: u64,
    handle: String,
    received: Instant,
    _permit: Option<OwnedSemaphorePermit>,
    settled: bool,
}

impl Held {
    fn new(member: &Arc<Member>, handle: String, permit: Option<OwnedSemaphorePermit>) -> Self {
        let token = member.next_token.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        member.tracked().insert(
            token,
            Tracked {
                handle: handle.clone(),
                visible_until: now + member.inner.config.visibility_timeout,
                busy: false,
                extension: None,
            },
        );
        Self {
            member: Arc::clone(member),
            token,
            handle,
            received: now,
            _permit: permit,
            settled: false,
        }
    }

    /// Marks the message as being settled (the heartbeat leaves it alone)
    /// and waits until no extension of its visibility is in flight.
    async fn settling(&self) {
        let extension = self.member.tracked().get_mut(&self.token).and_then(|t| {
            t.busy = true;
            t.extension.take()
        });
        if let Some(extension) = extension {
            extension_outcome(extension.await);
        }
    }

    fn not_settling(&self) {
        if let Some(t) = self.member.tracked().get_mut(&self.token) {
            t.busy = false;
        }
    }

    fn done(&mut self) {
        self.settled = true;
        self.member.tracked().remove(&self.token);
    }

    /// Runs `op` on this message; on success it is settled.
    async fn apply(&mut self, op: Op) -> Result<()> {
        if self.settled {
            return Err(Error::Rejected("delivery already settled".into()));
        }
        self.settling().await;
        match self
            .member
            .inner
            .settler
            .apply(self.member.url(), &self.handle, op)
            .await
        {
            Ok(()) => {
                self.done();
                Ok(())
            }
            Err(e) => {
                self.not_settling();
                Err(e)
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let extension = self
            .member
            .tracked()
            .remove(&self.token)
            .and_then(|t| t.extension);
        let settler = self.member.inner.settler.clone();
        let url = Arc::clone(self.member.url());
        let handle = std::mem::take(&mut self.handle);
        match (extension, tokio::runtime::Handle::try_current()) {
            // Release after the extension in flight, never before it.
            (Some(extension), Ok(runtime)) => {
                runtime.spawn(async move {
                    extension_outcome(extension.await);
                    settler.fire(&url, &handle, Op::Visibility(0));
                });
            }
            _ => settler.fire(&url, &handle, Op::Visibility(0)),
        }
    }
}

type Item = Result<(Message, u32, Held)>;

/// One member of a consumer group on SQS.
#[derive(Debug)]
pub(crate) struct SqsSubscription {
    member: Arc<Member>,
    rx: mpsc::Receiver<Item>,
    closed: bool,
}

impl SqsSubscription {
    /// Starts the receivers and the heartbeat of a new member.
    pub(crate) fn start(
        inner: Arc<Inner>,
        topic: &str,
        queues: Arc<GroupQueues>,
        options: &SubscribeOptions,
    ) -> Self {
        let prefetch = options.prefetch.max(1);
        let batch = inner.config.batch_size;
        // A group that needs per-key order gets one receive in flight: on a
        // standard queue a second receiver would reorder what the first
        // fetched (FIFO queues keep order either way; one receiver costs
        // them nothing, as a key's messages come one batch at a time).
        let receivers = if options.ordering == OrderingGuarantee::PerKey {
            1
        } else {
            inner.config.receivers.min(prefetch.div_ceil(batch)).max(1)
        };
        let member = Arc::new(Member {
            inner,
            topic: topic.to_owned(),
            queues,
            tracked: Mutex::default(),
            next_token: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        let permits = Arc::new(Semaphore::new(prefetch));
        let (tx, rx) = mpsc::channel(prefetch + receivers);
        for _ in 0..receivers {
            tokio::spawn(receive_loop(
                Arc::clone(&member),
                Arc::clone(&permits),
                tx.clone(),
            ));
        }
        tokio::spawn(heartbeat(Arc::downgrade(&member)));
        Self {
            member,
            rx,
            closed: false,
        }
    }
}

#[async_trait]
impl Subscription for SqsSubscription {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        if self.closed {
            return None;
        }
        match self.rx.recv().await? {
            Ok((message, attempt, held)) => {
                let settle = SqsSettle {
                    held,
                    message: message.clone(),
                    attempt,
                };
                Some(Ok(Delivery::new(message, attempt, Box::new(settle))))
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// Stops the receivers and makes everything fetched but not handed out
    /// visible again (one batch request per 10 messages).
    async fn close(&mut self) -> Result<()> {
        self.closed = true;
        self.member.closed.store(true, Ordering::Release);
        self.rx.close();
        while let Ok(item) = self.rx.try_recv() {
            drop(item);
        }
        Ok(())
    }
}

impl Drop for SqsSubscription {
    fn drop(&mut self) {
        self.member.closed.store(true, Ordering::Release);
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis((100u64 << failures.min(6)).min(5_000))
}

async fn receive_loop(member: Arc<Member>, permits: Arc<Semaphore>, tx: mpsc::Sender<Item>) {
    let config = &member.inner.config;
    let wait = i32::try_from(config.wait_time.as_secs()).unwrap_or(20);
    let mut failures = 0;
    loop {
        if member.closed.load(Ordering::Acquire) || tx.is_closed() {
            return;
        }
        let Ok(first) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let mut slots = vec![first];
        while slots.len() < config.batch_size {
            match Arc::clone(&permits).try_acquire_owned() {
                Ok(p) => slots.push(p),
                Err(_) => break,
            }
        }
        if member.closed.load(Ordering::Acquire) || tx.is_closed() {
            return;
        }
        let received = member
            .inner
            .sqs
            .receive_message()
            .queue_url(member.url().as_ref())
            .max_number_of_messages(i32::try_from(slots.len()).unwrap_or(10))
            .wait_time_seconds(wait)
            .visibility_timeout(config.visibility_secs())
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let out = match received {
            Ok(out) => {
                failures = 0;
                out
            }
            Err(e) => {
                failures += 1;
                let err = sdk_error("ReceiveMessage", e);
                tracing::warn!(queue = %member.url(), error = %err, "SQS receive failed; retrying");
                if tx.send(Err(err)).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        for msg in out.messages.unwrap_or_default() {
            let permit = slots.pop();
            let Some(handle) = msg.receipt_handle.clone() else {
                continue;
            };
            let held = Held::new(&member, handle, permit);
            match prepare(&member, &msg, held) {
                Prepared::Deliver(item) => {
                    // A closed member drops the item, which releases it.
                    let _ = tx.send(Ok(item)).await;
                }
                Prepared::NotYet(held, secs) => {
                    let mut held = held;
                    if let Err(e) = held.apply(Op::Visibility(secs)).await {
                        tracing::warn!(error = %e, "postponing a delayed retry failed; it comes back now");
                    }
                }
                Prepared::Undecodable(held, message, reason) => {
                    tokio::spawn(dead_letter_undecodable(held, message, reason));
                }
            }
        }
    }
}

enum Prepared {
    Deliver((Message, u32, Held)),
    /// A re-sent delayed retry received before its time: hide it this long.
    NotYet(Held, i32),
    Undecodable(Held, Message, String),
}

fn prepare(member: &Member, msg: &aws_sdk_sqs::types::Message, held: Held) -> Prepared {
    let received = codec::Received::from_sdk(msg);
    let mut message = match codec::decode(&member.topic, &received) {
        Ok(m) => m,
        Err(e) => {
            let raw = Message {
                id: received.sqs_id.to_owned(),
                topic: member.topic.clone(),
                key: None,
                headers: Headers::new(),
                payload: bytes::Bytes::copy_from_slice(received.body.as_bytes()),
            };
            return Prepared::Undecodable(held, raw, e.to_string());
        }
    };
    if let Some(at) = message
        .headers
        .get(headers::NOT_BEFORE)
        .and_then(|v| v.parse::<DateTime<Utc>>().ok())
    {
        let left = (at - Utc::now()).num_milliseconds();
        if left > 0 {
            let secs = (left as u64).div_ceil(1000).min(MAX_VISIBILITY_SECS);
            return Prepared::NotYet(held, i32::try_from(secs).unwrap_or(i32::MAX));
        }
    }
    let receives: u32 =
        codec::system_attribute(msg, MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
    let attempt = message
        .attempt_header()
        .max(1)
        .saturating_add(receives.saturating_sub(1));
    message
        .headers
        .insert(headers::ATTEMPT.to_owned(), attempt.to_string());
    Prepared::Deliver((message, attempt, held))
}

/// A message the transport cannot even decode goes to the dead-letter queue
/// with the reason, body unchanged.
async fn dead_letter_undecodable(held: Held, message: Message, reason: String) {
    let mut settle = SqsSettle {
        held,
        message,
        attempt: 1,
    };
    let mut failure = Headers::new();
    failure.insert(
        headers::DEAD_LETTER_REASON.to_owned(),
        format!("undecodable SQS message: {reason}"),
    );
    failure.insert(
        headers::ORIGIN_TOPIC.to_owned(),
        settle.held.member.topic.clone(),
    );
    let limit = waitlist_core::transport::DEFAULT_SETTLE_TIMEOUT;
    match tokio::time::timeout(limit, settle.dead_letter(failure)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "dead-lettering an undecodable message failed; it will be received again");
        }
        Err(_) => {
            tracing::error!(
                ?limit,
                "dead-lettering an undecodable message did not finish in time; it will be received again"
            );
        }
    }
}

/// Extends the visibility of every tracked message that is about to
/// reappear, until the member and all its deliveries are gone.
async fn heartbeat(member: Weak<Member>) {
    let vis = match member.upgrade() {
        Some(m) => m.inner.config.visibility_timeout,
        None => return,
    };
    let tick = (vis / 3).max(Duration::from_millis(500));
    loop {
        tokio::time::sleep(tick).await;
        let Some(member) = member.upgrade() else {
            return;
        };
        extend_due(&member, Instant::now());
    }
}

fn extension_outcome(outcome: std::result::Result<Result<()>, oneshot::error::RecvError>) {
    if let Ok(Err(e)) = outcome {
        tracing::warn!(error = %e, "extending a message's visibility failed; it may be received again");
    }
}

/// Extends the visibility of the tracked messages, not being settled, that
/// would reappear within two thirds of the visibility timeout after `now`;
/// returns how many.
fn extend_due(member: &Member, now: Instant) -> usize {
    let vis = member.inner.config.visibility_timeout;
    let secs = member.inner.config.visibility_secs();
    let settler = &member.inner.settler;
    let mut extended = 0;
    for t in member.tracked().values_mut() {
        if t.busy || t.visible_until.saturating_duration_since(now) >= vis * 2 / 3 {
            continue;
        }
        t.visible_until = now + vis;
        if let Some(mut previous) = t.extension.take() {
            // Still pending: dropping the receiver leaves the outcome to
            // the settler's log.
            if let Ok(outcome) = previous.try_recv() {
                extension_outcome(Ok(outcome));
            }
        }
        t.extension = Some(settler.begin(member.url(), &t.handle, Op::Visibility(secs)));
        extended += 1;
    }
    if extended > 0 {
        m::heartbeats(extended);
    }
    extended
}

/// Settles one delivery.
#[derive(Debug)]
struct SqsSettle {
    held: Held,
    message: Message,
    attempt: u32,
}

impl SqsSettle {
    /// Sends a copy with `extra` headers to `url`, then deletes the
    /// original: a crash in between duplicates, never loses.
    async fn move_to(
        &mut self,
        url: &str,
        extra: &Headers,
        delay_secs: Option<i32>,
        dead_letter: bool,
    ) -> Result<()> {
        if self.held.settled {
            return Err(Error::Rejected("delivery already settled".into()));
        }
        let inner = &self.held.member.inner;
        let mut copy = Outgoing::copy_of(&inner.config, &self.message, extra, dead_letter)?;
        copy.delay_secs = delay_secs;
        send::send_all(inner, &Dest::Queue(url.to_owned()), vec![copy]).await?;
        self.held.apply(Op::Delete).await
    }
}

#[async_trait]
impl Settle for SqsSettle {
    async fn ack(&mut self) -> Result<()> {
        self.held.apply(Op::Delete).await
    }

    /// Changes the message's visibility (no re-send); delays beyond what a
    /// visibility timeout can hold (12 h from receipt) re-send the message
    /// with a not-before time instead. `failure` headers travel only then:
    /// SQS cannot change a message's attributes in place.
    async fn nack(&mut self, delay: Option<Duration>, mut failure: Headers) -> Result<()> {
        let delay = delay.unwrap_or_default();
        let secs = delay.as_millis().div_ceil(1000);
        let window = u128::from(MAX_VISIBILITY_SECS)
            .saturating_sub(self.held.received.elapsed().as_secs().into())
            .saturating_sub(60);
        if secs <= window {
            return self
                .held
                .apply(Op::Visibility(i32::try_from(secs).unwrap_or(i32::MAX)))
                .await;
        }
        let not_before = Utc::now()
            + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::days(365));
        failure.insert(headers::NOT_BEFORE.to_owned(), not_before.to_rfc3339());
        failure.insert(
            headers::ATTEMPT.to_owned(),
            self.attempt.saturating_add(1).to_string(),
        );
        let delay_secs = match self.held.member.inner.config.kind {
            QueueKind::Standard => Some(i32::try_from(secs.min(900)).unwrap_or(900)),
            QueueKind::Fifo => None,
        };
        let url = self.held.member.url().to_string();
        self.move_to(&url, &failure, delay_secs, false).await
    }

    async fn dead_letter(&mut self, failure: Headers) -> Result<()> {
        let url = self.held.member.queues.dead_letters.to_string();
        self.move_to(&url, &failure, None, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SqsConfig;
    use crate::settler::{Request, Settler};

    const VISIBILITY: Duration = Duration::from_secs(30);

    fn member() -> (Arc<Member>, mpsc::UnboundedReceiver<Request>) {
        let (settler, requests) = Settler::detached();
        let config = SqsConfig::new().with_visibility_timeout(VISIBILITY);
        let member = Arc::new(Member {
            inner: Inner::detached(config, settler),
            topic: "t".into(),
            queues: Arc::new(GroupQueues {
                url: "queue".into(),
                dead_letters: "dead-letters".into(),
            }),
            tracked: Mutex::default(),
            next_token: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        (member, requests)
    }

    /// The heartbeat extends the message 25 s after its receipt; returns the
    /// extension request, not yet answered.
    async fn extend(member: &Member, requests: &mut mpsc::UnboundedReceiver<Request>) -> Request {
        assert_eq!(
            extend_due(member, Instant::now() + Duration::from_secs(25)),
            1
        );
        let handle = member
            .tracked()
            .values()
            .next()
            .expect("held")
            .handle
            .clone();
        expect(requests, &handle, Op::Visibility(30)).await
    }

    /// The next request, which must be `op` on `handle`.
    async fn expect(
        requests: &mut mpsc::UnboundedReceiver<Request>,
        handle: &str,
        op: Op,
    ) -> Request {
        let r = requests.recv().await.expect("a request");
        assert_eq!((r.handle.as_str(), r.op), (handle, op));
        r
    }

    /// Answers a request its caller waits for.
    fn answer(r: Request, outcome: Result<()>) {
        r.done.expect("awaited").send(outcome).expect("open");
    }

    /// Nothing reaches the service while the runtime has nothing else to do.
    async fn nothing_sent(requests: &mut mpsc::UnboundedReceiver<Request>) {
        let next = tokio::time::timeout(Duration::from_secs(5), requests.recv()).await;
        assert!(next.is_err(), "sent too early: {next:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_nack_waits_for_the_visibility_extension_in_flight() {
        let (member, mut requests) = member();
        let mut held = Held::new(&member, "h1".into(), None);
        let extension = extend(&member, &mut requests).await;

        let nack = tokio::spawn(async move { held.apply(Op::Visibility(0)).await });
        nothing_sent(&mut requests).await;
        // Being settled: the heartbeat leaves it alone.
        assert_eq!(extend_due(&member, Instant::now() + VISIBILITY * 2), 0);

        answer(extension, Ok(()));
        let nacked = expect(&mut requests, "h1", Op::Visibility(0)).await;
        answer(nacked, Ok(()));
        nack.await.expect("task").expect("nack");
        assert!(member.tracked().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_delivery_is_released_after_the_extension_in_flight() {
        let (member, mut requests) = member();
        let held = Held::new(&member, "h2".into(), None);
        let extension = extend(&member, &mut requests).await;

        drop(held);
        nothing_sent(&mut requests).await;
        assert!(member.tracked().is_empty());

        // A failed extension does not keep the message from being released.
        answer(extension, Err(Error::Unavailable("throttled".into())));
        expect(&mut requests, "h2", Op::Visibility(0)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_settle_lets_the_heartbeat_extend_again() {
        let (member, mut requests) = member();
        let mut held = Held::new(&member, "h3".into(), None);
        let settle = tokio::spawn(async move {
            let outcome = held.apply(Op::Delete).await;
            (held, outcome)
        });
        let delete = expect(&mut requests, "h3", Op::Delete).await;
        answer(
            delete,
            Err(Error::Rejected("ReceiptHandleIsInvalid".into())),
        );
        let (held, outcome) = settle.await.expect("task");
        assert!(outcome.is_err());
        let _extension = extend(&member, &mut requests).await;
        drop(held);
    }
}
