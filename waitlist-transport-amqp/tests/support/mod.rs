//! Harness for the RabbitMQ tests: the local broker, or `None` when it is
//! not reachable (the tests then fail under `WAITLIST_REQUIRE_BROKERS=1`).

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use waitlist_core::conformance::Harness;
use waitlist_core::Publisher;
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
