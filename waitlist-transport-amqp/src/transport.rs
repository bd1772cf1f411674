//! The transport: publisher and queue over one connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use waitlist_core::{
    Capabilities, DeadLetterQueue, Error, Message, Publisher, Queue, Result, Subscribe,
    Subscription,
};

use crate::codec;
use crate::config::AmqpConfig;
use crate::connection::ConnectionManager;
use crate::consumer::AmqpSubscription;
use crate::dead_letters::AmqpDeadLetters;
use crate::publisher::{ConfirmChannel, Outgoing};
use crate::topology::{self, Names};

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) conn: Arc<ConnectionManager>,
    pub(crate) publisher: ConfirmChannel,
    closed: AtomicBool,
}

/// RabbitMQ transport: both the [`Publisher`] and the [`Queue`].
///
/// Clones share one connection. See the [crate docs](crate) for the
/// topology and the guarantees.
#[derive(Debug, Clone)]
pub struct AmqpTransport {
    inner: Arc<Inner>,
}

impl AmqpTransport {
    /// Connects to the broker of `config`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the broker cannot be reached within the
    /// configured reconnect deadline.
    pub async fn connect(config: AmqpConfig) -> Result<Self> {
        let conn = Arc::new(ConnectionManager::new(config));
        conn.connection().await?;
        Ok(Self {
            inner: Arc::new(Inner {
                publisher: ConfirmChannel::new(Arc::clone(&conn)),
                conn,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Connects with [`AmqpConfig::from_env`] (`AMQP_URL`).
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn from_env() -> Result<Self> {
        Self::connect(AmqpConfig::from_env()).await
    }

    /// The configuration in use.
    pub fn config(&self) -> &AmqpConfig {
        self.inner.conn.config()
    }

    /// The names of `group`'s queues on `topic`.
    pub fn names(&self, topic: &str, group: &str) -> Names {
        Names::new(&self.config().prefix, topic, group)
    }

    /// Declares the exchange of `topic` and the queues of `group`, so that
    /// messages published before any member subscribes are kept.
    ///
    /// # Errors
    /// If the broker is unreachable or refuses the declaration.
    pub async fn declare_group(&self, topic: &str, group: &str) -> Result<()> {
        let ch = self.inner.publisher.channel().await?;
        topology::declare_group(&ch, &self.names(topic, group)).await
    }

    /// Closes the connection: publishing and consuming through this
    /// transport (and its clones) stop.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.publisher.close().await;
        self.inner.conn.close().await;
    }
}

#[async_trait]
impl Publisher for AmqpTransport {
    async fn publish(&self, messages: Vec<Message>) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let prefix = &self.config().prefix;
        let mut batch = Vec::with_capacity(messages.len());
        let mut last_exchange = String::new();
        for message in &messages {
            let exchange = topology::exchange_name(prefix, &message.topic);
            if exchange != last_exchange {
                self.inner.publisher.ensure_exchange(&exchange).await?;
                last_exchange.clone_from(&exchange);
            }
            batch.push(Outgoing {
                exchange,
                routing_key: String::new(),
                payload: message.payload.clone(),
                properties: codec::properties(message, None)?,
            });
        }
        self.inner.publisher.send(batch).await
    }

    /// Every publish already waited for its confirms, so closing only stops
    /// further publishes (they fail with [`Error::Closed`]) and releases the
    /// publishing channel; consumers on the same connection keep running.
    async fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.publisher.close().await;
        Ok(())
    }
}

#[async_trait]
impl Queue for AmqpTransport {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new("amqp")
            .native_delay()
            .persistent()
            .restartable()
            .max_payload(self.config().max_payload)
    }

    async fn join(&self, request: Subscribe) -> Result<Box<dyn Subscription>> {
        let (topic, group) = (request.topic(), request.group());
        let prefetch = u16::try_from(request.options().prefetch.max(1)).unwrap_or(u16::MAX);
        let mut sub = AmqpSubscription::new(
            Arc::clone(&self.inner),
            topic,
            self.names(topic, group),
            prefetch,
        );
        // Declare and start now, so the group exists once subscribe returns.
        sub.start().await?;
        Ok(Box::new(sub))
    }

    async fn dead_letters(&self, topic: &str, group: &str) -> Result<Box<dyn DeadLetterQueue>> {
        Ok(Box::new(AmqpDeadLetters {
            inner: Arc::clone(&self.inner),
            topic: topic.to_owned(),
            names: self.names(topic, group),
        }))
    }
}
