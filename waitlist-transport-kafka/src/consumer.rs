//! A group member: a background poller feeding deliveries, per-partition
//! offset tracking, rebalance handling and pause-based back-pressure.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::OwnedMessage;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use tokio::sync::Notify;
use tokio::time::Instant;
use waitlist_core::{headers, Delivery, Error, Headers, Result, Settle, Subscription};

use crate::codec;
use crate::metrics as m;
use crate::producer::{map_err, Clients};
use crate::topics::Names;
use crate::tracker::{Pending, Tp, Tracker};
use waitlist_core::sync::lock;

/// State shared by the poller, the subscription, the settles and the
/// rebalance callbacks.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    tracker: Mutex<Tracker>,
    /// A delivery became available, or the member closed.
    available: Notify,
    /// The member joined (first assignment) or stopped.
    joined: Notify,
    /// A record was taken from the buffer: the poller may fetch again.
    room: Notify,
    stop: Notify,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Tracker> {
        lock(&self.tracker)
    }
}

/// Rebalance and statistics callbacks of a member.
pub(crate) struct GroupContext {
    shared: Arc<Shared>,
    group: String,
}

impl ClientContext for GroupContext {
    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    #[allow(clippy::cast_precision_loss)]
                    let lag = p.consumer_lag as f64;
                    metrics::gauge!(m::CONSUMER_LAG, "group" => self.group.clone(), "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(lag);
                }
            }
        }
    }
}

fn positions(list: &[(Tp, i64)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), pos) in list {
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*pos));
    }
    tpl
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let tps: Vec<Tp> = tpl
                .elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect();
            let done = self.shared.lock().revoke(&tps);
            if !done.is_empty() {
                if let Err(e) = consumer.commit(&positions(&done), CommitMode::Sync) {
                    tracing::warn!(group = %self.group, error = %e, "commit on revoke failed; some work will be repeated");
                    metrics::counter!(m::COMMIT_ERRORS, "group" => self.group.clone()).increment(1);
                }
            }
            tracing::info!(group = %self.group, partitions = tps.len(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            tracing::info!(group = %self.group, partitions = tpl.count(), "partitions assigned");
            self.shared.lock().joined = true;
            self.shared.joined.notify_waiters();
        }
    }
}

pub(crate) type GroupConsumer = StreamConsumer<GroupContext>;

/// Creates a member of `group` subscribed to the topic and its retry topic.
pub(crate) fn create(
    clients: &Clients,
    names: &Names,
    group: &str,
    shared: &Arc<Shared>,
) -> Result<GroupConsumer> {
    let context = GroupContext {
        shared: Arc::clone(shared),
        group: group.to_owned(),
    };
    let consumer: GroupConsumer = clients
        .config
        .consumer(group)
        .create_with_context(context)
        .map_err(|e| Error::Config(format!("Kafka consumer: {e}").into()))?;
    consumer
        .subscribe(&[names.topic.as_str(), names.retry.as_str()])
        .map_err(map_err)?;
    Ok(consumer)
}

/// When a retried record is due, from its [`headers::NOT_BEFORE`] header (a
/// record header: any date a producer wrote, so the wait is capped at a
/// year rather than overflowing the clock).
fn not_before(message: &waitlist_core::Message) -> Option<Instant> {
    const LONGEST: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);
    let at: DateTime<Utc> = message.headers.get(headers::NOT_BEFORE)?.parse().ok()?;
    let wait = (at - Utc::now()).to_std().ok()?;
    let now = Instant::now();
    now.checked_add(wait.min(LONGEST))
}

fn pending(record: &OwnedMessage) -> (Pending, Option<Instant>) {
    let mut message = codec::message(record);
    let due = not_before(&message);
    message.headers.remove(headers::NOT_BEFORE);
    let attempt = message.attempt_header();
    message
        .headers
        .insert(headers::ATTEMPT.to_owned(), attempt.to_string());
    let p = Pending {
        message,
        tp: (record.topic().to_owned(), record.partition()),
        offset: record.offset(),
        attempt,
    };
    (p, due)
}

