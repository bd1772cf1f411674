//! Default topic and consumer-group names, and their environment overrides.
//!
//! The environment variables are those of the product documents:
//!
//! | Variable | Meaning | Default |
//! |---|---|---|
//! | `KAFKA_TOPIC` | domain-events topic | `domain-events` |
//! | `KAFKA_JOB_TOPIC` | job-events topic | `job-events` |
//! | `KAFKA_WORKER_POOL_SIZE` | workers per consumer group | `10` |
//! | `KAFKA_CONSUMER_GROUP` | webhook consumer group | `webhook-consumers` |
//! | `KAFKA_JOB_CONSUMER_GROUP` | job consumer group | `job-workers` |
//!
//! The webhook document also names its topic `KAFKA_TOPIC`; here that
//! variable means the domain topic, and the webhook topic is
//! [`WEBHOOK_EVENTS`] unless [`Topics::webhooks`] is set in code.
//!
//! An unset or empty variable means "use the default". Every `*_from_env`
//! function has a `*_from_lookup` twin taking the lookup as a closure, so it
//! can be tested without touching the process environment.

/// Topic of the domain events (`user.signed_up`, `referral.verified`, …).
pub const DOMAIN_EVENTS: &str = "domain-events";
/// Topic of the background jobs (`job.email.*`, `job.position.recalculate`, …).
pub const JOB_EVENTS: &str = "job-events";
/// Topic of the webhook events (`user.created`, …), keyed by account.
pub const WEBHOOK_EVENTS: &str = "webhook-events";

/// Topic of email notifications.
pub const NOTIFICATIONS_EMAIL: &str = "notifications.email";
/// Topic of WhatsApp notifications.
pub const NOTIFICATIONS_WHATSAPP: &str = "notifications.whatsapp";
/// Topic of push notifications.
pub const NOTIFICATIONS_PUSH: &str = "notifications.push";

/// Waiting-room topic: a user joined the queue.
pub const QUEUE_JOINED: &str = "QUEUE_JOINED";
/// Waiting-room topic: a user left the queue.
pub const QUEUE_LEFT: &str = "QUEUE_LEFT";
/// Waiting-room topic: a user was admitted to checkout.
pub const QUEUE_READY: &str = "QUEUE_READY";
/// Waiting-room topic: a checkout completed.
pub const CHECKOUT_COMPLETED: &str = "CHECKOUT_COMPLETED";
/// Waiting-room topic: a checkout failed.
pub const CHECKOUT_FAILED: &str = "CHECKOUT_FAILED";
/// Waiting-room topic: a checkout expired.
pub const CHECKOUT_EXPIRED: &str = "CHECKOUT_EXPIRED";

/// Default number of concurrent workers per consumer group.
pub const DEFAULT_WORKER_POOL_SIZE: usize = 10;

/// Variable overriding the domain-events topic.
pub const ENV_TOPIC: &str = "KAFKA_TOPIC";
/// Variable overriding the job-events topic.
pub const ENV_JOB_TOPIC: &str = "KAFKA_JOB_TOPIC";
/// Variable overriding the worker pool size.
pub const ENV_WORKER_POOL_SIZE: &str = "KAFKA_WORKER_POOL_SIZE";
/// Variable overriding the webhook consumer group.
pub const ENV_CONSUMER_GROUP: &str = "KAFKA_CONSUMER_GROUP";
/// Variable overriding the job consumer group.
pub const ENV_JOB_CONSUMER_GROUP: &str = "KAFKA_JOB_CONSUMER_GROUP";

/// An environment variable has a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for environment variable {name}: expected {expected}")]
pub struct InvalidEnv {
    /// The variable, e.g. `KAFKA_WORKER_POOL_SIZE`.
    pub name: String,
    /// The value it has.
    pub value: String,
    /// What a valid value looks like.
    pub expected: &'static str,
}

/// The process environment as a lookup; unset and non-UTF-8 values are `None`.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `lookup(name)`, or `default` when unset or empty.
fn string_or(lookup: &impl Fn(&str) -> Option<String>, name: &str, default: &str) -> String {
    match lookup(name) {
        Some(value) if !value.is_empty() => value,
        _ => default.to_owned(),
    }
}

/// The topics of the enveloped events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Domain events topic ([`DOMAIN_EVENTS`] by default).
    pub domain: String,
    /// Job events topic ([`JOB_EVENTS`] by default).
    pub jobs: String,
    /// Webhook events topic ([`WEBHOOK_EVENTS`] by default).
    pub webhooks: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            domain: DOMAIN_EVENTS.to_owned(),
            jobs: JOB_EVENTS.to_owned(),
            webhooks: WEBHOOK_EVENTS.to_owned(),
        }
    }
}

