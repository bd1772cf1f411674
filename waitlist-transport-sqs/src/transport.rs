//! The transport: clients, topology, publisher and queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::ProvideErrorMetadata as _;
use aws_sdk_sqs::types::QueueAttributeName;
use tokio::sync::{mpsc, oneshot, Mutex};
use waitlist_core::transport::OrderingGuarantee;
use waitlist_core::{
    Capabilities, DeadLetterQueue, Error, Headers, Message, Publisher, Queue, Result, Subscribe,
    Subscription,
};

use crate::batcher::{self, Job};
use crate::config::{ClientSource, QueueKind, SqsConfig};
use crate::consumer::SqsSubscription;
use crate::dead_letters::SqsDeadLetters;
use crate::metrics::{CountRequests, RequestCounter};
use crate::send::{self, sdk_error, Dest, Outgoing};
use crate::settler::{Settler, SettlerConfig};
use crate::topology::{self, Names};

/// The queues of one consumer group.
#[derive(Debug, Clone)]
pub(crate) struct GroupQueues {
    pub(crate) url: Arc<str>,
    pub(crate) dead_letters: Arc<str>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: SqsConfig,
    pub(crate) sqs: aws_sdk_sqs::Client,
    sns: Option<aws_sdk_sns::Client>,
    pub(crate) settler: Settler,
    requests: Arc<RequestCounter>,
    topics: Mutex<HashMap<String, String>>,
    groups: Mutex<HashMap<(String, String), Arc<GroupQueues>>>,
    batchers: std::sync::Mutex<HashMap<Dest, mpsc::UnboundedSender<Job>>>,
    me: Weak<Inner>,
    closed: AtomicBool,
}

impl Inner {
    fn new(
        config: SqsConfig,
        sqs: aws_sdk_sqs::Client,
        sns: Option<aws_sdk_sns::Client>,
        settler: Settler,
        requests: Arc<RequestCounter>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            config,
            sqs,
            sns,
            settler,
            requests,
            topics: Mutex::default(),
            groups: Mutex::default(),
            batchers: std::sync::Mutex::default(),
            me: me.clone(),
            closed: AtomicBool::new(false),
        })
    }

    /// A transport state with an offline SQS client and the given settler,
    /// for tests that play the service through [`Settler::detached`].
    #[cfg(test)]
    pub(crate) fn detached(config: SqsConfig, settler: Settler) -> Arc<Self> {
        let sqs = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .build();
        let sqs = aws_sdk_sqs::Client::from_conf(sqs);
        Self::new(config, sqs, None, settler, Arc::default())
    }

    pub(crate) fn sns(&self) -> Result<&aws_sdk_sns::Client> {
        self.sns.as_ref().ok_or(Error::Config(
            "no SNS configuration was given: every topic must be direct (SqsConfig::with_direct_topic)".into(),
        ))
    }
}

/// Amazon SQS transport, with SNS for fan-out: both the [`Publisher`] and
/// the [`Queue`]. Clones share clients, caches and the request counter.
/// See the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct SqsTransport {
    inner: Arc<Inner>,
}

impl SqsTransport {
    /// Builds the clients of `config` and starts the batching task.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is out of the service's limits.
    pub async fn connect(config: SqsConfig) -> Result<Self> {
        config.validate()?;
        let requests = Arc::new(RequestCounter::default());
        let counter = CountRequests(Arc::clone(&requests));
        let (sqs_conf, sns_conf) = match &config.source {
            ClientSource::Environment => {
                let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                (
                    aws_sdk_sqs::config::Builder::from(&shared),
                    Some(aws_sdk_sns::config::Builder::from(&shared)),
                )
            }
            ClientSource::Shared(shared) => (
                aws_sdk_sqs::config::Builder::from(shared.as_ref()),
                Some(aws_sdk_sns::config::Builder::from(shared.as_ref())),
            ),
            ClientSource::Services(pair) => (
                pair.0.to_builder(),
                pair.1.as_ref().map(aws_sdk_sns::Config::to_builder),
            ),
        };
        let sqs = aws_sdk_sqs::Client::from_conf(sqs_conf.interceptor(counter.clone()).build());
        let sns = sns_conf.map(|b| aws_sdk_sns::Client::from_conf(b.interceptor(counter).build()));
        let settler = Settler::start(
            sqs.clone(),
            SettlerConfig {
                batch_size: config.batch_size,
                linger: Duration::from_millis(5),
                max_in_flight: config.max_in_flight_requests,
                entry_retries: config.entry_retries,
            },
        );
        Ok(Self {
            inner: Inner::new(config, sqs, sns, settler, requests),
        })
    }

