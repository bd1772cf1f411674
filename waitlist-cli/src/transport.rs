//! Choosing and connecting the transport from flags and the environment.

use std::sync::Arc;
use std::time::Duration;

use waitlist::{AmqpConfig, AmqpTransport, KafkaConfig, KafkaTransport, SqsConfig, SqsTransport};
use waitlist::{Error, Publisher, Queue};

/// The brokers the command line talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TransportKind {
    /// RabbitMQ (`AMQP_URL`).
    Amqp,
    /// Kafka (`KAFKA_BROKERS`).
    Kafka,
    /// Amazon SQS (`AWS_REGION`, `AWS_ENDPOINT_URL`, credentials chain).
    Sqs,
}

impl TransportKind {
    /// The one the flag names, or the first whose variable is set.
    pub(crate) fn chosen(flag: Option<Self>) -> Result<Self, String> {
        Self::chosen_from(flag, |k| std::env::var(k).ok())
    }

    fn chosen_from(
        flag: Option<Self>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        if let Some(kind) = flag {
            return Ok(kind);
        }
        let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
        if set("AMQP_URL") {
            Ok(Self::Amqp)
        } else if set("KAFKA_BROKERS") {
            Ok(Self::Kafka)
        } else if set("AWS_ENDPOINT_URL") || set("AWS_REGION") {
            Ok(Self::Sqs)
        } else {
            Err("no transport: pass --transport amqp|kafka|sqs or set AMQP_URL, KAFKA_BROKERS or AWS_ENDPOINT_URL".into())
        }
    }
}

/// The reason of a transport error, one line.
fn cause(e: &Error) -> String {
    e.to_string().replace('\n', " ")
}

/// The broker a command talks to.
#[derive(Debug, Clone)]
pub(crate) struct Broker {
    pub(crate) kind: TransportKind,
    /// Name prefix of exchanges and queues (RabbitMQ, SQS).
    pub(crate) prefix: String,
    /// How long the broker may take to answer.
    pub(crate) timeout: Duration,
}

/// Both sides of one connected transport.
#[derive(Debug, Clone)]
pub(crate) struct Connected {
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) publisher: Arc<dyn Publisher>,
    /// Where it is, for messages (no password).
    pub(crate) at: String,
}

impl Broker {
    /// Connects a publisher, within the timeout.
    pub(crate) async fn publisher(&self) -> Result<Arc<dyn Publisher>, String> {
        Ok(self.connect().await?.publisher)
    }

    /// Connects the transport, within the timeout.
    pub(crate) async fn connect(&self) -> Result<Connected, String> {
        connect(self.kind, &self.prefix, self.timeout).await
    }

    /// The broker and where it is (no password), e.g. `RabbitMQ at amqp://…`.
    pub(crate) fn describe(&self) -> String {
        describe(self.kind, &self.prefix)
    }
}

fn sides<T: Queue + Publisher + 'static>(t: T) -> (Arc<dyn Queue>, Arc<dyn Publisher>) {
    let t = Arc::new(t);
    (Arc::clone(&t) as Arc<dyn Queue>, t as Arc<dyn Publisher>)
}

async fn connect(
    kind: TransportKind,
    prefix: &str,
    timeout: Duration,
) -> Result<Connected, String> {
    let at = describe(kind, prefix);
    let connecting = async {
        match kind {
            TransportKind::Amqp => {
                let mut config = AmqpConfig::from_env().with_prefix(prefix);
                // Connection attempts (with their backoff) give up by
                // themselves within the timeout.
                config.reconnect_deadline = config.reconnect_deadline.min(timeout);
                AmqpTransport::connect(config).await.map(sides)
            }
            TransportKind::Kafka => {
                let kafka = KafkaTransport::new(KafkaConfig::from_env())?;
                kafka.check(timeout).await?;
                Ok(sides(kafka))
            }
            TransportKind::Sqs => {
                let mut config = SqsConfig::from_env()?;
                if !prefix.is_empty() {
                    config = config.with_prefix(prefix);
                }
                SqsTransport::connect(config).await.map(sides)
            }
        }
    };
    // Every step above is bounded by `timeout`; this is the net for a
    // client that hangs past it.
    match tokio::time::timeout(timeout + Duration::from_secs(2), connecting).await {
        Ok(Ok((queue, publisher))) => Ok(Connected {
            queue,
            publisher,
            at,
        }),
        Ok(Err(e)) => Err(format!("cannot reach {at}: {}", cause(&e))),
        Err(_) => Err(format!("cannot reach {at}: no answer within {timeout:?}")),
    }
}

/// The broker `kind` names, and where it is (no password), for messages.
fn describe(kind: TransportKind, prefix: &str) -> String {
    match kind {
        TransportKind::Amqp => format!(
            "RabbitMQ at {}",
            waitlist::secrets::redact_url(&AmqpConfig::from_env().with_prefix(prefix).url)
        ),
        TransportKind::Kafka => format!("Kafka at {}", KafkaConfig::from_env().brokers),
        TransportKind::Sqs => format!("SQS at {}", sqs_endpoint()),
    }
}

/// Where the SQS client goes: the endpoint override, or AWS in the region.
fn sqs_endpoint() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    var("AWS_ENDPOINT_URL_SQS")
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| {
            let region = var("AWS_REGION").unwrap_or_else(|| "the default region".into());
            format!("AWS ({region})")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transport_is_the_flag_or_the_first_variable_set() {
        let none = |_: &str| None;
        assert!(TransportKind::chosen_from(None, none).is_err());
        assert_eq!(
            TransportKind::chosen_from(Some(TransportKind::Sqs), none),
            Ok(TransportKind::Sqs)
        );
        let kafka = |k: &str| (k == "KAFKA_BROKERS").then(|| "127.0.0.1:9092".to_owned());
        assert_eq!(
            TransportKind::chosen_from(None, kafka),
            Ok(TransportKind::Kafka)
        );
        let both = |k: &str| matches!(k, "KAFKA_BROKERS" | "AMQP_URL").then(|| "x".to_owned());
        assert_eq!(
            TransportKind::chosen_from(None, both),
            Ok(TransportKind::Amqp)
        );
    }
}
