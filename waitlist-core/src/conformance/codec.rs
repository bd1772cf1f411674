//! Round-trip checks for a transport's codec (message ↔ broker record).

use crate::Message;

/// A message with every field a codec carries set: id, key, JSON payload
/// and a header whose value is not ASCII.
pub fn sample_message(topic: &str) -> Message {
    Message::new(topic, "{\"a\":1}")
        .with_id("abc")
        .with_key("campaign-1")
        .with_header("x-unicode", "ünïcødé")
}

/// Asserts that `back`, decoded from what the codec made of `sent`, has
/// `sent`'s id, key, payload and every header.
///
/// # Panics
/// When a field differs.
pub fn assert_round_trip(sent: &Message, back: &Message) {
    assert_eq!(back.id, sent.id, "id");
    assert_eq!(back.key, sent.key, "key");
    assert_eq!(back.payload, sent.payload, "payload");
    for (name, value) in &sent.headers {
        assert_eq!(back.headers.get(name), Some(value), "header {name}");
    }
}