    /// Connects with [`SqsConfig::from_env`] and the AWS SDK's environment.
    ///
    /// # Errors
    /// As [`SqsConfig::from_env`] and [`connect`](Self::connect).
    pub async fn from_env() -> Result<Self> {
        Self::connect(SqsConfig::from_env()?).await
    }

    /// The configuration in use.
    pub fn config(&self) -> &SqsConfig {
        &self.inner.config
    }

    /// The SQS client (with the request counter installed).
    pub fn sqs_client(&self) -> &aws_sdk_sqs::Client {
        &self.inner.sqs
    }

    /// API requests (SQS and SNS) sent so far by this transport and its
    /// clones, the SDK's own retries included. Also exported as the
    /// [`REQUESTS`](crate::metrics::REQUESTS) metric.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.total()
    }

    /// Requests of one API operation (`SendMessageBatch`,
    /// `DeleteMessageBatch`, `ReceiveMessage`, ...) sent so far by this
    /// transport and its clones, retries included.
    pub fn requests_of(&self, op: &str) -> u64 {
        self.inner.requests.of(op)
    }

    /// The names of `group`'s queues on `topic`.
    pub fn names(&self, topic: &str, group: &str) -> Names {
        Names::new(
            &self.inner.config.prefix,
            self.inner.config.kind,
            topic,
            group,
        )
    }

    /// Creates (or finds) the topic, the group's queue and its dead-letter
    /// queue, and subscribes the queue to the topic, so that messages
    /// published before any member subscribes are kept. Returns the queue URL.
    ///
    /// # Errors
    /// If the service refuses or cannot be reached.
    pub async fn declare_group(&self, topic: &str, group: &str) -> Result<String> {
        Ok(self.inner.group(topic, group).await?.url.to_string())
    }

    /// The ARN of `topic`'s SNS topic, created when missing.
    ///
    /// # Errors
    /// If the service refuses or cannot be reached, or topology creation is
    /// off and no ARN was configured.
    pub async fn topic_arn(&self, topic: &str) -> Result<String> {
        self.inner.topic_arn(topic).await
    }
}

impl Inner {
    pub(crate) async fn topic_arn(&self, topic: &str) -> Result<String> {
        if let Some(arn) = self.config.topic_arns.get(topic) {
            return Ok(arn.clone());
        }
        let mut topics = self.topics.lock().await;
        if let Some(arn) = topics.get(topic) {
            return Ok(arn.clone());
        }
        if !self.config.create_topology {
            return Err(Error::Config(format!(
                "topic {topic:?} has no SNS topic ARN (SqsConfig::with_topic_arn) and topology creation is off"
            ).into()));
        }
        let name = topology::topic_name(&self.config.prefix, self.config.kind, topic);
        let mut req = self.sns()?.create_topic().name(&name);
        if self.config.kind == QueueKind::Fifo {
            req = req
                .attributes("FifoTopic", "true")
                .attributes("ContentBasedDeduplication", "false");
        }
        let out = req.send().await.map_err(|e| sdk_error("CreateTopic", e))?;
        let arn = out
            .topic_arn()
            .ok_or_else(|| Error::Rejected(format!("CreateTopic {name}: no ARN returned").into()))?
            .to_owned();
        topics.insert(topic.to_owned(), arn.clone());
        Ok(arn)
    }

