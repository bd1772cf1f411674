//! Configuration of the AMQP transport.

use std::time::Duration;

use lapin::ConnectionProperties;
use waitlist_core::{Error, Result};

/// Environment variable with the broker URL.
pub const AMQP_URL_ENV: &str = "AMQP_URL";
/// The default broker URL (a local RabbitMQ with the guest account).
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Settings of an [`AmqpTransport`](crate::AmqpTransport).
#[derive(Clone)]
pub struct AmqpConfig {
    /// Broker URL (`amqp://` or `amqps://`).
    pub url: String,
    /// Native lapin connection properties (client name, locale, ...).
    pub properties: ConnectionProperties,
    /// Prefix of every exchange and queue name the transport declares.
    pub prefix: String,
    /// Delays a retry queue exists for; a retry waits the smallest level at
    /// least as long as asked (never less), capped at the largest.
    pub retry_levels: Vec<Duration>,
    /// How often a publish is tried again after the connection was lost.
    pub publish_attempts: u32,
    /// First pause before reconnecting; doubles up to `reconnect_max`.
    pub reconnect_initial: Duration,
    /// Longest pause between reconnection attempts.
    pub reconnect_max: Duration,
    /// How long one operation waits for the broker to come back.
    pub reconnect_deadline: Duration,
    /// Largest payload accepted from a publisher (retry, dead-letter and
    /// replay copies of delivered messages are not held to it).
    pub max_payload: usize,
    /// Bound on one settle call (ack, or a retry or dead-letter copy
    /// confirmed and then the ack); past it the delivery is given up and
    /// the broker redelivers it.
    pub settle_timeout: Duration,
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("retry_levels", &self.retry_levels)
            .field("publish_attempts", &self.publish_attempts)
            .field("reconnect_initial", &self.reconnect_initial)
            .field("reconnect_max", &self.reconnect_max)
            .field("reconnect_deadline", &self.reconnect_deadline)
            .field("max_payload", &self.max_payload)
            .field("settle_timeout", &self.settle_timeout)
            .finish_non_exhaustive()
    }
}

/// The URL with its password replaced, for logs.
pub(crate) fn redact(url: &str) -> String {
    waitlist_core::secrets::redact_url(url)
}

impl Default for AmqpConfig {
    fn default() -> Self {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        Self {
            url: DEFAULT_AMQP_URL.to_owned(),
            properties: ConnectionProperties::default(),
            prefix: String::new(),
            retry_levels: vec![
                ms(100),
                ms(250),
                ms(500),
                s(1),
                s(2),
                s(5),
                s(10),
                s(30),
                s(60),
                s(120),
                s(300),
                s(600),
                s(1800),
                s(3600),
                s(6 * 3600),
                s(24 * 3600),
            ],
            publish_attempts: 5,
            reconnect_initial: ms(100),
            reconnect_max: s(5),
            reconnect_deadline: s(60),
            max_payload: 16 * 1024 * 1024,
            settle_timeout: waitlist_core::transport::DEFAULT_SETTLE_TIMEOUT,
        }
    }
}

impl AmqpConfig {
    /// Defaults with `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Defaults with the URL from `AMQP_URL` (or the local default).
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        match lookup(AMQP_URL_ENV) {
            Some(url) if !url.trim().is_empty() => Self::new(url.trim()),
            _ => Self::default(),
        }
    }

    /// Sets the native lapin connection properties.
    pub fn with_properties(mut self, properties: ConnectionProperties) -> Self {
        self.properties = properties;
        self
    }

    /// Sets the name prefix of exchanges and queues.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the retry delay levels (sorted and deduplicated here).
    ///
    /// # Errors
    /// [`Error::Config`] when `levels` is empty or holds a zero delay.
    pub fn with_retry_levels(mut self, mut levels: Vec<Duration>) -> Result<Self> {
        levels.sort();
        levels.dedup();
        if levels.is_empty() || levels[0].is_zero() {
            return Err(Error::Config(
                "retry levels must be non-empty and positive".into(),
            ));
        }
        self.retry_levels = levels;
        Ok(self)
    }

    /// The retry level used for `delay`: the smallest level `>= delay`, or
    /// the largest level.
    pub fn retry_level(&self, delay: Duration) -> Duration {
        self.retry_levels
            .iter()
            .copied()
            .find(|l| *l >= delay)
            .or_else(|| self.retry_levels.last().copied())
            .unwrap_or(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_level_rounds_up_never_down() {
        let c = AmqpConfig::default();
        assert_eq!(
            c.retry_level(Duration::from_millis(1)),
            Duration::from_millis(100)
        );
        assert_eq!(
            c.retry_level(Duration::from_millis(1001)),
            Duration::from_secs(2)
        );
        assert_eq!(
            c.retry_level(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(
            c.retry_level(Duration::from_secs(999_999)),
            Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn url_comes_from_amqp_url() {
        let c =
            AmqpConfig::from_lookup(|k| (k == AMQP_URL_ENV).then(|| "amqp://u:p@h:1/v".to_owned()));
        assert_eq!(c.url, "amqp://u:p@h:1/v");
        assert_eq!(AmqpConfig::from_lookup(|_| None).url, DEFAULT_AMQP_URL);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let c = AmqpConfig::new("amqp://user:secret@host:5672/%2f");
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("user:***@host"), "{shown}");
    }

    #[test]
    fn empty_retry_levels_are_refused() {
        assert!(AmqpConfig::default().with_retry_levels(vec![]).is_err());
        assert!(AmqpConfig::default()
            .with_retry_levels(vec![Duration::ZERO])
            .is_err());
    }
}
