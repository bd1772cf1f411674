//! Metrics of the AMQP transport.

/// Counter: AMQP operations sent to the broker, by `op`.
pub const REQUESTS: &str = "waitlist_amqp_requests_total";
/// Counter: failed connection attempts.
pub const RECONNECT_FAILURES: &str = "waitlist_amqp_reconnect_failures_total";
/// Counter: consumers re-established after the connection or channel was lost.
pub const CONSUMER_RECOVERIES: &str = "waitlist_amqp_consumer_recoveries_total";

pub(crate) fn request(op: &'static str) {
    metrics::counter!(REQUESTS, "op" => op).increment(1);
}

pub(crate) fn reconnect_failed() {
    metrics::counter!(RECONNECT_FAILURES).increment(1);
}

pub(crate) fn consumer_recovered() {
    metrics::counter!(CONSUMER_RECOVERIES).increment(1);
}
