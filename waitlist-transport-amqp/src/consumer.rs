//! Consuming: one channel per member, manual acks, reconnect on loss.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::Acker;
use lapin::{Channel, Consumer};
use waitlist_core::{headers, Delivery, Error, Headers, Message, Result, Settle, Subscription};

use crate::codec;
use crate::connection::{backoff, unavailable};
use crate::metrics as m;
use crate::publisher::Outgoing;
use crate::topology::{self, Names};
use crate::transport::Inner;

/// A channel closed once its subscription and every delivery on it are gone
/// (closing requeues whatever is still unacknowledged on it).
#[derive(Debug)]
pub(crate) struct ChannelGuard(pub(crate) Channel);

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        let ch = self.0.clone();
        if ch.status().connected() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = ch.close(200, "member left".into()).await;
                });
            }
        }
    }
}

struct Active {
    channel: Arc<ChannelGuard>,
    consumer: Consumer,
    tag: String,
}

impl Active {
    /// Ends the consumer without disturbing the connection's other channels.
    ///
    /// A lapin `Consumer` dropped while active sends its own `basic.cancel`;
    /// when that races with the channel closing (the last delivery of the
    /// channel going away, say), lapin reports the refused cancel as an
    /// error of the whole connection and every other member on it fails. So
    /// the cancel is sent first, and the consumer and the channel are let go
    /// only once it is done.
    fn retire(self) {
        if !self.channel.0.status().connected() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            m::request("basic.cancel");
            let cancelled = self
                .channel
                .0
                .basic_cancel(self.tag.as_str().into(), BasicCancelOptions::default())
                .await;
            if let Err(e) = cancelled {
                tracing::debug!(tag = %self.tag, error = %e, "AMQP consumer cancel on leave failed");
            }
            drop(self);
        });
    }
}

/// One member of a consumer group on RabbitMQ.
pub(crate) struct AmqpSubscription {
    pub(crate) inner: Arc<Inner>,
    pub(crate) topic: String,
    pub(crate) names: Arc<Names>,
    pub(crate) prefetch: u16,
    active: Option<Active>,
    closed: bool,
    failures: u32,
}

impl std::fmt::Debug for AmqpSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSubscription")
            .field("queue", &self.names.queue)
            .field("prefetch", &self.prefetch)
            .field("consuming", &self.active.is_some())
            .field("closed", &self.closed)
            .finish()
    }
}

impl AmqpSubscription {
    pub(crate) fn new(inner: Arc<Inner>, topic: &str, names: Names, prefetch: u16) -> Self {
        Self {
            inner,
            topic: topic.to_owned(),
            names: Arc::new(names),
            prefetch,
            active: None,
            closed: false,
            failures: 0,
        }
    }

    /// Opens a channel, declares the topology and starts consuming.
    pub(crate) async fn start(&mut self) -> Result<()> {
        let channel = self.inner.conn.channel().await?;
        m::request("basic.qos");
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
        topology::declare_group(&channel, &self.names).await?;
        let tag = format!("waitlist-{}", uuid::Uuid::new_v4().simple());
        m::request("basic.consume");
        let consumer = channel
            .basic_consume(
                self.names.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        self.active = Some(Active {
            channel: Arc::new(ChannelGuard(channel)),
            consumer,
            tag,
        });
        Ok(())
    }

    fn retire(&mut self) {
        if let Some(active) = self.active.take() {
            active.retire();
        }
    }

    fn delivery(&self, d: lapin::message::Delivery, channel: &Arc<ChannelGuard>) -> Delivery {
        let lapin::message::Delivery {
            redelivered,
            properties,
            data,
            acker,
            ..
        } = d;
        let mut message = codec::message(&self.topic, &properties, data);
        // Our retries carry the attempt in a header; a broker requeue (lost
        // member, nack with requeue) only says "redelivered": count it once.
        let attempt = message
            .attempt_header()
            .saturating_add(u32::from(redelivered));
        message
            .headers
            .insert(headers::ATTEMPT.to_owned(), attempt.to_string());
        let settle = AmqpSettle {
            inner: Arc::clone(&self.inner),
            names: Arc::clone(&self.names),
            acker: Some(acker),
            message: message.clone(),
            attempt,
            channel: Arc::clone(channel),
        };
        let limit = self.inner.conn.config().settle_timeout;
        Delivery::new(message, attempt, Box::new(settle)).with_settle_timeout(limit)
    }
}

#[async_trait]
impl Subscription for AmqpSubscription {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        if self.closed {
            return None;
        }
        if self.active.is_none() {
            if self.failures > 0 {
                tokio::time::sleep(backoff(self.failures, self.inner.conn.config())).await;
            }
            if let Err(e) = self.start().await {
                self.failures += 1;
                return Some(Err(e));
            }
            if self.failures > 0 {
                tracing::info!(queue = %self.names.queue, "AMQP consumer recovered");
                m::consumer_recovered();
            }
            self.failures = 0;
        }
        let active = self.active.as_mut()?;
        match active.consumer.next().await {
            Some(Ok(d)) => {
                let channel = Arc::clone(&active.channel);
                Some(Ok(self.delivery(d, &channel)))
            }
            Some(Err(e)) => {
                self.retire();
                self.failures += 1;
                tracing::warn!(queue = %self.names.queue, error = %e, "AMQP consumer failed; will reconnect");
                Some(Err(unavailable(e)))
            }
            None => {
                self.retire();
                self.failures += 1;
                tracing::warn!(queue = %self.names.queue, "AMQP consumer ended by the broker; will reconnect");
                Some(Err(Error::Unavailable(
                    format!(
                        "consumer on {} was cancelled or its connection closed",
                        self.names.queue
                    )
                    .into(),
                )))
            }
        }
    }

