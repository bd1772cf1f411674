//! Harness for the SQS tests: the local SQS/SNS emulator (moto, started by
//! `scripts/services.sh`), or `None` when it is not reachable (the tests
//! then fail under `WAITLIST_REQUIRE_BROKERS=1`).

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::config::Credentials;
use waitlist_core::conformance::Harness;
use waitlist_core::Publisher;
use waitlist_transport_sqs::{QueueKind, SqsConfig, SqsTransport};

/// `AWS_ENDPOINT_URL`, or the emulator of `scripts/services.sh`.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// AWS configuration for the emulator: its endpoint, a region, test credentials.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "waitlist-tests",
        ))
        .load()
        .await
}

/// Test configuration of `kind`.
pub async fn config(kind: QueueKind) -> SqsConfig {
    SqsConfig::new()
        .with_sdk_config(sdk_config().await)
        .with_kind(kind)
        .with_prefix("wl-test-")
}

/// Reports the running test as skipped, or fails it under
/// `WAITLIST_REQUIRE_BROKERS=1`: [`Harness::missing_broker`] with the name
/// of the test, which libtest gives the thread running it (so call this
/// from the test's body, not from a spawned task).
pub fn missing_broker() {
    Harness::missing_broker(std::thread::current().name().unwrap_or("a test"));
}

/// A transport on the emulator, or `None` when it does not answer.
pub async fn transport(kind: QueueKind) -> Option<SqsTransport> {
    let t = SqsTransport::connect(config(kind).await).await.ok()?;
    let probe = t.sqs_client().list_queues().max_results(1).send();
    match tokio::time::timeout(Duration::from_secs(5), probe).await {
        Ok(Ok(_)) => Some(t),
        _ => None,
    }
}

async fn harness(kind: QueueKind, prefix: &str) -> Option<Harness> {
    let t = transport(kind).await?;
    let mut h = Harness::new(
        Arc::new(t.clone()),
        Arc::new(t),
        Box::new(move || {
            Box::pin(async move {
                let p = SqsTransport::connect(config(kind).await).await?;
                Ok(Arc::new(p) as Arc<dyn Publisher>)
            })
        }),
    );
    h.prefix = prefix.into();
    h.quiet = Duration::from_millis(1500);
    // moto's cost per request grows with a queue's backlog (every send
    // recounts the queue), so the volume tests send a fifth of their
    // messages here; concurrency is unchanged.
    h.volume = 0.2;
    let small = config(kind).await.with_size_limits(40 * 1024, 256 * 1024);
    h.limited_queue = Some(Arc::new(SqsTransport::connect(small).await.ok()?));
    Some(h)
}

/// The conformance harness on standard queues.
pub async fn standard() -> Option<Harness> {
    harness(QueueKind::Standard, "sqs").await
}

/// The conformance harness on FIFO queues and topics.
pub async fn fifo() -> Option<Harness> {
    harness(QueueKind::Fifo, "fifo").await
}
