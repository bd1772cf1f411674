//! The bus: topics, groups, publisher, subscriptions and dead letters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use waitlist_core::transport::OrderingGuarantee;
use waitlist_core::{
    headers, Capabilities, DeadLetterQueue, Delivery, Error, Message, Publisher, Queue, Result,
    Subscribe, Subscription,
};

use crate::group::Group;
use crate::settle::MemorySettle;
use waitlist_core::sync::lock;

/// Settings of a [`MemoryBus`].
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Most messages one group holds (queued, delayed and in flight).
    pub capacity: usize,
    /// How long a publish waits for space in a full group.
    pub publish_timeout: Duration,
    /// Partitions per topic (keys are hashed onto them).
    pub partitions: u32,
    /// Largest payload accepted.
    pub max_payload: usize,
}

impl Default for MemoryConfig {
    /// 10 000 messages per group, 30 s publish timeout, 8 partitions, 1 MiB payloads.
    fn default() -> Self {
        Self {
            capacity: 10_000,
            publish_timeout: Duration::from_secs(30),
            partitions: 8,
            max_payload: 1024 * 1024,
        }
    }
}

#[derive(Debug, Default)]
struct Topic {
    groups: HashMap<String, Arc<Group>>,
    /// Messages published while the topic had no group.
    backlog: Option<Arc<Group>>,
}

#[derive(Debug)]
struct Inner {
    config: MemoryConfig,
    topics: Mutex<HashMap<String, Topic>>,
}

/// An in-process broker; clones share the same topics.
///
/// It is both the [`Publisher`] and the [`Queue`] of the memory transport.
#[derive(Debug, Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
    /// Set by [`Publisher::close`] on this handle (and its clones).
    closed: Arc<AtomicBool>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBus {
    /// A bus with the default [`MemoryConfig`].
    pub fn new() -> Self {
        Self::with_config(MemoryConfig::default())
    }

    /// A bus with `config`.
    pub fn with_config(config: MemoryConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                topics: Mutex::new(HashMap::new()),
            }),
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A new handle on the same bus with its own open/closed state, so that
    /// closing it as a [`Publisher`] leaves other handles open.
    pub fn handle(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Messages a group holds now (queued, delayed, in flight), or `None`
    /// if the group does not exist.
    pub fn group_len(&self, topic: &str, group: &str) -> Option<usize> {
        self.group(topic, group).map(|g| g.lock().len)
    }

    /// Most messages the group has held at once.
    pub fn group_peak_len(&self, topic: &str, group: &str) -> Option<usize> {
        self.group(topic, group).map(|g| g.lock().peak_len)
    }

    fn topics(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        lock(&self.inner.topics)
    }

    fn group(&self, topic: &str, group: &str) -> Option<Arc<Group>> {
        self.topics().get(topic)?.groups.get(group).cloned()
    }

    fn new_group(&self, topic: &str, name: &str, per_key: bool) -> Group {
        let c = &self.inner.config;
        Group::new(topic, name, per_key, c.partitions, c.capacity)
    }

    /// The group, created on first use; a first group takes the backlog.
    fn group_or_create(&self, topic: &str, name: &str, per_key: bool) -> Arc<Group> {
        let mut topics = self.topics();
        let t = topics.entry(topic.to_owned()).or_default();
        if let Some(g) = t.groups.get(name) {
            return Arc::clone(g);
        }
        let group = Arc::new(self.new_group(topic, name, per_key));
        if let Some(backlog) = t.backlog.take() {
            let messages = backlog.lock().drain_queued();
            let mut state = group.lock();
            for m in messages {
                state.push_new(&group, m);
            }
            drop(state);
            backlog.space.notify_waiters();
        }
        t.groups.insert(name.to_owned(), Arc::clone(&group));
        group
    }

    /// The groups a message to `topic` goes to (the backlog if none).
    fn targets(&self, topic: &str) -> Vec<Arc<Group>> {
        let mut topics = self.topics();
        if let Some(t) = topics.get(topic) {
            if !t.groups.is_empty() {
                return t.groups.values().cloned().collect();
            }
        }
        let t = topics.entry(topic.to_owned()).or_default();
        let backlog = t
            .backlog
            .get_or_insert_with(|| Arc::new(self.new_group(topic, "", false)));
        vec![Arc::clone(backlog)]
    }

    /// Adds `messages` to `group` in order, as many at a time as there is
    /// space for (one lock and one wake-up per run, not per message), waiting
    /// for space until `deadline`. Gives back what is left if the group is a
    /// backlog that was handed over meanwhile (the caller picks its targets
    /// again).
    async fn push(
        &self,
        group: &Group,
        messages: Vec<Message>,
        deadline: Instant,
    ) -> Result<Option<Vec<Message>>> {
        let mut rest = messages.into_iter().peekable();
        loop {
            let space = group.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let mut state = group.lock();
                if state.detached {
                    return Ok(Some(rest.collect()));
                }
                let mut pushed = false;
                while state.len < group.capacity {
                    let Some(m) = rest.next() else { break };
                    state.push_new(group, m);
                    pushed = true;
                }
                drop(state);
                if pushed {
                    group.available.notify_waiters();
                }
                if rest.peek().is_none() {
                    return Ok(None);
                }
            }
            // Woken when a chunk of room is free; looking again every few
            // milliseconds covers a group that stalls just below full.
            if Instant::now() >= deadline {
                return Err(Error::Timeout(self.inner.config.publish_timeout));
            }
            let look_again = (Instant::now() + SPACE_RECHECK).min(deadline);
            let _ = tokio::time::timeout_at(look_again, space).await;
        }
    }
}

