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

/// `url` without the password of its user information.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
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
    let amqp = AmqpConfig::from_env().with_prefix(prefix);
    let kafka = KafkaConfig::from_env();
    let (what, at) = match kind {
        TransportKind::Amqp => ("RabbitMQ", redacted(&amqp.url)),
        TransportKind::Kafka => ("Kafka", kafka.brokers.clone()),
        TransportKind::Sqs => ("SQS", sqs_endpoint()),
    };
    let connecting = async {
        match kind {
            TransportKind::Amqp => AmqpTransport::connect(amqp).await.map(sides),
            TransportKind::Kafka => KafkaTransport::new(kafka).map(sides),
            TransportKind::Sqs => {
                let mut config = SqsConfig::from_env()?;
                if !prefix.is_empty() {
                    config = config.with_prefix(prefix);
                }
                SqsTransport::connect(config).await.map(sides)
            }
        }
    };
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok((queue, publisher))) => Ok(Connected {
            queue,
            publisher,
            at: format!("{what} at {at}"),
        }),
        Ok(Err(e)) => Err(format!("cannot reach {what} at {at}: {}", cause(&e))),
        Err(_) => Err(format!(
            "cannot reach {what} at {at}: no answer within {timeout:?}"
        )),
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
    fn passwords_never_show() {
        assert_eq!(
            redacted("amqp://guest:s3cret@127.0.0.1:5672/vhost"),
            "amqp://guest:***@127.0.0.1:5672/vhost"
        );
        assert_eq!(
            redacted("amqp://127.0.0.1:5672/%2f"),
            "amqp://127.0.0.1:5672/%2f"
        );
        assert_eq!(redacted("not a url"), "not a url");
    }

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
