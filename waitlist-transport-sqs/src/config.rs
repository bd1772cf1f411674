//! Configuration: where the queues live and how the transport uses them.

use std::collections::HashMap;
use std::time::Duration;

use waitlist_core::{Error, Result};

/// Environment variable: prefix of every queue and topic name.
pub const PREFIX_ENV: &str = "WAITLIST_SQS_PREFIX";
/// Environment variable: `true` for FIFO queues and topics.
pub const FIFO_ENV: &str = "WAITLIST_SQS_FIFO";

/// Standard or FIFO queues (and topics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueKind {
    /// Standard queues: highest throughput, no order, rare duplicates.
    #[default]
    Standard,
    /// FIFO queues and topics: the partition key is the `MessageGroupId`
    /// (per-key order across consumers), the message id the deduplication id.
    Fifo,
}

/// Where the AWS clients come from.
#[derive(Clone, Default)]
pub(crate) enum ClientSource {
    /// `aws_config::load_defaults` (region, endpoint, credentials chain).
    #[default]
    Environment,
    /// A loaded shared configuration.
    Shared(Box<aws_config::SdkConfig>),
    /// Ready service configurations.
    Services(Box<(aws_sdk_sqs::Config, Option<aws_sdk_sns::Config>)>),
}

impl std::fmt::Debug for ClientSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientSource::Environment => "Environment",
            ClientSource::Shared(_) => "Shared",
            ClientSource::Services(..) => "Services",
        })
    }
}

/// Configuration of the SQS transport.
///
/// ```
/// use std::time::Duration;
/// use waitlist_transport_sqs::{QueueKind, SqsConfig};
///
/// let config = SqsConfig::new()
///     .with_prefix("prod-")
///     .with_kind(QueueKind::Fifo)
///     .with_visibility_timeout(Duration::from_secs(60))
///     // webhook-deliveries has one consumer group: skip SNS for it.
///     .with_direct_topic("webhook-deliveries", "webhook-senders");
/// assert_eq!(config.kind, QueueKind::Fifo);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqsConfig {
    pub(crate) source: ClientSource,
    /// Prefix of every queue and topic name the transport creates.
    pub prefix: String,
    /// Standard or FIFO.
    pub kind: QueueKind,
    /// Create topics, queues, subscriptions and redrive policies when
    /// missing (idempotent). When off, names are looked up and every topic
    /// needs an ARN from [`with_topic_arn`](Self::with_topic_arn).
    pub create_topology: bool,
    /// Visibility timeout of received messages; the heartbeat extends it for
    /// as long as a handler runs.
    pub visibility_timeout: Duration,
    /// Long-polling wait of a receive (at most 20 s).
    pub wait_time: Duration,
    /// Entries per send, delete or visibility batch (at most 10).
    pub batch_size: usize,
    /// Largest request body of a batch in bytes (the service's limit).
    pub max_batch_bytes: usize,
    /// Largest message (body and attributes) in bytes (the service's limit).
    pub max_message_bytes: usize,
    /// Receives before SQS moves a message that is never settled to the
    /// dead-letter queue (redrive policy). Keep it above the retry policy's
    /// attempts: nacks count as receives.
    pub max_receive_count: u32,
    /// Receive requests one member keeps in flight at most.
    pub receivers: usize,
    /// Batch requests (sends, deletes, visibility changes) in flight at most.
    pub max_in_flight_requests: usize,
    /// How many times an entry that failed inside a batch is sent again
    /// before its operation reports the error.
    pub entry_retries: u32,
    /// Retention of group and dead-letter queues.
    pub retention: Duration,
    pub(crate) direct: HashMap<String, String>,
    pub(crate) topic_arns: HashMap<String, String>,
    pub(crate) queue_urls: HashMap<(String, String), String>,
    pub(crate) dead_letter_urls: HashMap<(String, String), String>,
}

impl Default for SqsConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl SqsConfig {
    /// Defaults: clients from the environment, standard queues, topology
    /// created on demand, 30 s visibility, 20 s long polling, batches of 10
    /// within 256 KiB, 50 receives before the redrive policy applies.
    pub fn new() -> Self {
        Self {
            source: ClientSource::Environment,
            prefix: String::new(),
            kind: QueueKind::Standard,
            create_topology: true,
            visibility_timeout: Duration::from_secs(30),
            wait_time: Duration::from_secs(20),
            batch_size: 10,
            max_batch_bytes: 256 * 1024,
            max_message_bytes: 256 * 1024,
            max_receive_count: 50,
            receivers: 2,
            max_in_flight_requests: 16,
            entry_retries: 3,
            retention: Duration::from_secs(14 * 24 * 3600),
            direct: HashMap::new(),
            topic_arns: HashMap::new(),
            queue_urls: HashMap::new(),
            dead_letter_urls: HashMap::new(),
        }
    }

