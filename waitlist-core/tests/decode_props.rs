//! Decoding untrusted input never panics: arbitrary bytes, arbitrary strings,
//! arbitrary JSON values and mutated valid events, decoded into the generic
//! envelopes, every typed envelope and every flat event.

use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use waitlist_core::events::*;

/// Decodes `bytes` as `T`; on success, the event must re-encode and decode again.
fn typed<T: Serialize + DeserializeOwned>(bytes: &[u8]) {
    if let Ok(event) = serde_json::from_slice::<T>(bytes) {
        let encoded = serde_json::to_vec(&event).expect("a decoded event encodes");
        assert!(
            serde_json::from_slice::<T>(&encoded).is_ok(),
            "a re-encoded event decodes: {}",
            String::from_utf8_lossy(&encoded)
        );
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = serde_json::from_str::<T>(text);
    }
}

/// Calls `$check::<D>($bytes)` for every enveloped payload type `D`.
macro_rules! for_each_payload_type {
    ($check:ident($bytes:expr)) => {
        for_each_payload_type!(@each $check($bytes):
            UserSignedUp, UserVerified, ReferralCreated, ReferralVerified, RewardEarned,
            CampaignMilestoneReached, EmailJob, PositionRecalculateJob, RewardDeliverJob,
            FraudDetectJob, AnalyticsAggregateJob, UserCreated
        )
    };
    (@each $check:ident($bytes:expr): $($data:ty),*) => {
        $($check::<$data>($bytes);)*
    };
}

/// [`typed`] for an envelope of `D`.
fn typed_envelope<D: Serialize + DeserializeOwned>(bytes: &[u8]) {
    typed::<Envelope<D>>(bytes);
}

/// Decodes `bytes` as every envelope and flat event of the crate.
fn decode_everything(bytes: &[u8]) {
    typed::<Envelope<Value>>(bytes);
    typed::<WebhookEvent>(bytes);
    if let Ok(raw) = serde_json::from_slice::<Envelope<Box<RawValue>>>(bytes) {
        // Every payload type, decoding the payload on its own.
        for_each_payload_type!(typed(raw.data.get().as_bytes()));
    }
    for_each_payload_type!(typed_envelope(bytes));
    typed::<NotificationEvent>(bytes);
    typed::<QueueJoined>(bytes);
    typed::<QueueLeft>(bytes);
    typed::<QueueReady>(bytes);
    typed::<CheckoutCompleted>(bytes);
    typed::<CheckoutFailed>(bytes);
    typed::<CheckoutExpired>(bytes);
}

/// Field names of the events, so generated objects often look like events.
const KEYS: &[&str] = &[
    "id",
    "type",
    "account_id",
    "campaign_id",
    "data",
    "timestamp",
    "user_id",
    "email",
    "referral_id",
    "referrer_id",
    "referred_id",
    "points_per_referral",
    "user_reward_id",
    "reward_id",
    "milestone",
    "participant_count",
    "template_id",
    "template_data",
    "priority",
    "method",
    "granularity",
    "start_time",
    "end_time",
    "position",
    "notification_id",
    "message_id",
    "target_user_id",
    "channel",
    "payload",
    "metadata",
    "session_id",
    "event_id",
    "joined_at",
    "reason",
    "left_at",
    "checkout_token",
    "admitted_at",
    "expires_at",
    "order_id",
    "tickets",
    "seat_no",
    "category",
    "price",
    "payment_id",
    "amount",
    "error_message",
    "expired_at",
];

/// String values the events accept somewhere (types, enums, timestamps).
const WORDS: &[&str] = &[
    "user.signed_up",
    "job.email.welcome",
    "verification",
    "position_update",
    "email",
    "webhook",
    "hourly",
    "daily",
    "whatsapp",
    "push",
    "low",
    "urgent",
    "user_left",
    "timeout",
    "expired",
    "payment_failed",
    "validation_error",
    "2025-01-01T12:00:00Z",
    "2024-10-02T10:30:00.123Z",
    "2024-13-45T99:99:99Z",
    "+275760-09-13T00:00:00Z",
    "+10000-01-01T00:00:00Z",
    "-0001-12-31T23:59:60.999999999+05:30",
    "",
];

