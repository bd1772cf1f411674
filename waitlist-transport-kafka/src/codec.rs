//! Messages to Kafka records and back.

use bytes::Bytes;
use rdkafka::message::{Header, Headers as _, OwnedHeaders, OwnedMessage};
use rdkafka::Message as _;
use waitlist_core::{headers, Headers, Message};

/// Header carrying the message id (Kafka records have none).
pub const ID_HEADER: &str = "waitlist-id";

/// Kafka headers for `message` plus `extra`.
pub(crate) fn kafka_headers(message: &Message, extra: Option<&Headers>) -> OwnedHeaders {
    let mut h = OwnedHeaders::new_with_capacity(message.headers.len() + 2);
    h = h.insert(Header {
        key: ID_HEADER,
        value: Some(message.id.as_bytes()),
    });
    for (k, v) in message.headers.iter().chain(extra.into_iter().flatten()) {
        h = h.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    h
}

/// Bytes a record of `message` takes against `message.max.bytes`: value,
/// key, the id and every header, plus the record's own framing (a
/// generous estimate of Kafka's varint-encoded overhead).
pub(crate) fn record_size(message: &Message) -> usize {
    const RECORD: usize = 64;
    const HEADER: usize = 10;
    let headers: usize = message
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + HEADER)
        .sum();
    RECORD
        + message.payload.len()
        + message.key.as_ref().map_or(0, String::len)
        + ID_HEADER.len()
        + message.id.len()
        + HEADER
        + headers
}

/// Rebuilds a message from a record. The id is the `waitlist-id` header, or
/// `topic-partition-offset` for records from other producers (stable across
/// redeliveries, so deduplication still works). Retried records carry their
/// origin topic, which becomes the message's topic.
pub(crate) fn message(record: &OwnedMessage) -> Message {
    let mut hs = Headers::new();
    let mut id = None;
    if let Some(headers) = record.headers() {
        for h in headers.iter() {
            let Some(v) = h.value else { continue };
            let v = String::from_utf8_lossy(v).into_owned();
            if h.key == ID_HEADER {
                id = Some(v);
            } else {
                hs.insert(h.key.to_owned(), v);
            }
        }
    }
    let topic = hs
        .get(headers::ORIGIN_TOPIC)
        .filter(|_| hs.contains_key(headers::NOT_BEFORE))
        .cloned()
        .unwrap_or_else(|| record.topic().to_owned());
    Message {
        id: id.unwrap_or_else(|| {
            format!(
                "{}-{}-{}",
                record.topic(),
                record.partition(),
                record.offset()
            )
        }),
        topic,
        key: record
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
        headers: hs,
        payload: record
            .payload()
            .map(Bytes::copy_from_slice)
            .unwrap_or_default(),
    }
}