    /// Defaults plus `WAITLIST_SQS_PREFIX` and `WAITLIST_SQS_FIFO`. Region,
    /// endpoint (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SQS`, ...) and
    /// credentials come from the AWS SDK's usual chain when connecting.
    ///
    /// # Errors
    /// [`Error::Config`] when `WAITLIST_SQS_FIFO` is not a boolean.
    pub fn from_env() -> Result<Self> {
        let mut c = Self::new();
        if let Ok(prefix) = std::env::var(PREFIX_ENV) {
            c.prefix = prefix;
        }
        if let Ok(v) = std::env::var(FIFO_ENV) {
            c.kind = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => QueueKind::Fifo,
                "0" | "false" | "no" | "" => QueueKind::Standard,
                other => {
                    return Err(Error::Config(
                        format!("{FIFO_ENV} must be true or false, not {other:?}").into(),
                    ))
                }
            };
        }
        Ok(c)
    }

    /// Uses a loaded AWS configuration (`aws_config::load_defaults` or your own).
    pub fn with_sdk_config(mut self, config: aws_config::SdkConfig) -> Self {
        self.source = ClientSource::Shared(Box::new(config));
        self
    }

    /// Uses ready service configurations; without an SNS configuration every
    /// topic must be [direct](Self::with_direct_topic).
    pub fn with_service_configs(
        mut self,
        sqs: aws_sdk_sqs::Config,
        sns: Option<aws_sdk_sns::Config>,
    ) -> Self {
        self.source = ClientSource::Services(Box::new((sqs, sns)));
        self
    }

    /// Sets the name prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets standard or FIFO.
    pub fn with_kind(mut self, kind: QueueKind) -> Self {
        self.kind = kind;
        self
    }

    /// Turns creating missing topology on or off.
    pub fn with_create_topology(mut self, create: bool) -> Self {
        self.create_topology = create;
        self
    }

    /// Sets the visibility timeout (whole seconds, 1 s to 12 h).
    pub fn with_visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// Sets the long-polling wait (0 to 20 s).
    pub fn with_wait_time(mut self, wait: Duration) -> Self {
        self.wait_time = wait;
        self
    }

    /// Sets the entries per batch (1 to 10).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets the size limits of one message and one batch request.
    pub fn with_size_limits(mut self, message: usize, batch: usize) -> Self {
        self.max_message_bytes = message;
        self.max_batch_bytes = batch;
        self
    }

    /// Sets the receives after which the redrive policy dead-letters.
    pub fn with_max_receive_count(mut self, n: u32) -> Self {
        self.max_receive_count = n;
        self
    }

    /// Publishes `topic` straight to the queue of its only consumer group
    /// `group` (no SNS topic). Subscribing another group to it is an error.
    pub fn with_direct_topic(mut self, topic: impl Into<String>, group: impl Into<String>) -> Self {
        self.direct.insert(topic.into(), group.into());
        self
    }

    /// Uses the existing SNS topic `arn` for `topic`.
    pub fn with_topic_arn(mut self, topic: impl Into<String>, arn: impl Into<String>) -> Self {
        self.topic_arns.insert(topic.into(), arn.into());
        self
    }

    /// Uses the existing queue `url` for `group` on `topic`.
    pub fn with_queue_url(
        mut self,
        topic: impl Into<String>,
        group: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        self.queue_urls
            .insert((topic.into(), group.into()), url.into());
        self
    }

    /// Uses the existing queue `url` as the dead-letter queue of `group` on `topic`.
    pub fn with_dead_letter_queue_url(
        mut self,
        topic: impl Into<String>,
        group: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        self.dead_letter_urls
            .insert((topic.into(), group.into()), url.into());
        self
    }

    /// Largest copy of a delivered message (retry, dead letter, replay) the
    /// transport sends: the service's limit — the larger of the message
    /// limit and 256 KiB — not a lowered publish limit.
    pub(crate) fn copy_limit(&self) -> usize {
        self.max_message_bytes.max(256 * 1024)
    }

    /// Checks the limits the service imposes.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(what.into()));
        if !(1..=10).contains(&self.batch_size) {
            return bad(format!(
                "batch size must be 1 to 10, not {}",
                self.batch_size
            ));
        }
        if self.wait_time > Duration::from_secs(20) {
            return bad(format!(
                "long-polling wait must be at most 20 s, not {:?}",
                self.wait_time
            ));
        }
        let vis = self.visibility_timeout.as_secs();
        if !(1..=MAX_VISIBILITY_SECS).contains(&vis) {
            return bad(format!(
                "visibility timeout must be 1 s to 12 h, not {:?}",
                self.visibility_timeout
            ));
        }
        if self.max_message_bytes < 1024 || self.max_batch_bytes < self.max_message_bytes {
            return bad(format!(
                "size limits: message {} bytes must be at least 1024 and at most the batch limit {}",
                self.max_message_bytes, self.max_batch_bytes
            ));
        }
        if self.max_receive_count == 0 || self.max_receive_count > 1000 {
            return bad(format!(
                "max receive count must be 1 to 1000, not {}",
                self.max_receive_count
            ));
        }
        if self.receivers == 0 || self.max_in_flight_requests == 0 {
            return bad("receivers and requests in flight must be at least 1".into());
        }
        Ok(())
    }

    /// The whole-second visibility timeout.
    pub(crate) fn visibility_secs(&self) -> i32 {
        i32::try_from(
            self.visibility_timeout
                .as_secs()
                .clamp(1, MAX_VISIBILITY_SECS),
        )
        .unwrap_or(30)
    }
}

/// The service's longest visibility timeout: 12 hours.
pub(crate) const MAX_VISIBILITY_SECS: u64 = 12 * 3600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_limits_are_checked() {
        assert!(SqsConfig::new().validate().is_ok());
        for bad in [
            SqsConfig::new().with_batch_size(11),
            SqsConfig::new().with_batch_size(0),
            SqsConfig::new().with_wait_time(Duration::from_secs(21)),
            SqsConfig::new().with_visibility_timeout(Duration::from_secs(13 * 3600)),
            SqsConfig::new().with_size_limits(2048, 1024),
            SqsConfig::new().with_max_receive_count(0),
        ] {
            assert!(matches!(bad.validate(), Err(Error::Config(_))), "{bad:?}");
        }
    }
}