/// How often a publisher waiting on a full group looks for room besides
/// being woken.
const SPACE_RECHECK: std::time::Duration = std::time::Duration::from_millis(5);

#[async_trait]
impl Publisher for MemoryBus {
    /// Refuses the whole batch, before adding any of it, when one message is
    /// over the size limit.
    async fn publish(&self, messages: Vec<Message>) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let limit = self.inner.config.max_payload;
        if let Some(m) = messages.iter().find(|m| m.payload.len() > limit) {
            return Err(Error::TooLarge {
                size: m.payload.len(),
                limit,
            });
        }
        let deadline = Instant::now() + self.inner.config.publish_timeout;
        let mut pending: std::collections::VecDeque<Message> = messages.into();
        while let Some(first) = pending.front() {
            // The run of consecutive messages for one topic goes together.
            let topic = first.topic.clone();
            let run = pending.iter().take_while(|m| m.topic == topic).count();
            let mut current: Option<Vec<Message>> = Some(pending.drain(..run).collect());
            let targets = self.targets(&topic);
            let last = targets.len().saturating_sub(1);
            for (i, group) in targets.iter().enumerate() {
                let batch = if i == last {
                    current.take()
                } else {
                    current.clone()
                };
                if let Some(batch) = batch {
                    // Only a lone backlog target gives some back: retarget.
                    if let Some(back) = self.push(group, batch, deadline).await? {
                        for m in back.into_iter().rev() {
                            pending.push_front(m);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Publishing is synchronous with the bus, so there is nothing to flush;
    /// later publishes through this handle (and its clones) fail with
    /// [`Error::Closed`]; other [`handle`](MemoryBus::handle)s stay open.
    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}

#[async_trait]
impl Queue for MemoryBus {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new("memory")
            .ordering(OrderingGuarantee::PerKey)
            .native_delay()
            .max_payload(self.inner.config.max_payload)
    }

    async fn join(&self, request: Subscribe) -> Result<Box<dyn Subscription>> {
        let per_key = request.options().ordering == OrderingGuarantee::PerKey;
        let group = self.group_or_create(request.topic(), request.group(), per_key);
        Ok(Box::new(MemorySubscription {
            group,
            closed: false,
        }))
    }

    async fn dead_letters(&self, topic: &str, group: &str) -> Result<Box<dyn DeadLetterQueue>> {
        let group = self
            .group(topic, group)
            .ok_or_else(|| Error::NotFound(format!("group {group} on topic {topic}").into()))?;
        Ok(Box::new(MemoryDeadLetters { group }))
    }
}

#[derive(Debug)]
struct MemorySubscription {
    group: Arc<Group>,
    closed: bool,
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        if self.closed {
            return None;
        }
        loop {
            let available = self.group.available.notified();
            tokio::pin!(available);
            available.as_mut().enable();
            let next_due = {
                let mut state = self.group.lock();
                let next_due = state.promote_due(Instant::now());
                if let Some(entry) = state.take_next() {
                    drop(state);
                    // A first delivery shares the stored message (no attempt
                    // header means attempt 1); a redelivery says its attempt.
                    let message = if entry.attempt == 1 {
                        Arc::clone(&entry.message)
                    } else {
                        let mut m = Message::clone(&entry.message);
                        m.headers
                            .insert(headers::ATTEMPT.to_owned(), entry.attempt.to_string());
                        Arc::new(m)
                    };
                    let partition = self.group.partition_of(message.key.as_deref());
                    let attempt = entry.attempt;
                    let settle = MemorySettle {
                        group: Arc::clone(&self.group),
                        entry: Some(entry),
                    };
                    let delivery =
                        Delivery::new(message, attempt, Box::new(settle)).with_partition(partition);
                    return Some(Ok(delivery));
                }
                next_due
            };
            match next_due {
                Some(at) => {
                    tokio::select! {
                        _ = &mut available => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => available.await,
            }
        }
    }

    async fn close(&mut self) -> Result<()> {
        self.closed = true;
        Ok(())
    }
}

#[derive(Debug)]
struct MemoryDeadLetters {
    group: Arc<Group>,
}

#[async_trait]
impl DeadLetterQueue for MemoryDeadLetters {
    async fn list(&self, limit: usize) -> Result<Vec<Message>> {
        Ok(self.group.lock().dead.iter().take(limit).cloned().collect())
    }

    async fn replay(&self, limit: usize) -> Result<usize> {
        let moved = self.group.lock().replay(&self.group, limit);
        self.group.available.notify_waiters();
        Ok(moved)
    }
}
