//! Sending: batches of up to 10 entries within the size limit, to an SNS
//! topic (`PublishBatch`) or an SQS queue (`SendMessageBatch`). Entries the
//! service refuses inside a batch are sent again on their own terms; an
//! operation reports success only when every entry was accepted.

use std::time::Duration;

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use sha2::{Digest, Sha256};
use waitlist_core::transport::fit_copy;
use waitlist_core::{Error, Headers, Message, Reason, Result};

use crate::codec::{self, Encoded};
use crate::config::{QueueKind, SqsConfig};
use crate::metrics as m;
use crate::transport::Inner;

/// Where a batch goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Dest {
    /// An SNS topic ARN (fan-out to every group's queue).
    Topic(String),
    /// An SQS queue URL.
    Queue(String),
}

/// One message ready for a batch.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) encoded: Encoded,
    /// FIFO only: message group and deduplication ids.
    pub(crate) group_id: Option<String>,
    pub(crate) dedup_id: Option<String>,
    /// Standard queues only: delivery delay in seconds (at most 900).
    pub(crate) delay_secs: Option<i32>,
}

impl Outgoing {
    /// `message` (with `extra` headers) as first published: on FIFO the
    /// message id deduplicates. `copy` = a new copy of a message already
    /// sent (retry, dead letter, replay), which must not be deduplicated
    /// against the original.
    pub(crate) fn new(
        config: &SqsConfig,
        message: &Message,
        extra: &Headers,
        copy: bool,
    ) -> Result<Self> {
        let encoded = codec::encode(message, extra, config.max_message_bytes)?;
        Ok(Self::encoded(config, message, encoded, copy))
    }

    /// A copy of a delivered message (retry, dead letter, replay) with
    /// `extra` headers: not held to the publish limit (`max_message_bytes`
    /// guards what users publish), only to the service's own limit
    /// ([`SqsConfig::copy_limit`]). A dead letter that the failure headers
    /// push over it is cut to fit ([`fit_copy`]); a retry copy never is.
    pub(crate) fn copy_of(
        config: &SqsConfig,
        message: &Message,
        extra: &Headers,
        dead_letter: bool,
    ) -> Result<Self> {
        let limit = config.copy_limit();
        let encoded = if dead_letter {
            let none = Headers::new();
            let size =
                |m: &Message| codec::encode(m, &none, usize::MAX).map_or(usize::MAX, |e| e.size);
            let fitted = fit_copy(message, extra, limit, size);
            codec::encode(&fitted, &none, limit)?
        } else {
            codec::encode(message, extra, limit)?
        };
        Ok(Self::encoded(config, message, encoded, true))
    }

    fn encoded(config: &SqsConfig, message: &Message, encoded: Encoded, copy: bool) -> Self {
        let (group_id, dedup_id) = match config.kind {
            QueueKind::Standard => (None, None),
            QueueKind::Fifo => {
                let group = message.key.as_deref().unwrap_or(&message.id);
                let dedup = if copy {
                    format!("{}/{}", message.id, uuid::Uuid::new_v4().simple())
                } else {
                    message.id.clone()
                };
                (Some(fifo_id(group)), Some(fifo_id(&dedup)))
            }
        };
        Self {
            encoded,
            group_id,
            dedup_id,
            delay_secs: None,
        }
    }
}