/// Polls the consumer until stopped: serves rebalances, buffers records,
/// releases held retries when due and commits finished work. While the
/// member's buffer is full it stops taking records, which (with librdkafka's
/// bounded prefetch queue) stops fetching.
pub(crate) async fn poll(
    consumer: Arc<GroupConsumer>,
    shared: Arc<Shared>,
    limit: usize,
    commit_every: Duration,
    group: String,
) {
    let mut last_commit = Instant::now();
    let tick = commit_every.min(Duration::from_millis(100));
    loop {
        if shared.lock().closed {
            break;
        }
        let (next_due, full) = {
            let mut t = shared.lock();
            (t.promote(Instant::now()), t.buffered() >= limit)
        };
        let wake = next_due.map_or(tick, |at| {
            at.saturating_duration_since(Instant::now()).min(tick)
        });
        tokio::select! {
            // A full buffer stops polling: librdkafka's own prefetch queue is
            // bounded (queued.max.messages.kbytes), so fetching stops too.
            r = consumer.recv(), if !full => match r {
                Ok(record) => {
                    let (p, due) = pending(&record.detach());
                    shared.lock().fetched(p, due);
                }
                Err(e) => {
                    tracing::warn!(%group, error = %e, "Kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shared.room.notified(), if full => {}
            _ = tokio::time::sleep(wake) => {}
            _ = shared.stop.notified() => break,
        }
        if !shared.lock().ready.is_empty() {
            shared.available.notify_waiters();
        }
        if last_commit.elapsed() >= commit_every {
            last_commit = Instant::now();
            let list = shared.lock().take_commits();
            if !list.is_empty() {
                m::request("commit");
                if let Err(e) = consumer.commit(&positions(&list), CommitMode::Async) {
                    tracing::warn!(%group, error = %e, "offset commit failed; will retry");
                    metrics::counter!(m::COMMIT_ERRORS, "group" => group.clone()).increment(1);
                }
            }
        }
    }
    shared.available.notify_waiters();
}

/// One member of a consumer group on Kafka.
pub(crate) struct KafkaSubscription {
    pub(crate) clients: Arc<Clients>,
    pub(crate) names: Arc<Names>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) consumer: Arc<GroupConsumer>,
    pub(crate) poller: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for KafkaSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSubscription")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl KafkaSubscription {
    /// Waits until the group assigned partitions to this member (or `limit`).
    pub(crate) async fn joined(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.shared.joined.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.lock().joined {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        loop {
            let notified = self.shared.available.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut t = self.shared.lock();
                if t.closed {
                    return None;
                }
                if let Some(p) = t.ready.pop_front() {
                    t.outstanding += 1;
                    drop(t);
                    self.shared.room.notify_one();
                    let settle = KafkaSettle {
                        clients: Arc::clone(&self.clients),
                        names: Arc::clone(&self.names),
                        shared: Arc::clone(&self.shared),
                        pending: Some(p.clone()),
                    };
                    let delivery = Delivery::new(p.message, p.attempt, Box::new(settle))
                        .with_partition(p.tp.1);
                    return Some(Ok(delivery));
                }
            }
            notified.await;
        }
    }

    async fn close(&mut self) -> Result<()> {
        let list = {
            let mut t = self.shared.lock();
            t.closed = true;
            t.take_commits()
        };
        self.shared.stop.notify_waiters();
        self.shared.available.notify_waiters();
        if let Some(poller) = self.poller.take() {
            let _ = poller.await;
        }
        let consumer = Arc::clone(&self.consumer);
        tokio::task::spawn_blocking(move || {
            if !list.is_empty() {
                consumer.commit(&positions(&list), CommitMode::Sync)?;
            }
            consumer.unsubscribe();
            Ok::<(), rdkafka::error::KafkaError>(())
        })
        .await
        .map_err(|e| Error::Other(Box::new(e)))?
        .map_err(map_err)
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.stop.notify_waiters();
        self.shared.available.notify_waiters();
    }
}

/// Settles one delivery.
pub(crate) struct KafkaSettle {
    clients: Arc<Clients>,
    names: Arc<Names>,
    shared: Arc<Shared>,
    pending: Option<Pending>,
}

impl std::fmt::Debug for KafkaSettle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSettle")
            .field("names", &self.names)
            .field("settled", &self.pending.is_none())
            .finish()
    }
}

impl KafkaSettle {
    fn pending(&self) -> Result<&Pending> {
        self.pending
            .as_ref()
            .ok_or_else(|| Error::Rejected("delivery already settled".into()))
    }

    fn finish(&mut self) {
        if let Some(p) = self.pending.take() {
            let mut t = self.shared.lock();
            t.finished(&p.tp, p.offset);
            t.outstanding = t.outstanding.saturating_sub(1);
        }
    }

    /// Produces a copy to `topic` with `extra` headers, then finishes the
    /// original: a crash in between repeats the message, never loses it.
    async fn move_to(&mut self, topic: &str, extra: Headers, dead_letter: bool) -> Result<()> {
        let p = self.pending()?;
        self.clients
            .produce_copy(&p.message, topic, &extra, dead_letter)
            .await?;
        self.finish();
        Ok(())
    }
}

#[async_trait]
impl Settle for KafkaSettle {
    async fn ack(&mut self) -> Result<()> {
        self.pending()?;
        self.finish();
        Ok(())
    }

    async fn nack(&mut self, delay: Option<Duration>, mut failure: Headers) -> Result<()> {
        let p = self.pending()?;
        let due =
            Utc::now() + chrono::Duration::from_std(delay.unwrap_or_default()).unwrap_or_default();
        failure.insert(
            headers::ATTEMPT.to_owned(),
            p.attempt.saturating_add(1).to_string(),
        );
        failure.insert(
            headers::NOT_BEFORE.to_owned(),
            due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        );
        failure.insert(headers::ORIGIN_TOPIC.to_owned(), self.names.topic.clone());
        let retry = self.names.retry.clone();
        self.move_to(&retry, failure, false).await
    }

    async fn dead_letter(&mut self, failure: Headers) -> Result<()> {
        let dlq = self.names.dead_letters.clone();
        self.move_to(&dlq, failure, true).await
    }
}

impl Drop for KafkaSettle {
    fn drop(&mut self) {
        // Unsettled: hand it out again (its offset stays unfinished).
        if let Some(mut p) = self.pending.take() {
            p.attempt = p.attempt.saturating_add(1);
            p.message
                .headers
                .insert(headers::ATTEMPT.to_owned(), p.attempt.to_string());
            let mut t = self.shared.lock();
            t.outstanding = t.outstanding.saturating_sub(1);
            t.ready.push_front(p);
            drop(t);
            self.shared.available.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_not_before_header_far_in_the_future_is_capped() {
        let far = waitlist_core::Message::new("t", "{}")
            .with_header(headers::NOT_BEFORE, "9999-12-31T23:59:59Z");
        let due = not_before(&far).expect("a due time");
        let year = std::time::Duration::from_secs(365 * 24 * 3600);
        assert!(due <= Instant::now() + year, "capped at a year");
        let past = waitlist_core::Message::new("t", "{}")
            .with_header(headers::NOT_BEFORE, "2000-01-01T00:00:00Z");
        assert_eq!(not_before(&past), None);
        let garbage =
            waitlist_core::Message::new("t", "{}").with_header(headers::NOT_BEFORE, "soon");
        assert_eq!(not_before(&garbage), None);
    }
}
