//! The producer and the admin client shared by a transport.

use std::collections::HashSet;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use tokio::sync::Mutex;
use waitlist_core::transport::fit_copy;
use waitlist_core::{Error, Headers, Message, Result};

use crate::codec;
use crate::config::KafkaConfig;
use crate::metrics as m;

/// Maps an rdkafka error: transport problems are [`Error::Unavailable`].
pub(crate) fn map_err(e: KafkaError) -> Error {
    match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::NotEnoughReplicas
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::QueueFull
            | RDKafkaErrorCode::OperationTimedOut,
        ) => Error::unavailable(e),
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => Error::rejected(e),
        _ => Error::Other(Box::new(e)),
    }
}

/// Creates missing topics. The default uses the Kafka admin API; set your
/// own with [`KafkaTransport::with_topic_creator`](crate::KafkaTransport::with_topic_creator)
/// where topics are managed some other way.
#[async_trait::async_trait]
pub trait TopicCreator: Send + Sync + std::fmt::Debug {
    /// Creates `topics` with `partitions` partitions and `replication`
    /// replicas; topics that already exist are not an error.
    ///
    /// # Errors
    /// When a topic cannot be created.
    async fn create(&self, topics: &[&str], partitions: i32, replication: i32) -> Result<()>;
}

/// [`TopicCreator`] through the admin API (`CreateTopics`).
pub(crate) struct AdminCreator(AdminClient<DefaultClientContext>);

impl std::fmt::Debug for AdminCreator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminCreator")
    }
}

#[async_trait::async_trait]
impl TopicCreator for AdminCreator {
    async fn create(&self, topics: &[&str], partitions: i32, replication: i32) -> Result<()> {
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(15)));
        m::request("create_topics");
        let results = self
            .0
            .create_topics(&new, &options)
            .await
            .map_err(map_err)?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(Error::Rejected(
                        format!("creating topic {name}: {code}").into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Producer, topic creator and the topics known to exist.
pub(crate) struct Clients {
    pub(crate) config: KafkaConfig,
    pub(crate) producer: FutureProducer,
    pub(crate) creator: std::sync::Arc<dyn TopicCreator>,
    known: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("brokers", &self.config.brokers)
            .finish_non_exhaustive()
    }
}

impl Clients {
    pub(crate) fn new(config: KafkaConfig) -> Result<Self> {
        let producer: FutureProducer = config
            .producer()
            .create()
            .map_err(|e| Error::Config(format!("Kafka producer: {e}").into()))?;
        let admin: AdminClient<DefaultClientContext> = config
            .admin()
            .create()
            .map_err(|e| Error::Config(format!("Kafka admin client: {e}").into()))?;
        Ok(Self {
            config,
            producer,
            creator: std::sync::Arc::new(AdminCreator(admin)),
            known: Mutex::new(HashSet::new()),
        })
    }

    /// Creates the topics that do not exist yet (when configured to).
    pub(crate) async fn ensure_topics(&self, topics: &[&str]) -> Result<()> {
        if !self.config.create_topics {
            return Ok(());
        }
        let mut known = self.known.lock().await;
        let missing: Vec<&str> = topics
            .iter()
            .copied()
            .filter(|t| !known.contains(*t))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        self.creator
            .create(&missing, self.config.partitions, self.config.replication)
            .await?;
        known.extend(missing.iter().map(|t| (*t).to_owned()));
        Ok(())
    }

    /// Produces `messages` (to each message's topic, or `to` when given)
    /// with `extra` headers, and waits for every delivery report.
    pub(crate) async fn produce(
        &self,
        messages: &[Message],
        to: Option<&str>,
        extra: Option<&Headers>,
    ) -> Result<()> {
        let limit = self.config.max_payload;
        if let Some(big) = messages.iter().find(|m| m.payload.len() > limit) {
            return Err(Error::TooLarge {
                size: big.payload.len(),
                limit,
            });
        }
        self.produce_unchecked(messages, to, extra).await
    }

    /// Produces a copy of a delivered message (retry, dead letter, replay)
    /// to `to`: not held to the publish size limit, which guards what users
    /// publish. A dead letter is cut to fit the producer's
    /// `message.max.bytes` when its failure headers push it over
    /// ([`fit_copy`]); a retry copy is never cut — if the broker refuses
    /// it, the runtime dead-letters the message instead.
    pub(crate) async fn produce_copy(
        &self,
        message: &Message,
        to: &str,
        extra: &Headers,
        dead_letter: bool,
    ) -> Result<()> {
        if dead_letter {
            let copy = fit_copy(
                message,
                extra,
                self.config.record_limit(),
                codec::record_size,
            );
            self.produce_unchecked(&[copy], Some(to), None).await
        } else {
            self.produce_unchecked(std::slice::from_ref(message), Some(to), Some(extra))
                .await
        }
    }

    async fn produce_unchecked(
        &self,
        messages: &[Message],
        to: Option<&str>,
        extra: Option<&Headers>,
    ) -> Result<()> {
        let mut reports = Vec::with_capacity(messages.len());
        for message in messages {
            let topic = to.unwrap_or(&message.topic);
            let mut record = FutureRecord::to(topic)
                .payload(&message.payload[..])
                .headers(codec::kafka_headers(message, extra));
            if let Some(key) = &message.key {
                record = record.key(key.as_str());
            }
            loop {
                m::request("produce");
                match self.producer.send_result(record) {
                    Ok(report) => {
                        reports.push(report);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The local queue is full: wait for deliveries to drain it.
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(map_err(e)),
                }
            }
        }
        for report in reports {
            match report.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(map_err(e)),
                Err(_) => return Err(Error::Unavailable("the producer was dropped".into())),
            }
        }
        Ok(())
    }

    /// Waits until everything produced so far is delivered.
    pub(crate) async fn flush(&self) -> Result<()> {
        let timeout = self.config.delivery_timeout;
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|e| Error::Other(Box::new(e)))?
            .map_err(map_err)
    }
}