/// A FIFO group or deduplication id: up to 128 of `!`–`~`; anything else is
/// replaced by its SHA-256 (the key itself still travels as an attribute).
pub(crate) fn fifo_id(raw: &str) -> String {
    if !raw.is_empty() && raw.len() <= 128 && raw.chars().all(|c| c.is_ascii_graphic()) {
        raw.to_owned()
    } else {
        Sha256::digest(raw.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Splits `items` into batches of at most `config.batch_size` entries and
/// `config.max_batch_bytes` bytes, keeping their order.
pub(crate) fn chunks(config: &SqsConfig, items: Vec<Outgoing>) -> Vec<Vec<Outgoing>> {
    let mut out = Vec::new();
    let mut current: Vec<Outgoing> = Vec::new();
    let mut bytes = 0;
    for item in items {
        if !current.is_empty()
            && (current.len() >= config.batch_size
                || bytes + item.encoded.size > config.max_batch_bytes)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += item.encoded.size;
        current.push(item);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Sends `items` to `dest`, batch after batch (so that order holds), each
/// refused entry again up to `entry_retries` times.
///
/// # Errors
/// The first entry that could not be sent; earlier batches were sent.
pub(crate) async fn send_all(inner: &Inner, dest: &Dest, items: Vec<Outgoing>) -> Result<()> {
    for batch in chunks(&inner.config, items) {
        for outcome in send_entries(inner, dest, &batch).await {
            outcome?;
        }
    }
    Ok(())
}

/// A refused entry: whether sending it again may help, and why.
pub(crate) struct Refused {
    /// The entry's index in its batch (the batch entry id).
    pub(crate) index: usize,
    pub(crate) retry: bool,
    pub(crate) reason: String,
}

impl Refused {
    /// From the fields every SQS/SNS `BatchResultErrorEntry` has.
    pub(crate) fn new(id: &str, code: &str, message: Option<&str>, sender_fault: bool) -> Self {
        Self {
            index: id.parse().unwrap_or(usize::MAX),
            retry: retryable(code, sender_fault),
            reason: format!("{code}: {}", message.unwrap_or_default()),
        }
    }
}

impl From<&aws_sdk_sqs::types::BatchResultErrorEntry> for Refused {
    fn from(f: &aws_sdk_sqs::types::BatchResultErrorEntry) -> Self {
        Self::new(f.id(), f.code(), f.message(), f.sender_fault())
    }
}

impl From<&aws_sdk_sns::types::BatchResultErrorEntry> for Refused {
    fn from(f: &aws_sdk_sns::types::BatchResultErrorEntry) -> Self {
        Self::new(f.id(), f.code(), f.message(), f.sender_fault())
    }
}

/// Sends one batch (at most 10 entries within the size limit); the outcome
/// of each entry, in order. Refused entries are sent again, on their own,
/// while the service says that may help.
pub(crate) async fn send_entries(
    inner: &Inner,
    dest: &Dest,
    batch: &[Outgoing],
) -> Vec<Result<()>> {
    let mut outcomes: Vec<Result<()>> = (0..batch.len()).map(|_| Ok(())).collect();
    let mut pending: Vec<usize> = (0..batch.len()).collect();
    let mut tries = 0;
    while !pending.is_empty() {
        let sent = match dest {
            Dest::Queue(url) => send_to_queue(inner, url, batch, &pending).await,
            Dest::Topic(arn) => publish_to_topic(inner, arn, batch, &pending).await,
        };
        let refused = match sent {
            Ok(refused) => refused,
            Err(e) => {
                let text = e.to_string();
                let transient = e.is_transient();
                for &i in &pending {
                    outcomes[i] = Err(if transient {
                        Error::Unavailable(text.clone().into())
                    } else {
                        Error::Rejected(text.clone().into())
                    });
                }
                return outcomes;
            }
        };
        if refused.is_empty() {
            break;
        }
        m::failed_entries(
            match dest {
                Dest::Queue(_) => "SendMessageBatch",
                Dest::Topic(_) => "PublishBatch",
            },
            refused.len(),
        );
        tries += 1;
        pending.clear();
        for r in refused {
            if r.retry && tries <= inner.config.entry_retries {
                pending.push(r.index);
            } else {
                outcomes[r.index] = Err(Error::Rejected(
                    format!(
                        "message {} was refused: {}",
                        id_of(&batch[r.index]),
                        r.reason
                    )
                    .into(),
                ));
            }
        }
        if !pending.is_empty() {
            tracing::debug!(
                entries = pending.len(),
                "sending refused batch entries again"
            );
            tokio::time::sleep(Duration::from_millis(50 << tries.min(5))).await;
        }
    }
    outcomes
}

fn id_of(item: &Outgoing) -> &str {
    item.encoded
        .attributes
        .iter()
        .find(|(k, _)| k == codec::ID_ATTR)
        .map_or("?", |(_, v)| v.as_str())
}

/// Whether a refused entry may succeed when sent again.
///
/// Service-side failures may; the caller's own faults do not, throttling
/// aside (SQS reports it as a sender fault).
fn retryable(code: &str, sender_fault: bool) -> bool {
    !sender_fault || code.contains("Throttl")
}

/// The batch entry of `item` at index `i` in the SQS or SNS type `$entry`
/// (whose body setter is `$body`): id, body, FIFO group and deduplication
/// id, and every attribute as a string attribute of type `$value`.
macro_rules! batch_entry {
    ($entry:ty, $value:ty, $body:ident, $i:expr, $item:expr) => {{
        let item: &Outgoing = $item;
        let mut e = <$entry>::builder()
            .id($i.to_string())
            .$body(&item.encoded.body)
            .set_message_group_id(item.group_id.clone())
            .set_message_deduplication_id(item.dedup_id.clone());
        let string = |v: &str| {
            <$value>::builder()
                .data_type("String")
                .string_value(v)
                .build()
        };
        for (k, v) in attributes(item, string)? {
            e = e.message_attributes(k, v);
        }
        e
    }};
}

async fn send_to_queue(
    inner: &Inner,
    url: &str,
    batch: &[Outgoing],
    pending: &[usize],
) -> Result<Vec<Refused>> {
    use aws_sdk_sqs::types::{
        MessageAttributeValue as Value, SendMessageBatchRequestEntry as Entry,
    };
    let mut req = inner.sqs.send_message_batch().queue_url(url);
    for &i in pending {
        let item = &batch[i];
        let e = batch_entry!(Entry, Value, message_body, i, item);
        let e = e.set_delay_seconds(item.delay_secs);
        req = req.entries(e.build().map_err(Error::rejected)?);
    }
    let out = req
        .send()
        .await
        .map_err(|e| sdk_error("SendMessageBatch", e))?;
    Ok(refused(out.failed(), batch.len()))
}

async fn publish_to_topic(
    inner: &Inner,
    arn: &str,
    batch: &[Outgoing],
    pending: &[usize],
) -> Result<Vec<Refused>> {
    use aws_sdk_sns::types::{MessageAttributeValue as Value, PublishBatchRequestEntry as Entry};
    let sns = inner.sns()?;
    let mut req = sns.publish_batch().topic_arn(arn);
    for &i in pending {
        let e = batch_entry!(Entry, Value, message, i, &batch[i]);
        req = req.publish_batch_request_entries(e.build().map_err(Error::rejected)?);
    }
    let out = req.send().await.map_err(|e| sdk_error("PublishBatch", e))?;
    Ok(refused(out.failed(), batch.len()))
}

/// The item's attributes as string attribute values made by `value`.
fn attributes<V, B: std::error::Error + Send + Sync + 'static>(
    item: &Outgoing,
    value: impl Fn(&str) -> std::result::Result<V, B>,
) -> Result<Vec<(&str, V)>> {
    let each = item.encoded.attributes.iter();
    each.map(|(k, v)| Ok((k.as_str(), value(v).map_err(Error::rejected)?)))
        .collect()
}

/// The entries a batch call refused, as [`Refused`] (ids outside the batch
/// are dropped: they cannot be ours).
fn refused<'a, F: 'a>(failed: impl IntoIterator<Item = &'a F>, len: usize) -> Vec<Refused>
where
    Refused: From<&'a F>,
{
    failed
        .into_iter()
        .map(Refused::from)
        .filter(|r| r.index < len)
        .collect()
}

/// Maps an AWS SDK error to the SDK's error by meaning.
pub(crate) fn sdk_error<E, R>(op: &str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let text = format!("{op}: {}", DisplayErrorContext(&e));
    let kind: fn(Reason) -> Error = match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            if code.contains("NonExistent")
                || code.contains("NotFound")
                || code.contains("DoesNotExist")
            {
                Error::NotFound
            } else if code.contains("Throttl")
                || code.contains("Unavailable")
                || code.contains("InternalError")
            {
                Error::Unavailable
            } else {
                Error::Rejected
            }
        }
        _ => Error::Unavailable,
    };
    kind(Reason::with_source(text, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(config: &SqsConfig, size: usize) -> Outgoing {
        Outgoing::new(
            config,
            &Message::new("t", "x".repeat(size)),
            &Headers::new(),
            false,
        )
        .expect("encode")
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let c = SqsConfig::new().with_size_limits(4096, 10_000);
        let items: Vec<_> = (0..25).map(|_| item(&c, 100)).collect();
        let sizes: Vec<_> = chunks(&c, items).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let items: Vec<_> = (0..5).map(|_| item(&c, 3000)).collect();
        let batches = chunks(&c, items);
        assert!(batches
            .iter()
            .all(|b| b.iter().map(|i| i.encoded.size).sum::<usize>() <= 10_000));
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 5);
    }

    #[test]
    fn fifo_ids_are_valid_and_copies_are_not_deduplicated() {
        assert_eq!(fifo_id("campaign-1"), "campaign-1");
        let odd = fifo_id("ünïcødé key");
        assert_eq!(odd.len(), 64);
        assert_ne!(fifo_id(&"k".repeat(200)), fifo_id(&"k".repeat(201)));
        let c = SqsConfig::new().with_kind(QueueKind::Fifo);
        let m = Message::new("t", "{}").with_key("k");
        let first = Outgoing::new(&c, &m, &Headers::new(), false).expect("encode");
        let copy = Outgoing::new(&c, &m, &Headers::new(), true).expect("encode");
        assert_eq!(first.dedup_id.as_deref(), Some(m.id.as_str()));
        assert_ne!(copy.dedup_id, first.dedup_id);
        assert_eq!(copy.group_id.as_deref(), Some("k"));
    }
}