/// Arbitrary JSON values, biased towards event-like keys and strings.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::String),
        select(WORDS).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 96, 10, |inner| {
        let key = prop_oneof![3 => select(KEYS).prop_map(str::to_owned), 1 => any::<String>()];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..10)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One valid event of every shape.
fn valid_events() -> Vec<Value> {
    let t = "2025-01-01T12:00:00Z";
    let envelope = |ty: &str, data: Value| json!({"id": "i", "type": ty, "account_id": "a", "campaign_id": "c", "data": data, "timestamp": t});
    let ticket = json!({"id": "t", "seat_no": "A1", "category": "VIP", "price": 150.0});
    let room = |extra: Value| {
        let mut event = json!({"session_id": "s", "user_id": "u", "event_id": "e", "timestamp": t});
        if let (Some(obj), Value::Object(extra)) = (event.as_object_mut(), extra) {
            obj.extend(extra);
        }
        event
    };
    vec![
        envelope(
            "user.signed_up",
            json!({"user_id": "u", "campaign_id": "c", "email": "e"}),
        ),
        envelope(
            "referral.verified",
            json!({"referral_id": "r", "referrer_id": "a",
            "referred_id": "b", "campaign_id": "c", "points_per_referral": 1}),
        ),
        envelope(
            "reward.earned",
            json!({"user_reward_id": "x", "user_id": "u", "campaign_id": "c",
            "reward_id": "r", "method": "email"}),
        ),
        envelope(
            "campaign.milestone_reached",
            json!({"campaign_id": "c", "milestone": "m",
            "participant_count": 1000}),
        ),
        envelope(
            "job.email.welcome",
            json!({"type": "welcome", "campaign_id": "c", "user_id": "u",
            "template_id": "t", "template_data": {"k": 1}, "priority": 1}),
        ),
        envelope(
            "job.analytics.aggregate",
            json!({"campaign_id": "c", "granularity": "daily",
            "start_time": t, "end_time": t, "points_per_referral": 2}),
        ),
        envelope(
            "user.created",
            json!({"user_id": "u", "email": "e", "position": 42,
            "referral_id": "r"}),
        ),
        json!({"notification_id": "n", "message_id": "m", "target_user_id": "u", "channel": "push",
            "template_id": "t", "payload": {}, "priority": "high", "metadata": {}}),
        room(
            json!({"position": 4, "joined_at": t, "reason": "timeout", "left_at": t,
            "checkout_token": "j", "admitted_at": t, "expires_at": t}),
        ),
        room(
            json!({"order_id": "o", "tickets": [ticket], "payment_id": "p", "amount": 1.5,
            "reason": "payment_failed", "error_message": "m", "expired_at": t}),
        ),
    ]
}

/// Replaces (or removes, if `replacement` is `None`) one field of `event`,
/// at the top level or one level down.
fn mutate(mut event: Value, top: Index, nested: Index, replacement: Option<Value>) -> Value {
    let Some(obj) = event.as_object_mut() else {
        return event;
    };
    let key = obj
        .keys()
        .nth(top.index(obj.len()))
        .cloned()
        .unwrap_or_default();
    let target = match obj.get_mut(&key) {
        Some(Value::Object(inner)) if !inner.is_empty() && nested.index(2) == 0 => inner,
        _ => obj,
    };
    let key = target
        .keys()
        .nth(top.index(target.len()))
        .cloned()
        .unwrap_or_default();
    match replacement {
        Some(value) => drop(target.insert(key, value)),
        None => drop(target.remove(&key)),
    }
    event
}

