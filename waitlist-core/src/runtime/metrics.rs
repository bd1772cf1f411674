//! Metric names the SDK emits through the [`metrics`] facade.
//!
//! Install any `metrics` recorder (for example a Prometheus exporter) in the
//! host service to collect them. Labels are bounded: event types without a
//! route are reported as `unknown`.

/// Counter: messages published, by `topic`.
pub const PUBLISHED: &str = "waitlist_published_total";
/// Counter: publish failures, by `topic`.
pub const PUBLISH_ERRORS: &str = "waitlist_publish_errors_total";
/// Counter: deliveries handled, by `group`, `event_type` and `outcome`
/// (`done`, `skip`, `retry`, `dead_letter`, `duplicate`).
pub const PROCESSED: &str = "waitlist_processed_total";
/// Histogram: handler time in seconds, by `group` and `event_type`.
pub const PROCESSING_SECONDS: &str = "waitlist_processing_seconds";
/// Gauge: deliveries fetched and not yet settled, by `group`.
pub const IN_FLIGHT: &str = "waitlist_in_flight";
/// Counter: deliveries sent back for a retry, by `group`.
pub const RETRIED: &str = "waitlist_retried_total";
/// Counter: deliveries dead-lettered, by `group`.
pub const DEAD_LETTERED: &str = "waitlist_dead_lettered_total";
/// Counter: settle calls that failed even after retrying, by `group`.
pub const SETTLE_ERRORS: &str = "waitlist_settle_errors_total";
/// Counter: handler panics (contained and retried), by `group`.
pub const HANDLER_PANICS: &str = "waitlist_handler_panics_total";
/// Counter: errors returned by a subscription, by `group`.
pub const SUBSCRIPTION_ERRORS: &str = "waitlist_subscription_errors_total";
/// Gauge: members of the group running in this process, by `group` (0 once
/// every member stopped, on its own or by a shutdown).
pub const GROUP_MEMBERS: &str = "waitlist_group_members";

/// Every metric of the runtime, for dashboards and alert rules to check
/// their names against (the transports and stores list theirs alongside).
pub const ALL: &[&str] = &[
    PUBLISHED,
    PUBLISH_ERRORS,
    PROCESSED,
    PROCESSING_SECONDS,
    IN_FLIGHT,
    RETRIED,
    DEAD_LETTERED,
    SETTLE_ERRORS,
    HANDLER_PANICS,
    SUBSCRIPTION_ERRORS,
    GROUP_MEMBERS,
];

/// Registers descriptions of every metric with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(PUBLISHED, "Messages published");
    describe_counter!(PUBLISH_ERRORS, "Publish calls that failed");
    describe_counter!(PROCESSED, "Deliveries handled, by outcome");
    describe_histogram!(PROCESSING_SECONDS, Unit::Seconds, "Handler time");
    describe_gauge!(IN_FLIGHT, "Deliveries fetched and not yet settled");
    describe_counter!(RETRIED, "Deliveries sent back for a retry");
    describe_counter!(DEAD_LETTERED, "Deliveries moved to the dead-letter queue");
    describe_counter!(SETTLE_ERRORS, "Settle calls that failed after retries");
    describe_counter!(HANDLER_PANICS, "Handler panics, contained and retried");
    describe_counter!(SUBSCRIPTION_ERRORS, "Errors returned by a subscription");
    describe_gauge!(
        GROUP_MEMBERS,
        "Members of the group running in this process"
    );
}
