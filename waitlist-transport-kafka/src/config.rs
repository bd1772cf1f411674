//! Configuration of the Kafka transport.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;

/// Environment variable with the comma-separated broker list.
pub const KAFKA_BROKERS_ENV: &str = "KAFKA_BROKERS";
/// Broker list when `KAFKA_BROKERS` is not set (the documents' default).
pub const DEFAULT_BROKERS: &str = "localhost:9092";

/// Settings of a [`KafkaTransport`](crate::KafkaTransport).
///
/// Its `Debug` output shows the native properties with the values of
/// secret ones (passwords, keys, tokens, JAAS and OAuth configurations)
/// replaced by `***`; see [`is_secret_property`].
#[derive(Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Native librdkafka properties for every client (TLS, SASL, ...).
    pub properties: BTreeMap<String, String>,
    /// Native properties for the producer only (override the defaults).
    pub producer_properties: BTreeMap<String, String>,
    /// Native properties for consumers only (override the defaults).
    pub consumer_properties: BTreeMap<String, String>,
    /// Create missing topics (main, retry, dead-letter) through the admin API.
    pub create_topics: bool,
    /// Partitions of topics the transport creates.
    pub partitions: i32,
    /// Replication factor of topics the transport creates.
    pub replication: i32,
    /// How often consumers commit the offsets of finished work.
    pub commit_interval: Duration,
    /// How long a publish may wait for its delivery report.
    pub delivery_timeout: Duration,
    /// How long `subscribe` waits for the group to assign partitions.
    pub join_timeout: Duration,
    /// Largest payload accepted from a publisher (retry, dead-letter and
    /// replay copies of delivered messages are not held to it).
    pub max_payload: usize,
}

/// Whether the value of the librdkafka property `name` is a secret that
/// must not appear in logs: passwords (`sasl.password`,
/// `ssl.key.password`, `ssl.keystore.password`), private keys
/// (`ssl.key.pem`), secrets and tokens (`sasl.oauthbearer.client.secret`,
/// `sasl.oauthbearer.config`) and JAAS configurations.
pub fn is_secret_property(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "key.pem",
        "jaas",
        "oauthbearer.config",
        "credential",
    ]
    .iter()
    .any(|part| name.contains(part))
}

/// A property map for `Debug` output, secret values redacted.
struct Redacted<'a>(&'a BTreeMap<String, String>);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_secret_property(k) {
                    "***"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("properties", &Redacted(&self.properties))
            .field("producer_properties", &Redacted(&self.producer_properties))
            .field("consumer_properties", &Redacted(&self.consumer_properties))
            .field("create_topics", &self.create_topics)
            .field("partitions", &self.partitions)
            .field("replication", &self.replication)
            .field("commit_interval", &self.commit_interval)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("join_timeout", &self.join_timeout)
            .field("max_payload", &self.max_payload)
            .finish()
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: DEFAULT_BROKERS.to_owned(),
            properties: BTreeMap::new(),
            producer_properties: BTreeMap::new(),
            consumer_properties: BTreeMap::new(),
            create_topics: true,
            partitions: 10,
            replication: 1,
            commit_interval: Duration::from_millis(200),
            delivery_timeout: Duration::from_secs(30),
            join_timeout: Duration::from_secs(30),
            max_payload: 1024 * 1024,
        }
    }
}

impl KafkaConfig {
    /// Defaults with `brokers`.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            ..Self::default()
        }
    }

    /// Defaults with the brokers of `KAFKA_BROKERS`.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        match lookup(KAFKA_BROKERS_ENV) {
            Some(b) if !b.trim().is_empty() => Self::new(b.trim()),
            _ => Self::default(),
        }
    }

    /// Sets a native librdkafka property for every client.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Sets the partitions (and replication) of topics the transport creates.
    pub fn with_topic_layout(mut self, partitions: i32, replication: i32) -> Self {
        self.partitions = partitions.max(1);
        self.replication = replication.max(1);
        self
    }

    /// The producer's record size limit (`message.max.bytes`, librdkafka's
    /// default 1,000,000 unless set): dead-letter copies are cut to fit it.
    pub(crate) fn record_limit(&self) -> usize {
        self.producer_properties
            .get("message.max.bytes")
            .or_else(|| self.properties.get("message.max.bytes"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1_000_000)
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// Producer settings: `acks=all`, idempotence, the Java client's murmur2
    /// partitioner, then the user's properties.
    pub fn producer(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("acks", "all")
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("compression.type", "none")
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            );
        for (k, v) in &self.producer_properties {
            c.set(k, v);
        }
        c
    }

    /// Consumer settings for `group`: no auto-commit, earliest offset,
    /// bounded local queue, then the user's properties.
    pub fn consumer(&self, group: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("queued.max.messages.kbytes", "16384")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("statistics.interval.ms", "5000")
            .set("fetch.wait.max.ms", "100")
            .set("topic.metadata.refresh.interval.ms", "1000");
        for (k, v) in &self.consumer_properties {
            c.set(k, v);
        }
        c
    }

    /// Admin client settings.
    pub fn admin(&self) -> ClientConfig {
        self.base()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_come_from_kafka_brokers() {
        let c =
            KafkaConfig::from_lookup(|k| (k == KAFKA_BROKERS_ENV).then(|| "a:1,b:2".to_owned()));
        assert_eq!(c.brokers, "a:1,b:2");
        assert_eq!(KafkaConfig::from_lookup(|_| None).brokers, DEFAULT_BROKERS);
    }

    #[test]
    fn producer_defaults_are_durable_and_java_compatible() {
        let p = KafkaConfig::default().producer();
        assert_eq!(p.get("acks"), Some("all"));
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        assert_eq!(p.get("partitioner"), Some("murmur2_random"));
    }

    #[test]
    fn debug_output_hides_secret_properties() {
        let mut c = KafkaConfig::new("b:9092")
            .set("security.protocol", "SASL_SSL")
            .set("sasl.username", "alice")
            .set("sasl.password", "pw-one-1")
            .set("ssl.key.password", "pw-two-2")
            .set("ssl.key.pem", "-----BEGIN PRIVATE KEY-----pem-3")
            .set("sasl.oauthbearer.client.secret", "oauth-4")
            .set("sasl.oauthbearer.config", "principal=p token-5");
        c.producer_properties
            .insert("SSL.KEYSTORE.PASSWORD".into(), "pw-six-6".into());
        c.consumer_properties
            .insert("sasl.jaas.config".into(), "jaas-7".into());
        let shown = format!("{c:?} {c:#?}");
        for secret in [
            "pw-one-1", "pw-two-2", "pem-3", "oauth-4", "token-5", "pw-six-6", "jaas-7",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        for visible in ["SASL_SSL", "alice", "b:9092", "sasl.password"] {
            assert!(shown.contains(visible), "{visible} missing from {shown}");
        }
    }

    #[test]
    fn native_properties_pass_through_and_win() {
        let mut c = KafkaConfig::default().set("security.protocol", "SASL_SSL");
        c.producer_properties
            .insert("compression.type".into(), "zstd".into());
        assert_eq!(c.producer().get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.producer().get("compression.type"), Some("zstd"));
        assert_eq!(c.consumer("g").get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.consumer("g").get("enable.auto.commit"), Some("false"));
    }
}
