//! Header names the SDK reads and writes on every transport.
//!
//! All names are lower-case ASCII so that they survive every broker's header
//! model (Kafka headers, SQS message attributes, AMQP table entries).

/// The envelope type of the payload (`user.signed_up`, `QUEUE_JOINED`, ...).
pub const EVENT_TYPE: &str = "waitlist-event-type";
/// MIME type of the payload; the SDK writes `application/json`.
pub const CONTENT_TYPE: &str = "content-type";
/// Delivery attempt, starting at 1, set by the transport on every delivery.
pub const ATTEMPT: &str = "waitlist-attempt";
/// Last error of a failed attempt (on retried and dead-lettered messages).
pub const ERROR: &str = "waitlist-error";
/// Time of the first failed attempt (RFC 3339).
pub const FIRST_FAILURE_AT: &str = "waitlist-first-failure-at";
/// Time of the last failed attempt (RFC 3339).
pub const LAST_FAILURE_AT: &str = "waitlist-last-failure-at";
/// Why a message was dead-lettered.
pub const DEAD_LETTER_REASON: &str = "waitlist-dead-letter-reason";
/// Attempts made before the message was dead-lettered.
pub const DEAD_LETTER_ATTEMPTS: &str = "waitlist-dead-letter-attempts";
/// The topic a dead-lettered message came from.
pub const ORIGIN_TOPIC: &str = "waitlist-origin-topic";
/// The consumer group that dead-lettered the message.
pub const ORIGIN_GROUP: &str = "waitlist-origin-group";
/// Earliest delivery time of a delayed retry (RFC 3339), for transports
/// that carry the delay in the message.
pub const NOT_BEFORE: &str = "waitlist-not-before";
/// Set on a dead-letter copy whose payload was cut to fit the broker's own
/// message size limit: the size in bytes of the original payload.
pub const TRUNCATED_FROM: &str = "waitlist-truncated-from";
