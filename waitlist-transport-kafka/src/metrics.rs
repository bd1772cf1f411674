//! Metrics of the Kafka transport.

/// Counter: requests the transport makes, by `op`.
pub const REQUESTS: &str = "waitlist_kafka_requests_total";
/// Gauge: consumer lag per partition, by `group`, `topic` and `partition`.
pub const CONSUMER_LAG: &str = "waitlist_kafka_consumer_lag";
/// Counter: offset commits that failed, by `group`.
pub const COMMIT_ERRORS: &str = "waitlist_kafka_commit_errors_total";

pub(crate) fn request(op: &'static str) {
    metrics::counter!(REQUESTS, "op" => op).increment(1);
}
