//! Harnesses for the Kafka tests: librdkafka's in-process mock cluster, and
//! the real broker at `KAFKA_BROKERS` (started by `scripts/services.sh`).

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use waitlist_core::conformance::Harness;
use waitlist_core::Publisher;
use waitlist_transport_kafka::{KafkaConfig, KafkaTransport, TopicCreator};

type Request = (
    Vec<String>,
    i32,
    std::sync::mpsc::Sender<Result<(), String>>,
);

/// A mock cluster of `brokers` brokers on a thread of its own (the mock API
/// is not thread-safe); it lives for the rest of the test process. Returns
/// its bootstrap servers and a topic creator that uses the mock's API (the
/// mock has no CreateTopics request).
pub fn mock_cluster(brokers: i32) -> (String, Arc<dyn TopicCreator>) {
    let (boot_tx, boot_rx) = std::sync::mpsc::channel();
    let (req_tx, req_rx) = std::sync::mpsc::channel::<Request>();
    std::thread::spawn(move || {
        let cluster: MockCluster<'static, DefaultProducerContext> =
            MockCluster::new(brokers).expect("mock cluster");
        boot_tx
            .send(cluster.bootstrap_servers())
            .expect("bootstrap");
        for (topics, partitions, reply) in req_rx {
            let r = topics
                .iter()
                .try_for_each(|t| match cluster.create_topic(t, partitions, 1) {
                    Err(e) if !e.to_string().contains("TopicAlreadyExists") => Err(e.to_string()),
                    _ => Ok(()),
                });
            let _ = reply.send(r);
        }
    });
    let boot = boot_rx.recv().expect("mock cluster thread");
    (boot, Arc::new(MockTopics(std::sync::Mutex::new(req_tx))))
}

#[derive(Debug)]
struct MockTopics(std::sync::Mutex<std::sync::mpsc::Sender<Request>>);

#[async_trait::async_trait]
impl TopicCreator for MockTopics {
    async fn create(
        &self,
        topics: &[&str],
        partitions: i32,
        _replication: i32,
    ) -> waitlist_core::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        let names = topics.iter().map(|t| (*t).to_owned()).collect();
        self.0
            .lock()
            .unwrap()
            .send((names, partitions, tx))
            .expect("mock cluster thread");
        rx.recv()
            .expect("mock cluster reply")
            .map_err(waitlist_core::Error::Rejected)
    }
}

/// Test settings on `brokers`: few partitions, fast commits.
pub fn config(brokers: &str) -> KafkaConfig {
    let mut c = KafkaConfig::new(brokers).with_topic_layout(4, 1);
    c.commit_interval = Duration::from_millis(50);
    c.join_timeout = Duration::from_secs(5);
    c
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

fn harness_on(
    config: KafkaConfig,
    creator: Option<Arc<dyn TopicCreator>>,
    prefix: &str,
) -> Harness {
    let make = move |c: KafkaConfig| match &creator {
        Some(cr) => KafkaTransport::with_topic_creator(c, Arc::clone(cr)),
        None => KafkaTransport::new(c),
    };
    init_logs();
    let t = make(config.clone()).expect("transport");
    let mut h = Harness::new(
        Arc::new(t.clone()),
        Arc::new(t),
        Box::new(move || {
            let c = config.clone();
            let p = make(c);
            Box::pin(async move { Ok(Arc::new(p?) as Arc<dyn Publisher>) })
        }),
    );
    h.prefix = prefix.into();
    h.quiet = Duration::from_millis(1500);
    h
}

/// The conformance harness on a fresh mock cluster.
pub async fn mock_harness() -> Option<Harness> {
    let (boot, creator) = mock_cluster(3);
    Some(harness_on(config(&boot), Some(creator), "mock"))
}

/// The conformance harness on the real broker, or `None` if it is down.
pub async fn broker_harness() -> Option<Harness> {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let addr = brokers.split(',').next()?.to_owned();
    tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let mut c = config(&brokers);
    // tansu 0.6 does not serve a fetch that starts inside a record batch
    // (Kafka returns the whole batch and the client skips ahead), so a group
    // resuming from a committed offset mid-batch would stall. One record per
    // batch keeps every offset at a batch start on this broker.
    c.producer_properties
        .insert("batch.num.messages".into(), "1".into());
    Some(harness_on(c, None, "tansu"))
}
