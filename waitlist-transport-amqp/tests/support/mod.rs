//! Harness for the RabbitMQ tests: the local broker, or `None` when it is
//! not reachable (the tests then fail under `WAITLIST_REQUIRE_BROKERS=1`).

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use waitlist_core::conformance::Harness;
use waitlist_core::runtime::{ConsumerGroup, RunningGroup};
use waitlist_core::{Publisher, Queue};
use waitlist_transport_amqp::{AmqpConfig, AmqpTransport};

/// Configuration for tests: `AMQP_URL` or the local broker, test prefix.
pub fn config() -> AmqpConfig {
    let mut c = AmqpConfig::from_env().with_prefix("wl-test.");
    c.reconnect_deadline = Duration::from_secs(90);
    c
}

/// A transport on the test broker, or `None` when it does not answer.
pub async fn transport() -> Option<AmqpTransport> {
    let mut probe = config();
    probe.reconnect_deadline = Duration::from_secs(3);
    AmqpTransport::connect(probe.clone())
        .await
        .ok()?
        .shutdown()
        .await;
    AmqpTransport::connect(config()).await.ok()
}

/// Reports the running test as skipped, or fails it under
/// `WAITLIST_REQUIRE_BROKERS=1`: [`Harness::missing_broker`] with the name
/// of the test, which libtest gives the thread running it (so call this
/// from the test's body, not from a spawned task).
pub fn missing_broker() {
    Harness::missing_broker(std::thread::current().name().unwrap_or("a test"));
}

/// A transport on the test broker and a fresh topic name `{what}-…`, or
/// `None` (reported by [`missing_broker`]) when the broker does not answer.
pub async fn setup(what: &str) -> Option<(AmqpTransport, String)> {
    let Some(t) = transport().await else {
        missing_broker();
        return None;
    };
    Some((t, format!("{what}-{}", uuid::Uuid::new_v4().simple())))
}

/// Starts `group` on `t`, panicking if it cannot.
pub async fn start(t: &AmqpTransport, group: ConsumerGroup) -> RunningGroup {
    let queue: Arc<dyn Queue> = Arc::new(t.clone());
    group.start(queue).await.expect("start the consumer group")
}

/// The conformance harness on the local broker.
pub async fn harness() -> Option<Harness> {
    let t = transport().await?;
    let mut h = Harness::new(
        Arc::new(t.clone()),
        Arc::new(t),
        Box::new(|| {
            Box::pin(async {
                let p = AmqpTransport::connect(config()).await?;
                Ok(Arc::new(p) as Arc<dyn Publisher>)
            })
        }),
    );
    h.prefix = "amqp".into();
    h.quiet = Duration::from_millis(500);
    let mut small = config();
    small.max_payload = 32 * 1024;
    h.limited_queue = Some(Arc::new(AmqpTransport::connect(small).await.ok()?));
    Some(h)
}

/// Runs `rabbitmqctl <args>` and panics if it fails.
pub async fn rabbitmqctl(args: &[&str]) {
    let out = tokio::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running rabbitmqctl {args:?}: {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
