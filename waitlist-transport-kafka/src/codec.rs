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

/// Fuzz target (see RELIABILITY.md): records with arbitrary headers, keys
/// and payloads decode without a panic, and whatever the SDK produces comes
/// back. `PROPTEST_CASES` sets the cases per property (1,000 by default);
/// `scripts/fuzz.sh` runs it with millions.
///
/// Header keys here are UTF-8: rdkafka's `Headers::try_get` unwraps the
/// UTF-8 check of a key, so a record whose header key is not UTF-8 panics
/// inside rdkafka before this codec sees it (see RELIABILITY.md).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzz_support::{config, Rng};
    use proptest::prelude::*;
    use rdkafka::Timestamp;

    fn arb_key() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => prop::sample::select(vec![
                ID_HEADER, headers::ORIGIN_TOPIC, headers::NOT_BEFORE, headers::ATTEMPT,
                headers::CONTENT_TYPE, "",
            ]).prop_map(str::to_owned),
            2 => "[^\\x00]{0,30}",
        ]
    }

    fn arb_value() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop::option::weighted(
            0.9,
            prop_oneof![
                ".{0,30}".prop_map(String::into_bytes),
                prop::collection::vec(any::<u8>(), 0..30),
                Just(b"2025-01-01T12:00:00Z".to_vec()),
                Just(b"+262143-12-31T23:59:59Z".to_vec()),
            ],
        )
    }

    fn record(
        headers: &[(String, Option<Vec<u8>>)],
        key: Option<Vec<u8>>,
        payload: Option<Vec<u8>>,
        partition: i32,
        offset: i64,
    ) -> OwnedMessage {
        let mut h = OwnedHeaders::new();
        for (k, v) in headers {
            h = h.insert(Header {
                key: k,
                value: v.as_deref(),
            });
        }
        OwnedMessage::new(
            payload,
            key,
            "topic".to_owned(),
            Timestamp::NotAvailable,
            partition,
            offset,
            (!headers.is_empty()).then_some(h),
        )
    }

    proptest! {
        #![proptest_config(config(64))]

        /// 100 records per case: random header keys (known names and any
        /// text without NUL), values (absent, text, any bytes, dates), keys
        /// and payloads, decoded.
        #[test]
        fn record_bursts(seed in any::<u64>()) {
            const KEYS: &[&str] = &[ID_HEADER, headers::ORIGIN_TOPIC, headers::NOT_BEFORE, headers::ATTEMPT, ""];
            let mut rng = Rng::new(seed);
            let mut next = move || rng.next();
            let bytes = |n: u64, next: &mut dyn FnMut() -> u64| -> Vec<u8> {
                (0..next() % (n + 1)).map(|_| next() as u8).collect()
            };
            for _ in 0..100 {
                let count = next() % 8;
                let mut hs = Vec::new();
                for _ in 0..count {
                    let key = if next() % 2 == 0 {
                        KEYS[(next() % KEYS.len() as u64) as usize].to_owned()
                    } else {
                        String::from_utf8_lossy(&bytes(16, &mut next)).replace('\0', "")
                    };
                    let value = match next() % 4 {
                        0 => None,
                        1 => Some(b"2025-01-01T12:00:00Z".to_vec()),
                        _ => Some(bytes(24, &mut next)),
                    };
                    hs.push((key, value));
                }
                let key = (next() % 2 == 0).then(|| bytes(16, &mut next));
                let payload = (next() % 4 != 0).then(|| bytes(64, &mut next));
                let r = record(&hs, key, payload.clone(), next() as i32, next() as i64);
                let m = message(&r);
                prop_assert_eq!(&m.payload[..], payload.as_deref().unwrap_or_default());
            }
        }
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// Any record decodes: the id is the id header or the record's
        /// coordinates, and every header with a value comes back as text.
        #[test]
        fn arbitrary_records_decode(
            headers in prop::collection::vec((arb_key(), arb_value()), 0..12),
            key in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
            payload in prop::option::of(prop::collection::vec(any::<u8>(), 0..128)),
            partition in any::<i32>(),
            offset in any::<i64>(),
        ) {
            let r = record(&headers, key.clone(), payload.clone(), partition, offset);
            let m = message(&r);
            prop_assert_eq!(&m.payload[..], payload.as_deref().unwrap_or_default());
            prop_assert_eq!(m.key.is_some(), key.is_some());
            let has_id = headers.iter().any(|(k, v)| k == ID_HEADER && v.is_some());
            if !has_id {
                prop_assert_eq!(m.id, format!("topic-{partition}-{offset}"));
            }
            for (k, v) in &headers {
                if k != ID_HEADER && v.is_some() {
                    prop_assert!(m.headers.contains_key(k.as_str()), "{k:?}");
                }
            }
        }

        /// What the SDK produces decodes to the same id, key, headers and payload.
        #[test]
        fn produced_messages_round_trip(
            id in ".{0,40}",
            key in prop::option::of(".{0,40}"),
            hs in prop::collection::btree_map("[^\\x00]{1,20}", ".{0,40}", 0..8),
            payload in prop::collection::vec(any::<u8>(), 0..128),
        ) {
            let mut m = Message::new("topic", payload.clone()).with_id(id);
            m.key = key;
            m.headers = hs;
            m.headers.remove(ID_HEADER);
            let retried = m.headers.contains_key(headers::NOT_BEFORE)
                && m.headers.contains_key(headers::ORIGIN_TOPIC);
            let h = kafka_headers(&m, None);
            let r = OwnedMessage::new(
                Some(payload),
                m.key.clone().map(String::into_bytes),
                "topic".to_owned(),
                Timestamp::NotAvailable,
                0,
                0,
                Some(h),
            );
            let back = message(&r);
            prop_assert_eq!(&back.id, &m.id);
            prop_assert_eq!(&back.key, &m.key);
            prop_assert_eq!(&back.headers, &m.headers);
            prop_assert_eq!(&back.payload, &m.payload);
            if !retried {
                prop_assert_eq!(back.topic.as_str(), "topic");
            }
            prop_assert!(record_size(&m) >= m.size());
        }
    }
}
