//! Names and declarations of exchanges and queues.
//!
//! For topic `T` and group `G` (with the configured prefix `P`):
//!
//! | name | kind | purpose |
//! |------|------|---------|
//! | `P` `T` | fanout exchange, durable | publishers send here; every group's queue is bound |
//! | `P` `T.G` | durable queue | the group's messages; members compete on it |
//! | `P` `T.G.retry.<ms>ms` | durable queue, `x-message-ttl = ms`, dead-letters to `P` `T.G` | delayed retries, one queue per delay level |
//! | `P` `T.G.dlq` | durable queue | dead letters of the group |
//!
//! All declarations are idempotent, so every member and every restart
//! declares what it needs.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};
use waitlist_core::Result;

use crate::codec;
use crate::connection::unavailable;
use crate::metrics as m;

/// The names of one group's queues on one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The topic's exchange.
    pub exchange: String,
    /// The group's queue.
    pub queue: String,
    /// The group's dead-letter queue.
    pub dead_letters: String,
}

impl Names {
    /// Names for `topic` and `group` under `prefix`.
    pub fn new(prefix: &str, topic: &str, group: &str) -> Self {
        Self {
            exchange: exchange_name(prefix, topic),
            queue: format!("{prefix}{topic}.{group}"),
            dead_letters: format!("{prefix}{topic}.{group}.dlq"),
        }
    }

    /// The retry queue of delay `level`.
    pub fn retry_queue(&self, level: Duration) -> String {
        format!("{}.retry.{}ms", self.queue, level.as_millis())
    }
}

/// The exchange of `topic`.
pub fn exchange_name(prefix: &str, topic: &str) -> String {
    format!("{prefix}{topic}")
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Declares the topic's fanout exchange.
pub(crate) async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<()> {
    let exchange = codec::short(exchange, "the exchange name")?;
    m::request("exchange.declare");
    let options = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            exchange,
            ExchangeKind::Fanout,
            options,
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)
}

/// Declares the exchange, the group's queue (bound to it) and its DLQ.
pub(crate) async fn declare_group(channel: &Channel, names: &Names) -> Result<()> {
    declare_exchange(channel, &names.exchange).await?;
    for queue in [&names.queue, &names.dead_letters] {
        m::request("queue.declare");
        channel
            .queue_declare(
                codec::short(queue, "the queue name")?,
                durable(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
    }
    m::request("queue.bind");
    channel
        .queue_bind(
            codec::short(&names.queue, "the queue name")?,
            codec::short(&names.exchange, "the exchange name")?,
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)
}

/// Declares the retry queue of `level`: messages wait `level`, then the
/// broker dead-letters them back into the group's queue.
pub(crate) async fn declare_retry_queue(
    channel: &Channel,
    names: &Names,
    level: Duration,
) -> Result<String> {
    let name = names.retry_queue(level);
    let mut args = FieldTable::default();
    let ttl = u32::try_from(level.as_millis()).unwrap_or(u32::MAX);
    args.insert("x-message-ttl".into(), AMQPValue::LongUInt(ttl));
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from("")),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(LongString::from(names.queue.as_bytes())),
    );
    m::request("queue.declare");
    channel
        .queue_declare(codec::short(&name, "the queue name")?, durable(), args)
        .await
        .map_err(unavailable)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_scheme() {
        let n = Names::new("app.", "domain-events", "email-workers");
        assert_eq!(n.exchange, "app.domain-events");
        assert_eq!(n.queue, "app.domain-events.email-workers");
        assert_eq!(n.dead_letters, "app.domain-events.email-workers.dlq");
        assert_eq!(
            n.retry_queue(Duration::from_millis(250)),
            "app.domain-events.email-workers.retry.250ms"
        );
    }
}
