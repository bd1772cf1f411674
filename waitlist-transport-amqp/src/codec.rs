//! Messages to AMQP properties and back.

use bytes::Bytes;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use waitlist_core::{headers, Error, Headers, Message, Result};

/// Longest AMQP short string, in bytes.
const MAX_SHORT_STRING_LENGTH: usize = 255;

/// Header carrying the partition key (AMQP has none of its own).
pub const KEY_HEADER: &str = "waitlist-key";
/// Persistent delivery mode.
const PERSISTENT: u8 = 2;

/// `text` as an AMQP short string (at most 255 bytes: names, ids, content
/// types), or [`Error::Rejected`] saying which `what` is too long.
pub(crate) fn short(text: &str, what: &str) -> Result<ShortString> {
    ShortString::try_new(text).map_err(|_| {
        Error::Rejected(
            format!(
                "{what} is {} bytes; AMQP allows at most {MAX_SHORT_STRING_LENGTH}: {:?}...",
                text.len(),
                text.chars().take(40).collect::<String>()
            )
            .into(),
        )
    })
}

/// Properties for publishing `message` with `extra` headers on top of its own.
///
/// # Errors
/// [`Error::Rejected`] when the message id, a header name or the content
/// type is longer than an AMQP short string (255 bytes).
pub(crate) fn properties(message: &Message, extra: Option<&Headers>) -> Result<BasicProperties> {
    let mut table = FieldTable::default();
    for (k, v) in message.headers.iter().chain(extra.into_iter().flatten()) {
        table.insert(
            short(k, "a header name")?,
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
    Ok(BasicProperties::default()
        .with_message_id(short(&message.id, "the message id")?)
        .with_content_type(short(content_type, "the content type")?)
        .with_delivery_mode(PERSISTENT)
        .with_headers(table))
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
        let m = waitlist_core::conformance::sample_message("t");
        let props = properties(&m, None).expect("short enough");
        let back = message("t", &props, m.payload.to_vec());
        waitlist_core::conformance::assert_round_trip(&m, &back);
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

/// Fuzz target (see RELIABILITY.md): deliveries with arbitrary properties
/// and header tables decode without a panic, and whatever the SDK
/// publishes comes back. `PROPTEST_CASES` sets the cases per property
/// (1,000 by default); `scripts/fuzz.sh` runs it with millions.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{config, Rng};
    use lapin::types::{ByteArray, DecimalValue, FieldArray};
    use proptest::prelude::*;

    fn arb_short() -> impl Strategy<Value = ShortString> {
        prop_oneof![
            3 => prop::sample::select(vec![
                KEY_HEADER, headers::CONTENT_TYPE, headers::ATTEMPT, headers::EVENT_TYPE,
                headers::NOT_BEFORE, "x-death", "",
            ]).prop_map(ShortString::from),
            2 => ".{0,40}".prop_map(ShortString::from),
            // Up to the 255-byte limit; longer strings cannot arrive.
            1 => "[a-z]{200,255}".prop_map(ShortString::from),
        ]
    }

    /// Every AMQP field type, nested, as other clients may send them.
    fn arb_value() -> impl Strategy<Value = AMQPValue> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(AMQPValue::Boolean),
            any::<i8>().prop_map(AMQPValue::ShortShortInt),
            any::<u8>().prop_map(AMQPValue::ShortShortUInt),
            any::<i16>().prop_map(AMQPValue::ShortInt),
            any::<u16>().prop_map(AMQPValue::ShortUInt),
            any::<i32>().prop_map(AMQPValue::LongInt),
            any::<u32>().prop_map(AMQPValue::LongUInt),
            any::<i64>().prop_map(AMQPValue::LongLongInt),
            any::<f32>().prop_map(AMQPValue::Float),
            any::<f64>().prop_map(AMQPValue::Double),
            (any::<u8>(), any::<u32>())
                .prop_map(|(scale, value)| AMQPValue::DecimalValue(DecimalValue { scale, value })),
            arb_short().prop_map(AMQPValue::ShortString),
            // Any bytes, not only UTF-8.
            prop::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| AMQPValue::LongString(LongString::from(b))),
            any::<u64>().prop_map(AMQPValue::Timestamp),
            prop::collection::vec(any::<u8>(), 0..16)
                .prop_map(|b| AMQPValue::ByteArray(ByteArray::from(b))),
            Just(AMQPValue::Void),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| AMQPValue::FieldArray(FieldArray::from(v))),
                prop::collection::vec((arb_short(), inner), 0..6)
                    .prop_map(|kv| AMQPValue::FieldTable(table(kv))),
            ]
        })
    }

    fn table(entries: Vec<(ShortString, AMQPValue)>) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in entries {
            t.insert(k, v);
        }
        t
    }

    fn arb_properties() -> impl Strategy<Value = BasicProperties> {
        (
            prop::option::of(prop::collection::vec((arb_short(), arb_value()), 0..10)),
            prop::option::of(arb_short()),
            prop::option::of(arb_short()),
            prop::option::of(any::<u8>()),
        )
            .prop_map(|(headers, id, content_type, mode)| {
                let mut p = BasicProperties::default();
                if let Some(h) = headers {
                    p = p.with_headers(table(h));
                }
                if let Some(id) = id {
                    p = p.with_message_id(id);
                }
                if let Some(ct) = content_type {
                    p = p.with_content_type(ct);
                }
                if let Some(mode) = mode {
                    p = p.with_delivery_mode(mode);
                }
                p
            })
    }

    /// Header names and values for the bursts, from the shared generator.
    trait Fields {
        fn short(&mut self) -> ShortString;
        fn value(&mut self, depth: usize) -> AMQPValue;
    }

    impl Fields for Rng {
        fn short(&mut self) -> ShortString {
            const NAMES: &[&str] = &[
                KEY_HEADER,
                headers::CONTENT_TYPE,
                headers::ATTEMPT,
                "x-death",
                "",
            ];
            if self.below(2) == 0 {
                ShortString::from(NAMES[self.below(NAMES.len())])
            } else {
                let text = String::from_utf8_lossy(&self.bytes(24)).into_owned();
                ShortString::try_new(text).unwrap_or_else(|_| ShortString::from("x"))
            }
        }
        /// A random field value of any type, nested up to `depth`.
        fn value(&mut self, depth: usize) -> AMQPValue {
            let kinds = if depth == 0 { 15 } else { 17 };
            match self.below(kinds) {
                0 => AMQPValue::Boolean(self.below(2) == 0),
                1 => AMQPValue::ShortShortInt(self.next() as i8),
                2 => AMQPValue::ShortShortUInt(self.next() as u8),
                3 => AMQPValue::ShortInt(self.next() as i16),
                4 => AMQPValue::ShortUInt(self.next() as u16),
                5 => AMQPValue::LongInt(self.next() as i32),
                6 => AMQPValue::LongUInt(self.next() as u32),
                7 => AMQPValue::LongLongInt(self.next() as i64),
                8 => AMQPValue::Float(f32::from_bits(self.next() as u32)),
                9 => AMQPValue::Double(f64::from_bits(self.next())),
                10 => AMQPValue::DecimalValue(DecimalValue {
                    scale: self.next() as u8,
                    value: self.next() as u32,
                }),
                11 => AMQPValue::ShortString(self.short()),
                12 => AMQPValue::LongString(LongString::from(self.bytes(48))),
                13 => AMQPValue::Timestamp(self.next()),
                14 => AMQPValue::ByteArray(ByteArray::from(self.bytes(16))),
                15 => AMQPValue::FieldArray(FieldArray::from(
                    (0..self.below(4))
                        .map(|_| self.value(depth - 1))
                        .collect::<Vec<_>>(),
                )),
                _ => {
                    let entries = (0..self.below(4))
                        .map(|_| (self.short(), self.value(depth - 1)))
                        .collect();
                    AMQPValue::FieldTable(table(entries))
                }
            }
        }
    }

    proptest! {
        #![proptest_config(config(64))]

        /// 100 deliveries per case: a random header table (every field
        /// type, nested), id and content type, decoded.
        #[test]
        fn delivery_bursts(seed in any::<u64>()) {
            let mut rng = Rng::new(seed);
            for _ in 0..100 {
                let entries = (0..rng.below(8)).map(|_| (rng.short(), rng.value(2))).collect();
                let mut props = BasicProperties::default().with_headers(table(entries));
                if rng.below(2) == 0 {
                    props = props.with_message_id(rng.short());
                }
                if rng.below(2) == 0 {
                    props = props.with_content_type(rng.short());
                }
                let body = rng.bytes(32);
                let m = message("topic", &props, body.clone());
                prop_assert_eq!(&m.payload[..], &body[..]);
            }
        }
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// Any delivery decodes; scalar headers become text, the key header
        /// becomes the key, and nothing else is invented.
        #[test]
        fn arbitrary_deliveries_decode(
            props in arb_properties(),
            body in prop::collection::vec(any::<u8>(), 0..128),
        ) {
            let m = message("topic", &props, body.clone());
            prop_assert_eq!(&m.payload[..], &body[..]);
            prop_assert_eq!(m.topic.as_str(), "topic");
            if let Some(id) = props.message_id() {
                prop_assert_eq!(m.id.as_str(), id.as_str());
            }
            let sent = props.headers().as_ref().map_or(0, |t| t.inner().len());
            prop_assert!(m.headers.len() <= sent + 1);
            for (k, v) in props.headers().iter().flat_map(|t| t.inner().iter()) {
                if k.as_str() != KEY_HEADER {
                    prop_assert_eq!(m.headers.contains_key(k.as_str()), text(v).is_some()
                        || (k.as_str() == headers::CONTENT_TYPE && props.content_type().is_some()));
                }
            }
        }

        /// What the SDK publishes decodes to the same id, key and headers;
        /// ids and names AMQP cannot carry are refused, never a panic.
        #[test]
        fn published_messages_round_trip(
            id in prop_oneof![".{0,40}", "[a-z]{250,260}"],
            key in prop::option::of(".{0,300}"),
            headers in prop::collection::btree_map(
                prop_oneof![".{1,20}", "[a-z]{250,260}"], ".{0,40}", 0..8),
        ) {
            let mut m = Message::new("t", "{}").with_id(id);
            m.key = key;
            m.headers = headers;
            match properties(&m, None) {
                Ok(props) => {
                    let back = message("t", &props, b"{}".to_vec());
                    prop_assert_eq!(&back.id, &m.id);
                    prop_assert_eq!(&back.key, &m.key);
                    let mut expected = m.headers.clone();
                    expected.entry(headers::CONTENT_TYPE.to_owned())
                        .or_insert_with(|| "application/json".to_owned());
                    prop_assert_eq!(&back.headers, &expected);
                }
                Err(e) => {
                    prop_assert!(matches!(e, Error::Rejected(_)), "{e:?}");
                    prop_assert!(m.id.len() > 255 || m.headers.keys().any(|k| k.len() > 255)
                        || m.headers.get(headers::CONTENT_TYPE).is_some_and(|c| c.len() > 255));
                }
            }
        }
    }
}
