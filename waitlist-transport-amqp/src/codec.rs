//! Messages to AMQP properties and back.

use bytes::Bytes;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use waitlist_core::{headers, Headers, Message};

/// Header carrying the partition key (AMQP has none of its own).
pub const KEY_HEADER: &str = "waitlist-key";
/// Persistent delivery mode.
const PERSISTENT: u8 = 2;

/// Properties for publishing `message` with `extra` headers on top of its own.
pub(crate) fn properties(message: &Message, extra: Option<&Headers>) -> BasicProperties {
    let mut table = FieldTable::default();
    for (k, v) in message.headers.iter().chain(extra.into_iter().flatten()) {
        table.insert(
            ShortString::from(k.as_str()),
            AMQPValue::LongString(LongString::from(v.as_bytes())),
        );
    }
    if let Some(key) = &message.key {
        table.insert(
            KEY_HEADER.into(),
            AMQPValue::LongString(LongString::from(key.as_bytes())),
        );
    }
    let content_type = message
        .headers
        .get(headers::CONTENT_TYPE)
        .map_or("application/json", String::as_str);
    BasicProperties::default()
        .with_message_id(ShortString::from(message.id.as_str()))
        .with_content_type(ShortString::from(content_type))
        .with_delivery_mode(PERSISTENT)
        .with_headers(table)
}

/// A header value as text, for the scalar types other clients send.
fn text(value: &AMQPValue) -> Option<String> {
    Some(match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        _ => return None,
    })
}

/// Rebuilds the message of a delivery from `topic`. The id is the AMQP
/// `message_id`, or a fresh UUID for messages from clients that set none.
pub(crate) fn message(topic: &str, props: &BasicProperties, data: Vec<u8>) -> Message {
    let mut headers = Headers::new();
    let mut key = None;
    if let Some(table) = props.headers() {
        for (k, v) in table {
            let Some(v) = text(v) else { continue };
            if k.as_str() == KEY_HEADER {
                key = Some(v);
            } else {
                headers.insert(k.as_str().to_owned(), v);
            }
        }
    }
    if let Some(ct) = props.content_type() {
        headers
            .entry(headers::CONTENT_TYPE.to_owned())
            .or_insert_with(|| ct.as_str().to_owned());
    }
    let id = props.message_id().as_ref().map_or_else(
        || uuid::Uuid::new_v4().to_string(),
        |s| s.as_str().to_owned(),
    );
    Message {
        id,
        topic: topic.to_owned(),
        key,
        headers,
        payload: Bytes::from(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_key_and_headers_survive_encoding() {
        let m = Message::new("t", "{}")
            .with_id("abc")
            .with_key("campaign-1")
            .with_header("x", "ü");
        let props = properties(&m, None);
        let back = message("t", &props, b"{}".to_vec());
        assert_eq!(back.id, "abc");
        assert_eq!(back.key.as_deref(), Some("campaign-1"));
        assert_eq!(back.headers.get("x").map(String::as_str), Some("ü"));
        assert_eq!(
            back.headers.get(headers::CONTENT_TYPE).map(String::as_str),
            Some("application/json")
        );
    }

    #[test]
    fn foreign_header_types_become_text_and_missing_id_gets_one() {
        let mut table = FieldTable::default();
        table.insert("n".into(), AMQPValue::LongInt(7));
        table.insert("flag".into(), AMQPValue::Boolean(true));
        let props = BasicProperties::default().with_headers(table);
        let m = message("t", &props, vec![]);
        assert_eq!(m.headers.get("n").map(String::as_str), Some("7"));
        assert_eq!(m.headers.get("flag").map(String::as_str), Some("true"));
        assert!(uuid::Uuid::parse_str(&m.id).is_ok());
    }
}
