//! The transport: publisher and queue over one producer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use waitlist_core::transport::OrderingGuarantee;
use waitlist_core::{
    Capabilities, DeadLetterQueue, Error, Message, Publisher, Queue, Result, Subscribe,
    Subscription,
};

use crate::config::KafkaConfig;
use crate::consumer::{self, KafkaSubscription, Shared};
use crate::dead_letters::KafkaDeadLetters;
use crate::producer::{Clients, TopicCreator};
use crate::topics::Names;

/// Kafka transport: both the [`Publisher`] and the [`Queue`].
#[derive(Debug, Clone)]
pub struct KafkaTransport {
    clients: Arc<Clients>,
    closed: Arc<AtomicBool>,
}

impl KafkaTransport {
    /// Creates the producer and admin clients for `config` (connections are
    /// made lazily by librdkafka).
    ///
    /// # Errors
    /// [`Error::Config`] for invalid client properties.
    pub fn new(config: KafkaConfig) -> Result<Self> {
        Ok(Self {
            clients: Arc::new(Clients::new(config)?),
            closed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// As [`new`](Self::new), creating missing topics through `creator`
    /// instead of the admin API (for topics managed some other way).
    ///
    /// # Errors
    /// [`Error::Config`] for invalid client properties.
    pub fn with_topic_creator(config: KafkaConfig, creator: Arc<dyn TopicCreator>) -> Result<Self> {
        let mut clients = Clients::new(config)?;
        clients.creator = creator;
        Ok(Self {
            clients: Arc::new(clients),
            closed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// With [`KafkaConfig::from_env`] (`KAFKA_BROKERS`).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn from_env() -> Result<Self> {
        Self::new(KafkaConfig::from_env())
    }

    /// The configuration in use.
    pub fn config(&self) -> &KafkaConfig {
        &self.clients.config
    }

    /// Asks the brokers for the cluster's metadata and returns once one has
    /// answered: librdkafka connects lazily, so this is how a service
    /// learns at startup that `KAFKA_BROKERS` points nowhere.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when no broker answers within `timeout`.
    pub async fn check(&self, timeout: std::time::Duration) -> Result<()> {
        let clients = Arc::clone(&self.clients);
        tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer;
            clients
                .producer
                .client()
                .fetch_metadata(None, timeout)
                .map(|_| ())
                .map_err(crate::producer::map_err)
        })
        .await
        .map_err(|e| Error::unavailable(std::io::Error::other(e.to_string())))?
    }

    /// Creates `topics` if missing (with the configured partitions).
    ///
    /// # Errors
    /// If the brokers refuse or cannot be reached.
    pub async fn create_topics(&self, topics: &[&str]) -> Result<()> {
        self.clients.ensure_topics(topics).await
    }
}

#[async_trait]
impl Publisher for KafkaTransport {
    async fn publish(&self, messages: Vec<Message>) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let mut topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        self.clients.ensure_topics(&topics).await?;
        self.clients.produce(&messages, None, None).await
    }

    /// Flushes everything produced and refuses further publishes.
    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        self.clients.flush().await
    }
}

#[async_trait]
impl Queue for KafkaTransport {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new("kafka")
            .ordering(OrderingGuarantee::PerKey)
            .native_delay()
            .persistent()
            .max_payload(self.config().max_payload)
    }

    async fn join(&self, request: Subscribe) -> Result<Box<dyn Subscription>> {
        let (topic, group) = (request.topic(), request.group());
        let names = Names::new(topic, group);
        self.clients
            .ensure_topics(&[&names.topic, &names.retry, &names.dead_letters])
            .await?;
        let shared = Arc::new(Shared::default());
        let consumer = Arc::new(consumer::create(&self.clients, &names, group, &shared)?);
        let poller = tokio::spawn(consumer::poll(
            Arc::clone(&consumer),
            Arc::clone(&shared),
            // Fetched-but-not-handed-out records the member may buffer before
            // it pauses its partitions; well above the runtime's in-flight
            // bound so that pausing does not thrash.
            request.options().prefetch.max(1).saturating_mul(4).max(256),
            self.config().commit_interval,
            group.to_owned(),
        ));
        let sub = KafkaSubscription {
            clients: Arc::clone(&self.clients),
            names: Arc::new(names),
            shared,
            consumer,
            poller: Some(poller),
        };
        if !sub.joined(self.config().join_timeout).await {
            tracing::warn!(%topic, %group, "no partition assignment yet; consuming once the group assigns some");
        }
        Ok(Box::new(sub))
    }

    async fn dead_letters(&self, topic: &str, group: &str) -> Result<Box<dyn DeadLetterQueue>> {
        let names = Names::new(topic, group);
        self.clients.ensure_topics(&[&names.dead_letters]).await?;
        Ok(Box::new(KafkaDeadLetters {
            clients: Arc::clone(&self.clients),
            names,
        }))
    }
}
