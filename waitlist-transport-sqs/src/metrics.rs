//! Metrics of the SQS transport.
//!
//! Requests are counted where they leave: an interceptor on the AWS clients
//! sees every attempt, the SDK's own retries included, so the counter is
//! what AWS bills.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// Counter: API requests sent to SQS and SNS, by `service` and `op`
/// (`SendMessageBatch`, `ReceiveMessage`, `PublishBatch`, ...).
pub const REQUESTS: &str = "waitlist_sqs_requests_total";
/// Counter: entries of a batch request the service refused, by `op`
/// (each is retried on its own before its operation fails).
pub const FAILED_ENTRIES: &str = "waitlist_sqs_failed_batch_entries_total";
/// Counter: visibility extensions of messages whose handler is still running.
pub const HEARTBEATS: &str = "waitlist_sqs_visibility_extensions_total";

/// Requests sent by one transport (all its clones), readable in code:
/// in total and by operation.
#[derive(Debug, Default)]
pub struct RequestCounter {
    total: AtomicU64,
    by_op: Mutex<HashMap<String, u64>>,
}

impl RequestCounter {
    /// Requests sent so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Requests of one operation (`DeleteMessageBatch`, `ReceiveMessage`,
    /// ...) sent so far.
    pub fn of(&self, op: &str) -> u64 {
        self.by_op
            .lock()
            .map_or(0, |m| m.get(op).copied().unwrap_or(0))
    }

    fn count(&self, op: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut m) = self.by_op.lock() {
            match m.get_mut(op) {
                Some(n) => *n += 1,
                None => {
                    m.insert(op.to_owned(), 1);
                }
            }
        }
    }
}

/// Counts every request attempt of the client it is installed on.
#[derive(Debug, Clone)]
pub(crate) struct CountRequests(pub(crate) Arc<RequestCounter>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "waitlist-count-requests"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, op) = cfg.load::<Metadata>().map_or_else(
            || (String::from("unknown"), String::from("unknown")),
            |m| (m.service().to_owned(), m.name().to_owned()),
        );
        self.0.count(&op);
        metrics::counter!(REQUESTS, "service" => service, "op" => op).increment(1);
        Ok(())
    }
}

pub(crate) fn failed_entries(op: &'static str, n: usize) {
    metrics::counter!(FAILED_ENTRIES, "op" => op).increment(n as u64);
}

pub(crate) fn heartbeats(n: usize) {
    metrics::counter!(HEARTBEATS).increment(n as u64);
}