    async fn close(&mut self) -> Result<()> {
        self.closed = true;
        if let Some(active) = self.active.take() {
            if active.channel.0.status().connected() {
                m::request("basic.cancel");
                active
                    .channel
                    .0
                    .basic_cancel(active.tag.as_str().into(), BasicCancelOptions::default())
                    .await
                    .map_err(unavailable)?;
            }
        }
        Ok(())
    }
}

impl Drop for AmqpSubscription {
    fn drop(&mut self) {
        self.retire();
    }
}

/// Settles one delivery; requeues it if dropped unsettled.
pub(crate) struct AmqpSettle {
    inner: Arc<Inner>,
    names: Arc<Names>,
    acker: Option<Acker>,
    message: Message,
    attempt: u32,
    channel: Arc<ChannelGuard>,
}

impl std::fmt::Debug for AmqpSettle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSettle")
            .field("queue", &self.names.queue)
            .field("message_id", &self.message.id)
            .field("attempt", &self.attempt)
            .field("settled", &self.acker.is_none())
            .field("channel", &self.channel.0.id())
            .finish()
    }
}

impl AmqpSettle {
    /// The acker, if it can still settle: fails at once when the delivery's
    /// channel is gone (the broker requeues its unacked messages then).
    fn usable_acker(&self) -> Result<&Acker> {
        let acker = self
            .acker
            .as_ref()
            .ok_or_else(|| Error::Rejected("delivery already settled".into()))?;
        if !acker.usable() || !self.channel.0.status().connected() {
            return Err(self.channel_gone());
        }
        Ok(acker)
    }

    fn channel_gone(&self) -> Error {
        Error::Unavailable(
            format!(
                "the channel of message {} on {} is closed; the broker redelivers it",
                self.message.id, self.names.queue
            )
            .into(),
        )
    }

    async fn ack_original(&mut self) -> Result<()> {
        let acker = self.usable_acker()?;
        m::request("basic.ack");
        let acked = acker.ack(BasicAckOptions::default()).await;
        // An acker is single-use: whatever happened, it is spent now.
        self.acker = None;
        match acked {
            Ok(true) => Ok(()),
            // lapin: "already used or poisoned" — the ack was not sent.
            Ok(false) => Err(self.channel_gone()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Publishes a copy to `queue` (confirmed), then acks the original:
    /// a crash in between duplicates the message, never loses it.
    async fn move_to(&mut self, queue: String, headers: Headers) -> Result<()> {
        self.usable_acker()?;
        let mut copy = self.message.clone();
        copy.headers.extend(headers);
        let out = Outgoing {
            exchange: String::new(),
            routing_key: queue,
            payload: copy.payload.clone(),
            properties: codec::properties(&copy, None)?,
        };
        self.inner.publisher.send_copies(vec![out]).await?;
        self.ack_original().await
    }
}

#[async_trait]
impl Settle for AmqpSettle {
    async fn ack(&mut self) -> Result<()> {
        self.ack_original().await
    }

    async fn nack(&mut self, delay: Option<Duration>, mut failure: Headers) -> Result<()> {
        failure.insert(
            headers::ATTEMPT.to_owned(),
            self.attempt.saturating_add(1).to_string(),
        );
        let queue = match delay.filter(|d| !d.is_zero()) {
            Some(d) => {
                let level = self.inner.conn.config().retry_level(d);
                self.inner
                    .publisher
                    .ensure_retry_queue(&self.names, level)
                    .await?
            }
            None => self.names.queue.clone(),
        };
        self.move_to(queue, failure).await
    }

    async fn dead_letter(&mut self, failure: Headers) -> Result<()> {
        let queue = self.names.dead_letters.clone();
        self.move_to(queue, failure).await
    }
}

impl Drop for AmqpSettle {
    fn drop(&mut self) {
        // A closed channel has requeued the message already.
        let Some(acker) = self.acker.take().filter(Acker::usable) else {
            return;
        };
        let limit = self.inner.conn.config().settle_timeout;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                // Bounded like every settle: the channel's close requeues it
                // if this nack is never answered.
                let _ = tokio::time::timeout(limit, acker.nack(requeue)).await;
            });
        }
    }
}