    /// Hands `items` (one batch) to `dest`'s batcher and waits for them.
    async fn publish_job(&self, dest: Dest, items: Vec<Outgoing>) -> Result<()> {
        let (done, rx) = oneshot::channel();
        let mut job = Job { items, done };
        for _ in 0..2 {
            let tx = {
                let mut batchers = self
                    .batchers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                batchers
                    .entry(dest.clone())
                    .or_insert_with(|| {
                        batcher::start(
                            self.me.clone(),
                            dest.clone(),
                            self.config.max_in_flight_requests,
                        )
                    })
                    .clone()
            };
            match tx.send(job) {
                Ok(()) => return rx.await.map_err(|_| Error::Closed)?,
                Err(mpsc::error::SendError(back)) => {
                    // Its task ended (runtime gone): start a new one.
                    job = back;
                    self.batchers
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&dest);
                }
            }
        }
        Err(Error::Closed)
    }

    /// The destination of messages published to `topic`.
    pub(crate) async fn destination(&self, topic: &str) -> Result<Dest> {
        match self.config.direct.get(topic) {
            Some(group) => Ok(Dest::Queue(self.group(topic, group).await?.url.to_string())),
            None => Ok(Dest::Topic(self.topic_arn(topic).await?)),
        }
    }

    /// The queues of `group` on `topic`, created (and subscribed) on first use.
    pub(crate) async fn group(&self, topic: &str, group: &str) -> Result<Arc<GroupQueues>> {
        waitlist_core::transport::check_subscription(topic, group)?;
        if let Some(only) = self.config.direct.get(topic) {
            if only != group {
                return Err(Error::Config(format!(
                    "topic {topic:?} is direct to group {only:?} (SqsConfig::with_direct_topic); group {group:?} cannot subscribe to it"
                ).into()));
            }
        }
        let key = (topic.to_owned(), group.to_owned());
        let mut groups = self.groups.lock().await;
        if let Some(g) = groups.get(&key) {
            return Ok(Arc::clone(g));
        }
        let names = Names::new(&self.config.prefix, self.config.kind, topic, group);
        let dead_letters = match self.config.dead_letter_urls.get(&key) {
            Some(url) => url.clone(),
            None => self.queue(&names.dead_letters, None).await?,
        };
        let url = match self.config.queue_urls.get(&key) {
            Some(url) => url.clone(),
            None => {
                let dlq_arn = self.queue_arn(&dead_letters).await?;
                self.queue(&names.queue, Some((&dlq_arn, topic))).await?
            }
        };
        if self.config.create_topology && !self.config.direct.contains_key(topic) {
            let topic_arn = self.topic_arn(topic).await?;
            let queue_arn = self.queue_arn(&url).await?;
            self.sns()?
                .subscribe()
                .topic_arn(&topic_arn)
                .protocol("sqs")
                .endpoint(&queue_arn)
                .attributes("RawMessageDelivery", "true")
                .return_subscription_arn(true)
                .send()
                .await
                .map_err(|e| sdk_error("Subscribe", e))?;
        }
        let g = Arc::new(GroupQueues {
            url: url.into(),
            dead_letters: dead_letters.into(),
        });
        groups.insert(key, Arc::clone(&g));
        Ok(g)
    }

    /// Creates queue `name` (a group queue when `redrive` gives its
    /// dead-letter ARN and topic), or looks it up when creation is off or
    /// it exists with other attributes.
    async fn queue(&self, name: &str, redrive: Option<(&str, &str)>) -> Result<String> {
        if !self.config.create_topology {
            return self.queue_url(name).await;
        }
        let c = &self.config;
        let mut req = self
            .sqs
            .create_queue()
            .queue_name(name)
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                c.retention.as_secs().min(1_209_600).to_string(),
            )
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                c.visibility_secs().to_string(),
            );
        if c.kind == QueueKind::Fifo {
            req = req.attributes(QueueAttributeName::FifoQueue, "true");
        }
        if let Some((dlq_arn, topic)) = redrive {
            let policy = serde_json::json!({
                "deadLetterTargetArn": dlq_arn,
                "maxReceiveCount": c.max_receive_count,
            });
            req = req.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
            if !c.direct.contains_key(topic) {
                // Let the topic (only it) deliver to the queue.
                let topic_arn = self.topic_arn(topic).await?;
                let access = serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": "*",
                        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                    }],
                });
                req = req.attributes(QueueAttributeName::Policy, access.to_string());
            }
        }
        match req.send().await {
            Ok(out) => out.queue_url().map(str::to_owned).ok_or_else(|| {
                Error::Rejected(format!("CreateQueue {name}: no URL returned").into())
            }),
            Err(e) => {
                // The typed error (JSON protocol), or its code as emulators
                // speaking the older query protocol send it.
                let exists = e.as_service_error().is_some_and(|se| {
                    se.is_queue_name_exists() || se.code() == Some("QueueAlreadyExists")
                });
                if exists {
                    tracing::warn!(
                        queue = name,
                        "queue exists with other attributes; using it as it is"
                    );
                    self.queue_url(name).await
                } else {
                    Err(sdk_error("CreateQueue", e))
                }
            }
        }
    }

    async fn queue_url(&self, name: &str) -> Result<String> {
        let out = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("GetQueueUrl", e))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| Error::NotFound(format!("queue {name}").into()))
    }

    async fn queue_arn(&self, url: &str) -> Result<String> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sdk_error("GetQueueAttributes", e))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| Error::Rejected(format!("queue {url} has no ARN").into()))
    }
}