#[test]
fn valid_events_decode() {
    let events = valid_events();
    for (i, event) in events.iter().enumerate() {
        let bytes = serde_json::to_vec(event).expect("encodes");
        let ok = match i {
            0 => serde_json::from_slice::<Envelope<UserSignedUp>>(&bytes).is_ok(),
            1 => serde_json::from_slice::<Envelope<ReferralVerified>>(&bytes).is_ok(),
            2 => serde_json::from_slice::<Envelope<RewardDeliverJob>>(&bytes).is_ok(),
            3 => serde_json::from_slice::<Envelope<CampaignMilestoneReached>>(&bytes).is_ok(),
            4 => serde_json::from_slice::<Envelope<EmailJob>>(&bytes).is_ok(),
            5 => serde_json::from_slice::<Envelope<AnalyticsAggregateJob>>(&bytes).is_ok(),
            6 => serde_json::from_slice::<Envelope<UserCreated>>(&bytes).is_ok(),
            7 => serde_json::from_slice::<NotificationEvent>(&bytes).is_ok(),
            8 => {
                serde_json::from_slice::<QueueJoined>(&bytes).is_ok()
                    && serde_json::from_slice::<QueueLeft>(&bytes).is_ok()
                    && serde_json::from_slice::<QueueReady>(&bytes).is_ok()
            }
            _ => {
                serde_json::from_slice::<CheckoutCompleted>(&bytes).is_ok()
                    && serde_json::from_slice::<CheckoutFailed>(&bytes).is_ok()
                    && serde_json::from_slice::<CheckoutExpired>(&bytes).is_ok()
            }
        };
        assert!(ok, "sample {i} does not decode: {event}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let in_data = format!(
        r#"{{"id":"i","type":"t","account_id":"a","campaign_id":"c","timestamp":"2025-01-01T12:00:00Z","data":{deep},"x":{deep}}}"#
    );
    for input in [&deep, &in_data] {
        decode_everything(input.as_bytes());
        assert!(serde_json::from_str::<Envelope<Value>>(input).is_err());
    }
    // Skipping a value does not recurse: a deferred payload may decode, and
    // decoding it further hits the recursion limit instead.
    if let Ok(raw) = serde_json::from_str::<Envelope<Box<RawValue>>>(&in_data) {
        assert!(serde_json::from_str::<Value>(raw.data.get()).is_err());
    }
}

#[test]
fn extreme_timestamps_survive_a_round_trip() {
    let t = "2025-01-01T12:00:00Z";
    for ts in [
        "+10000-01-01T00:00:00Z",
        "-0001-12-31T23:59:60.999999999+05:30",
    ] {
        let event = json!({"session_id": "s", "user_id": "u", "event_id": "e", "position": 1,
            "joined_at": ts, "timestamp": t});
        let bytes = serde_json::to_vec(&event).expect("encodes");
        assert!(
            serde_json::from_slice::<QueueJoined>(&bytes).is_ok(),
            "{ts}"
        );
        typed::<QueueJoined>(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn arbitrary_strings(text in any::<String>()) {
        decode_everything(text.as_bytes());
    }

    #[test]
    fn json_like_text(text in r#"[{}\[\]":,0-9a-z_.\- ]{0,200}"#) {
        decode_everything(text.as_bytes());
    }

    #[test]
    fn arbitrary_json(value in arb_json()) {
        decode_everything(&serde_json::to_vec(&value).expect("encodes"));
    }

    #[test]
    fn arbitrary_envelopes(data in arb_json(), fields in prop::collection::vec(arb_json(), 5)) {
        let names = ["id", "type", "account_id", "campaign_id", "timestamp"];
        let mut obj: Map<String, Value> = names.iter().map(|n| (*n).to_owned()).zip(fields).collect();
        obj.insert("data".to_owned(), data);
        decode_everything(&serde_json::to_vec(&Value::Object(obj)).expect("encodes"));
    }

    #[test]
    fn mutated_valid_events(
        event in select(valid_events()),
        top in any::<Index>(),
        nested in any::<Index>(),
        replacement in prop::option::of(arb_json()),
        cut in any::<Index>(),
    ) {
        let bytes = serde_json::to_vec(&mutate(event, top, nested, replacement)).expect("encodes");
        decode_everything(&bytes);
        // Truncated input, too.
        decode_everything(&bytes[..cut.index(bytes.len() + 1)]);
    }
}