impl Topics {
    /// The defaults, overridden by `KAFKA_TOPIC` (domain) and
    /// `KAFKA_JOB_TOPIC` (jobs) from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(process_env)
    }

    /// Like [`Topics::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            domain: string_or(&lookup, ENV_TOPIC, DOMAIN_EVENTS),
            jobs: string_or(&lookup, ENV_JOB_TOPIC, JOB_EVENTS),
            webhooks: WEBHOOK_EVENTS.to_owned(),
        }
    }
}

/// The worker pool size from `KAFKA_WORKER_POOL_SIZE`, or
/// [`DEFAULT_WORKER_POOL_SIZE`] when unset or empty.
///
/// # Errors
///
/// [`InvalidEnv`] when the value is not a positive integer (0 included).
pub fn worker_pool_size_from_env() -> Result<usize, InvalidEnv> {
    worker_pool_size_from_lookup(process_env)
}

/// Like [`worker_pool_size_from_env`], reading the variable through `lookup`.
///
/// # Errors
///
/// [`InvalidEnv`] when the value is not a positive integer (0 included).
pub fn worker_pool_size_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<usize, InvalidEnv> {
    let value = match lookup(ENV_WORKER_POOL_SIZE) {
        Some(value) if !value.is_empty() => value,
        _ => return Ok(DEFAULT_WORKER_POOL_SIZE),
    };
    match value.trim().parse::<usize>() {
        Ok(size) if size > 0 => Ok(size),
        _ => Err(InvalidEnv {
            name: ENV_WORKER_POOL_SIZE.to_owned(),
            value,
            expected: "a positive integer",
        }),
    }
}

/// The webhook consumer group from `KAFKA_CONSUMER_GROUP`, or
/// [`WEBHOOK_CONSUMERS`](super::groups::WEBHOOK_CONSUMERS) when unset or empty.
pub fn webhook_consumer_group_from_env() -> String {
    webhook_consumer_group_from_lookup(process_env)
}

/// Like [`webhook_consumer_group_from_env`], reading the variable through `lookup`.
pub fn webhook_consumer_group_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> String {
    string_or(
        &lookup,
        ENV_CONSUMER_GROUP,
        super::groups::WEBHOOK_CONSUMERS,
    )
}

/// The job consumer group from `KAFKA_JOB_CONSUMER_GROUP`, or
/// [`JOB_WORKERS`](super::groups::JOB_WORKERS) when unset or empty.
pub fn job_consumer_group_from_env() -> String {
    job_consumer_group_from_lookup(process_env)
}

/// Like [`job_consumer_group_from_env`], reading the variable through `lookup`.
pub fn job_consumer_group_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> String {
    string_or(&lookup, ENV_JOB_CONSUMER_GROUP, super::groups::JOB_WORKERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn topics_default_and_overrides() {
        assert_eq!(Topics::from_lookup(env(&[])), Topics::default());
        assert_eq!(Topics::default().domain, "domain-events");
        let t = Topics::from_lookup(env(&[
            ("KAFKA_TOPIC", "dom-prod"),
            ("KAFKA_JOB_TOPIC", "jobs-prod"),
        ]));
        assert_eq!(t.domain, "dom-prod");
        assert_eq!(t.jobs, "jobs-prod");
        assert_eq!(t.webhooks, WEBHOOK_EVENTS);
        let empty = Topics::from_lookup(env(&[("KAFKA_TOPIC", "")]));
        assert_eq!(empty.domain, DOMAIN_EVENTS);
    }

    #[test]
    fn pool_size() {
        assert_eq!(worker_pool_size_from_lookup(env(&[])), Ok(10));
        let ok = env(&[("KAFKA_WORKER_POOL_SIZE", "20")]);
        assert_eq!(worker_pool_size_from_lookup(ok), Ok(20));
        for bad in ["0", "-1", "ten", "1.5"] {
            let lookup = move |_: &str| Some(bad.to_owned());
            let err = worker_pool_size_from_lookup(lookup).expect_err("invalid");
            assert_eq!(err.name, "KAFKA_WORKER_POOL_SIZE");
            assert_eq!(err.value, bad);
            assert!(err.to_string().contains("KAFKA_WORKER_POOL_SIZE"));
        }
    }

    #[test]
    fn groups() {
        assert_eq!(
            webhook_consumer_group_from_lookup(env(&[])),
            "webhook-consumers"
        );
        assert_eq!(job_consumer_group_from_lookup(env(&[])), "job-workers");
        let prod = env(&[
            ("KAFKA_CONSUMER_GROUP", "webhook-consumers-prod"),
            ("KAFKA_JOB_CONSUMER_GROUP", "job-workers-prod"),
        ]);
        assert_eq!(
            webhook_consumer_group_from_lookup(&prod),
            "webhook-consumers-prod"
        );
        assert_eq!(job_consumer_group_from_lookup(&prod), "job-workers-prod");
    }
}
