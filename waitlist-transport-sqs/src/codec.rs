//! Messages to SQS/SNS bodies and message attributes, and back.
//!
//! - The body is the payload when it is text SQS accepts; other payloads
//!   travel base64-encoded with [`ENCODING_ATTR`] = `base64`.
//! - The message id is [`ID_ATTR`], the partition key [`KEY_ATTR`] (and the
//!   `MessageGroupId` on FIFO queues).
//! - Each header is a `String` attribute of its own name. SQS delivers at
//!   most 10 attributes per message and restricts names and values; headers
//!   that do not fit travel together as a JSON object in [`HEADERS_ATTR`].
//!
//! Receiving accepts what other clients send: a message without an id
//! attribute gets the SQS `MessageId` (stable across redeliveries), a FIFO
//! message without a key attribute its `MessageGroupId`, `Number`
//! attributes are read as text.

use std::collections::HashMap;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use base64::Engine as _;
use bytes::Bytes;
use waitlist_core::{Error, Headers, Message, Result};

/// Attribute carrying the message id.
pub const ID_ATTR: &str = "waitlist-message-id";
/// Attribute carrying the partition key.
pub const KEY_ATTR: &str = "waitlist-key";
/// Attribute carrying, as a JSON object, the headers that are not attributes of their own.
pub const HEADERS_ATTR: &str = "waitlist-headers";
/// Attribute saying how the body is encoded (`base64`); absent for text.
pub const ENCODING_ATTR: &str = "waitlist-body-encoding";

/// Most message attributes SQS delivers with one message.
const MAX_ATTRIBUTES: usize = 10;
const STRING: &str = "String";

/// A message ready to send: body text and `String` attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoded {
    pub(crate) body: String,
    pub(crate) attributes: Vec<(String, String)>,
    /// Bytes SQS counts against its size limit (body, attribute names, types and values).
    pub(crate) size: usize,
}

/// Encodes `message` with `extra` headers on top of its own.
///
/// # Errors
/// [`Error::TooLarge`] when the result exceeds `limit` bytes.
pub(crate) fn encode(message: &Message, extra: &Headers, limit: usize) -> Result<Encoded> {
    let mut fixed: Vec<(String, String)> = vec![(ID_ATTR.to_owned(), message.id.clone())];
    if let Some(key) = message.key.as_deref() {
        if !attribute_value_ok(key) {
            return Err(Error::Rejected(format!(
                "message {}: the partition key {key:?} is empty or has characters SQS does not accept",
                message.id
            ).into()));
        }
        fixed.push((KEY_ATTR.to_owned(), key.to_owned()));
    }
    let body = match std::str::from_utf8(&message.payload) {
        Ok(text) if text_ok(text) => text.to_owned(),
        _ => {
            fixed.push((ENCODING_ATTR.to_owned(), "base64".to_owned()));
            base64::engine::general_purpose::STANDARD.encode(&message.payload)
        }
    };
    let mut merged = message.headers.clone();
    merged.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    let (mut own, mut packed): (Vec<_>, Vec<_>) = merged
        .into_iter()
        .partition(|(k, v)| attribute_name_ok(k) && !is_reserved(k) && attribute_value_ok(v));
    if fixed.len() + own.len() > MAX_ATTRIBUTES || !packed.is_empty() {
        let room = MAX_ATTRIBUTES - fixed.len() - 1;
        if own.len() > room {
            packed.extend(own.split_off(room));
        }
    }
    let mut attributes = fixed;
    attributes.extend(own);
    if !packed.is_empty() {
        let map: serde_json::Map<String, serde_json::Value> = packed
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        attributes.push((
            HEADERS_ATTR.to_owned(),
            serde_json::Value::Object(map).to_string(),
        ));
    }
    let size = body.len()
        + attributes
            .iter()
            .map(|(k, v)| k.len() + STRING.len() + v.len())
            .sum::<usize>();
    if size > limit {
        return Err(Error::TooLarge { size, limit });
    }
    Ok(Encoded {
        body,
        attributes,
        size,
    })
}

fn is_reserved(name: &str) -> bool {
    [ID_ATTR, KEY_ATTR, HEADERS_ATTR, ENCODING_ATTR].contains(&name)
}