#[async_trait]
impl Publisher for SqsTransport {
    /// Sends each topic's messages in batches, in order; resolves when SNS
    /// or SQS accepted every message.
    async fn publish(&self, messages: Vec<Message>) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        // Consecutive runs of one topic keep their order.
        let mut runs: Vec<(String, Vec<Outgoing>)> = Vec::new();
        let none = Headers::new();
        for m in &messages {
            let out = Outgoing::new(&self.inner.config, m, &none, false)?;
            match runs.last_mut() {
                Some((topic, items)) if *topic == m.topic => items.push(out),
                _ => runs.push((m.topic.clone(), vec![out])),
            }
        }
        for (topic, items) in runs {
            let dest = self.inner.destination(&topic).await?;
            let mut batches = send::chunks(&self.inner.config, items);
            if batches.len() == 1 {
                // Small publishes from concurrent callers share requests.
                let items = batches.pop().unwrap_or_default();
                self.inner.publish_job(dest, items).await?;
            } else {
                for batch in batches {
                    send::send_all(&self.inner, &dest, batch).await?;
                }
            }
        }
        Ok(())
    }

    /// Every publish already waited for the service, so closing only
    /// refuses further publishes ([`Error::Closed`]).
    async fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsTransport {
    fn capabilities(&self) -> Capabilities {
        let fifo = self.inner.config.kind == QueueKind::Fifo;
        let ordering = if fifo {
            OrderingGuarantee::PerKey
        } else {
            OrderingGuarantee::None
        };
        // Room for the attributes the SDK adds (id, key, headers).
        let max_payload = self.inner.config.max_message_bytes.saturating_sub(8 * 1024);
        Capabilities::new("sqs")
            .ordering(ordering)
            .native_delay()
            .persistent()
            .max_payload(max_payload)
            .deduplicates_ids(fifo)
    }

    async fn join(&self, request: Subscribe) -> Result<Box<dyn Subscription>> {
        let queues = self.inner.group(request.topic(), request.group()).await?;
        Ok(Box::new(SqsSubscription::start(
            Arc::clone(&self.inner),
            request.topic(),
            queues,
            request.options(),
        )))
    }

    async fn dead_letters(&self, topic: &str, group: &str) -> Result<Box<dyn DeadLetterQueue>> {
        let queues = self.inner.group(topic, group).await?;
        Ok(Box::new(SqsDeadLetters {
            inner: Arc::clone(&self.inner),
            topic: topic.to_owned(),
            queues,
        }))
    }
}
