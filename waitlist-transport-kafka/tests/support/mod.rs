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

type Cluster = MockCluster<'static, DefaultProducerContext>;
type Job = Box<dyn FnOnce(&Cluster) + Send>;

/// A mock cluster on a thread of its own (the mock API is not thread-safe);
/// it lives for the rest of the test process.
#[derive(Clone, Debug)]
pub struct Mock {
    /// Bootstrap servers.
    pub brokers: String,
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Mock {
    /// Starts a cluster of `brokers` brokers.
    pub fn start(brokers: i32) -> Self {
        let (boot_tx, boot_rx) = std::sync::mpsc::channel();
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::spawn(move || {
            let cluster: Cluster = MockCluster::new(brokers).expect("mock cluster");
            boot_tx
                .send(cluster.bootstrap_servers())
                .expect("bootstrap");
            for job in rx {
                job(&cluster);
            }
        });
        let brokers = boot_rx.recv().expect("mock cluster thread");
        Self { brokers, jobs }
    }

    /// Runs `f` on the cluster and returns its result.
    pub fn run<R: Send + 'static>(&self, f: impl FnOnce(&Cluster) -> R + Send + 'static) -> R {
        let (tx, rx) = std::sync::mpsc::channel();
        self.jobs
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .expect("mock cluster thread");
        rx.recv().expect("mock cluster reply")
    }

    /// A topic creator using the mock's API (the mock has no CreateTopics).
    pub fn creator(&self) -> Arc<dyn TopicCreator> {
        Arc::new(MockTopics(std::sync::Mutex::new(self.clone())))
    }
}

#[derive(Debug)]
struct MockTopics(std::sync::Mutex<Mock>);

#[async_trait::async_trait]
impl TopicCreator for MockTopics {
    async fn create(
        &self,
        topics: &[&str],
        partitions: i32,
        _replication: i32,
    ) -> waitlist_core::Result<()> {
        let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let mock = self.0.lock().expect("lock").clone();
        mock.run(move |c| {
            names
                .iter()
                .try_for_each(|t| match c.create_topic(t, partitions, 1) {
                    Err(e) if !e.to_string().contains("TopicAlreadyExists") => Err(e.to_string()),
                    _ => Ok(()),
                })
        })
        .map_err(|e| waitlist_core::Error::Rejected(e.into()))
    }
}

/// Reports the running test as skipped, or fails it under
/// `WAITLIST_REQUIRE_BROKERS=1`: [`Harness::missing_broker`] with the name
/// of the test, which libtest gives the thread running it (so call this
/// from the test's body, not from a spawned task).
pub fn missing_broker() {
    Harness::missing_broker(std::thread::current().name().unwrap_or("a test"));
}

/// A transport on `mock` with the test settings.
pub fn mock_transport(mock: &Mock) -> KafkaTransport {
    KafkaTransport::with_topic_creator(config(&mock.brokers), mock.creator()).expect("transport")
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
    let mut small = config.clone();
    small.max_payload = 32 * 1024;
    let limited = make(small).expect("limited transport");
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
    h.limited_queue = Some(Arc::new(limited));
    h
}

/// The conformance harness on a fresh mock cluster.
pub async fn mock_harness() -> Option<Harness> {
    let mock = Mock::start(3);
    Some(harness_on(
        config(&mock.brokers),
        Some(mock.creator()),
        "mock",
    ))
}

/// Test settings on the real broker at `KAFKA_BROKERS`, or `None` if it is
/// down.
pub async fn broker_config() -> Option<KafkaConfig> {
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
    Some(c)
}

/// A transport on the real broker with [`broker_config`], or `None` if it
/// is down.
pub async fn broker_transport() -> Option<KafkaTransport> {
    let c = broker_config().await?;
    init_logs();
    Some(KafkaTransport::new(c).expect("transport"))
}

/// The conformance harness on the real broker, or `None` if it is down.
pub async fn broker_harness() -> Option<Harness> {
    Some(harness_on(broker_config().await?, None, "tansu"))
}