/// Characters SQS accepts in bodies and attribute values (XML 1.0 characters).
fn char_ok(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn text_ok(s: &str) -> bool {
    s.chars().all(char_ok)
}

fn attribute_value_ok(v: &str) -> bool {
    !v.is_empty() && text_ok(v)
}

/// SQS attribute names: 1–256 of `A-Za-z0-9_-.`, no leading or trailing
/// dot, no `..`, not starting with `AWS.` or `Amazon.`.
fn attribute_name_ok(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

/// What a received message carried, independent of the SDK's types.
#[derive(Debug, Default)]
pub(crate) struct Received<'a> {
    /// The SQS `MessageId`.
    pub(crate) sqs_id: &'a str,
    pub(crate) body: &'a str,
    /// String and Number attributes.
    pub(crate) attributes: HashMap<&'a str, &'a str>,
    /// The `MessageGroupId` of a FIFO message.
    pub(crate) group_id: Option<&'a str>,
}

impl<'a> Received<'a> {
    /// What the SDK's received `msg` carried.
    pub(crate) fn from_sdk(msg: &'a aws_sdk_sqs::types::Message) -> Self {
        Self {
            sqs_id: msg.message_id.as_deref().unwrap_or_default(),
            body: msg.body.as_deref().unwrap_or_default(),
            attributes: msg
                .message_attributes
                .iter()
                .flatten()
                .filter_map(|(k, v)| v.string_value.as_deref().map(|s| (k.as_str(), s)))
                .collect(),
            group_id: system_attribute(msg, MessageSystemAttributeName::MessageGroupId),
        }
    }
}

/// A system attribute (receive count, group id, sent time) of a received message.
pub(crate) fn system_attribute(
    msg: &aws_sdk_sqs::types::Message,
    name: MessageSystemAttributeName,
) -> Option<&str> {
    msg.attributes
        .as_ref()
        .and_then(|a| a.get(&name))
        .map(String::as_str)
}

/// Rebuilds the message of a receive on `topic`.
///
/// # Errors
/// [`Error::Rejected`] when the body says base64 but is not.
pub(crate) fn decode(topic: &str, r: &Received<'_>) -> Result<Message> {
    let mut headers = Headers::new();
    if let Some(packed) = r.attributes.get(HEADERS_ATTR) {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(packed) {
            for (k, v) in map {
                if let serde_json::Value::String(v) = v {
                    headers.insert(k, v);
                }
            }
        }
    }
    for (k, v) in &r.attributes {
        if !is_reserved(k) {
            headers.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    let payload = if r.attributes.get(ENCODING_ATTR) == Some(&"base64") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(r.body)
            .map_err(|e| {
                Error::Rejected(
                    format!("message {} says base64 but its body is not: {e}", r.sqs_id).into(),
                )
            })?;
        Bytes::from(bytes)
    } else {
        Bytes::copy_from_slice(r.body.as_bytes())
    };
    let id = r
        .attributes
        .get(ID_ATTR)
        .map_or_else(|| r.sqs_id.to_owned(), |s| (*s).to_owned());
    let key = r
        .attributes
        .get(KEY_ATTR)
        .copied()
        .or(r.group_id)
        .map(str::to_owned);
    Ok(Message {
        id,
        topic: topic.to_owned(),
        key,
        headers,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(m: &Message, extra: &Headers) -> Message {
        let e = encode(m, extra, 1 << 20).expect("encode");
        let attributes = e
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        decode(
            &m.topic,
            &Received {
                sqs_id: "sqs-id",
                body: &e.body,
                attributes,
                group_id: None,
            },
        )
        .expect("decode")
    }

    #[test]
    fn id_key_headers_and_payload_survive() {
        let m = waitlist_core::conformance::sample_message("t");
        let mut extra = Headers::new();
        extra.insert("waitlist-attempt".into(), "2".into());
        let back = round_trip(&m, &extra);
        waitlist_core::conformance::assert_round_trip(&m, &back);
        assert_eq!(
            back.headers.get("waitlist-attempt").map(String::as_str),
            Some("2")
        );
    }

    #[test]
    fn many_or_odd_headers_are_packed_within_ten_attributes() {
        let mut m = Message::new("t", "{}").with_key("k");
        for i in 0..15 {
            m = m.with_header(format!("h{i:02}"), format!("v{i}"));
        }
        m = m
            .with_header("bad name with spaces", "x")
            .with_header("empty", "")
            .with_header("AWS.reserved", "y");
        let e = encode(&m, &Headers::new(), 1 << 20).expect("encode");
        assert!(e.attributes.len() <= MAX_ATTRIBUTES, "{:?}", e.attributes);
        assert!(e.attributes.iter().any(|(k, _)| k == HEADERS_ATTR));
        let back = round_trip(&m, &Headers::new());
        assert_eq!(back.headers, m.headers, "every header must come back");
    }

    #[test]
    fn binary_payloads_travel_as_base64_and_size_is_enforced() {
        let m = Message::new("t", vec![0u8, 159, 146, 150, 1]);
        let e = encode(&m, &Headers::new(), 1 << 20).expect("encode");
        assert!(e
            .attributes
            .contains(&(ENCODING_ATTR.into(), "base64".into())));
        assert_eq!(round_trip(&m, &Headers::new()).payload, m.payload);
        let big = Message::new("t", "x".repeat(2000));
        match encode(&big, &Headers::new(), 1024) {
            Err(Error::TooLarge { size, limit }) => assert!(size > 2000 && limit == 1024),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn a_key_sqs_cannot_carry_is_refused() {
        for key in ["", "a\u{1}b"] {
            let m = Message::new("t", "{}").with_key(key);
            assert!(matches!(
                encode(&m, &Headers::new(), 1 << 20),
                Err(Error::Rejected(_))
            ));
        }
    }

    #[test]
    fn foreign_messages_get_the_sqs_id_and_the_group_id_as_key() {
        let r = Received {
            sqs_id: "sqs-1",
            body: "{}",
            attributes: HashMap::from([("x-origin", "boto3")]),
            group_id: Some("campaign-9"),
        };
        let m = decode("t", &r).expect("decode");
        assert_eq!(m.id, "sqs-1");
        assert_eq!(m.key.as_deref(), Some("campaign-9"));
        assert_eq!(m.headers.get("x-origin").map(String::as_str), Some("boto3"));
        let bad = Received {
            attributes: HashMap::from([(ENCODING_ATTR, "base64")]),
            body: "not base64!",
            ..Received::default()
        };
        assert!(matches!(decode("t", &bad), Err(Error::Rejected(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_messages_round_trip(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            headers in proptest::collection::btree_map("[ -~]{0,12}", ".{0,12}", 0..14),
            key in proptest::option::of("[^\\x00-\\x1f\\u{fffe}\\u{ffff}]{1,20}"),
        ) {
            let mut m = Message::new("t", payload);
            m.headers = headers;
            m.key = key;
            let back = round_trip(&m, &Headers::new());
            prop_assert_eq!(&back.payload, &m.payload);
            prop_assert_eq!(&back.headers, &m.headers);
            prop_assert_eq!(&back.id, &m.id);
        }
    }
}

/// Fuzz target (see RELIABILITY.md): receives with arbitrary bodies and
/// attributes decode or fail with a clear error, never a panic, and any
/// message encodes within SQS's rules or is refused. `PROPTEST_CASES` sets
/// the cases per property (1,000 by default); `scripts/fuzz.sh` runs it
/// with millions.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{config, Rng};
    use proptest::prelude::*;

    fn arb_name() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(vec![ID_ATTR, KEY_ATTR, HEADERS_ATTR, ENCODING_ATTR,
                "waitlist-attempt", "waitlist-not-before", ""]).prop_map(str::to_owned),
            2 => ".{0,20}",
            1 => "[A-Za-z0-9_.-]{250,260}",
        ]
    }

    fn arb_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("base64".to_owned()),
            ".{0,30}",
            // Packed headers: objects of strings, other JSON, broken JSON.
            prop::collection::btree_map(".{0,10}", ".{0,10}", 0..5)
                .prop_map(|m| serde_json::to_string(&m).unwrap_or_default()),
            r#"[{}\[\]":,0-9a-z ]{0,40}"#,
        ]
    }

    fn arb_body() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,100}",
            prop::collection::vec(any::<u8>(), 0..80)
                .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
            "[A-Za-z0-9+/=]{0,60}",
        ]
    }

    proptest! {
        #![proptest_config(config(64))]

        /// 100 receives per case: random attributes (reserved names, packed
        /// headers as JSON or not, the base64 flag) and bodies, decoded.
        #[test]
        fn receive_bursts(seed in any::<u64>()) {
            const NAMES: &[&str] = &[ID_ATTR, KEY_ATTR, HEADERS_ATTR, ENCODING_ATTR, "waitlist-attempt", ""];
            const VALUES: &[&str] = &["base64", "", "{}", "{\"a\":\"b\"}", "{\"a\":1}", "[1,2]", "{\"", "null", "QUJD", "QUJD=", "=="];
            let mut rng = Rng::new(seed);
            let mut next = move || rng.next();
            let text = |n: u64, next: &mut dyn FnMut() -> u64| -> String {
                let bytes: Vec<u8> = (0..next() % (n + 1)).map(|_| next() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            };
            for _ in 0..100 {
                let mut attrs: Vec<(String, String)> = Vec::new();
                for _ in 0..next() % 8 {
                    let name = if next() % 2 == 0 { NAMES[(next() % NAMES.len() as u64) as usize].to_owned() } else { text(12, &mut next) };
                    let value = if next() % 2 == 0 { VALUES[(next() % VALUES.len() as u64) as usize].to_owned() } else { text(24, &mut next) };
                    attrs.push((name, value));
                }
                let body = match next() % 3 {
                    0 => base64::engine::general_purpose::STANDARD.encode(text(48, &mut next)),
                    _ => text(64, &mut next),
                };
                let r = Received {
                    sqs_id: "sqs-id",
                    body: &body,
                    attributes: attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
                    group_id: None,
                };
                match decode("t", &r) {
                    Ok(m) => prop_assert!(!m.headers.contains_key(ENCODING_ATTR) || r.attributes.contains_key(HEADERS_ATTR)),
                    Err(e) => prop_assert!(matches!(e, Error::Rejected(_)), "{e:?}"),
                }
            }
        }
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// Any receive decodes or is refused as not base64; no reserved
        /// attribute leaks into the headers.
        #[test]
        fn arbitrary_receives_decode(
            attrs in prop::collection::vec((arb_name(), arb_value()), 0..12),
            body in arb_body(),
            group in prop::option::of(".{0,20}"),
        ) {
            let r = Received {
                sqs_id: "sqs-id",
                body: &body,
                attributes: attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
                group_id: group.as_deref(),
            };
            match decode("t", &r) {
                Ok(m) => {
                    // A reserved name is a header only when packed headers carry it.
                    let packed: serde_json::Map<String, serde_json::Value> = r
                        .attributes
                        .get(HEADERS_ATTR)
                        .and_then(|p| serde_json::from_str(p).ok())
                        .unwrap_or_default();
                    for name in [ID_ATTR, KEY_ATTR, ENCODING_ATTR, HEADERS_ATTR] {
                        if let Some(v) = m.headers.get(name) {
                            prop_assert_eq!(packed.get(name).and_then(|p| p.as_str()), Some(v.as_str()), "{} leaked", name);
                        }
                    }
                    for (k, v) in &r.attributes {
                        if ![ID_ATTR, KEY_ATTR, ENCODING_ATTR, HEADERS_ATTR].contains(k) {
                            prop_assert_eq!(m.headers.get(*k).map(String::as_str), Some(*v));
                        }
                    }
                    if r.attributes.get(ENCODING_ATTR) != Some(&"base64") {
                        prop_assert_eq!(&m.payload[..], body.as_bytes());
                    }
                }
                Err(e) => {
                    prop_assert_eq!(r.attributes.get(ENCODING_ATTR), Some(&"base64"));
                    prop_assert!(matches!(e, Error::Rejected(_)), "{e:?}");
                }
            }
        }

        /// Any message encodes within ten attributes and the size limit, or
        /// is refused with a reason; what encodes decodes to the same message.
        #[test]
        fn arbitrary_messages_encode(
            id in ".{0,40}",
            key in prop::option::of(".{0,30}"),
            hs in prop::collection::btree_map(arb_name(), ".{0,30}", 0..16),
            payload in prop::collection::vec(any::<u8>(), 0..200),
            limit in prop_oneof![Just(1usize << 20), 0usize..600],
        ) {
            let mut m = Message::new("t", payload).with_id(id);
            m.key = key;
            m.headers = hs;
            match encode(&m, &Headers::new(), limit) {
                Ok(e) => {
                    prop_assert!(e.attributes.len() <= MAX_ATTRIBUTES);
                    prop_assert!(e.size <= limit);
                    prop_assert!(text_ok(&e.body));
                    let back = decode("t", &Received {
                        sqs_id: "sqs-id",
                        body: &e.body,
                        attributes: e.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
                        group_id: None,
                    });
                    let back = back.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&back.payload, &m.payload);
                    let mut expected = m.headers.clone();
                    for reserved in [ID_ATTR, KEY_ATTR, HEADERS_ATTR, ENCODING_ATTR] {
                        expected.remove(reserved);
                    }
                    let mut got = back.headers.clone();
                    for reserved in [ID_ATTR, KEY_ATTR, HEADERS_ATTR, ENCODING_ATTR] {
                        got.remove(reserved);
                    }
                    prop_assert_eq!(got, expected);
                    if !m.id.is_empty() && attribute_value_ok(&m.id) {
                        prop_assert_eq!(&back.id, &m.id);
                    }
                }
                Err(e) => prop_assert!(matches!(e, Error::TooLarge { .. } | Error::Rejected(_)), "{e:?}"),
            }
        }
    }
}
