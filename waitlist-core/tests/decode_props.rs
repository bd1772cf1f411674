//! Decoding untrusted input never panics: arbitrary bytes, arbitrary strings,
//! arbitrary JSON values and mutated valid events, decoded into the generic
//! envelopes, every typed envelope and every flat event.
//!
//! A fuzz target (see RELIABILITY.md): `PROPTEST_CASES` sets the cases per
//! property (512 by default); `scripts/fuzz.sh` runs it with millions.

#[path = "fuzz_support/mod.rs"]
mod fuzz_support;

use fuzz_support::{config, Rng};
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

/// The examples of the documents, as served by `waitlist_core::events::examples`.
fn example_bytes() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = valid_events()
        .iter()
        .map(|e| serde_json::to_vec(e).expect("encodes"))
        .collect();
    all.extend(
        examples::ALL
            .iter()
            .map(|(_, json)| json.as_bytes().to_vec()),
    );
    all
}

/// One byte-level edit of an encoded event.
#[derive(Debug, Clone)]
enum Edit {
    /// Overwrite the byte at an index.
    Set(Index, u8),
    /// Insert a byte.
    Insert(Index, u8),
    /// Remove a byte.
    Remove(Index),
    /// Copy a run of the input to another place (repeats keys, nests values).
    Splice(Index, Index, Index),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![any::<u8>(), select(b"{}[]\",:0-9.eE+-tfnu\\ ".to_vec())];
    prop_oneof![
        (any::<Index>(), byte.clone()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<Index>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<Index>().prop_map(Edit::Remove),
        (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(a, b, c)| Edit::Splice(a, b, c)),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let len = bytes.len();
    match edit {
        Edit::Set(i, b) if len > 0 => bytes[i.index(len)] = *b,
        Edit::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
        Edit::Remove(i) if len > 0 => drop(bytes.remove(i.index(len))),
        Edit::Splice(from, n, to) if len > 0 => {
            let start = from.index(len);
            let run: Vec<u8> = bytes[start..start + n.index(len - start + 1).min(64)].to_vec();
            let at = to.index(len + 1);
            bytes.splice(at..at, run);
        }
        _ => {}
    }
}

/// Inputs one `mutation_bursts` case decodes.
pub(crate) const BURST: usize = 100;

/// Decodes `bytes` as the router does: the envelope with its payload
/// deferred, then the payload as `D`; what decodes must re-encode.
fn routed<D: Serialize + DeserializeOwned>(bytes: &[u8]) {
    if let Ok(env) = serde_json::from_slice::<Envelope<Box<RawValue>>>(bytes) {
        typed::<D>(env.data.get().as_bytes());
    }
}

/// The decoder the consumer of each documented example uses.
fn decoder(name: &str) -> fn(&[u8]) {
    match name {
        "USER_SIGNED_UP" => routed::<UserSignedUp>,
        "USER_VERIFIED" => routed::<UserVerified>,
        "REFERRAL_CREATED" => routed::<ReferralCreated>,
        "REFERRAL_VERIFIED" => routed::<ReferralVerified>,
        "REWARD_EARNED" => routed::<RewardEarned>,
        "CAMPAIGN_MILESTONE_REACHED" => routed::<CampaignMilestoneReached>,
        "EMAIL_JOB" => routed::<EmailJob>,
        "USER_CREATED" => |b| {
            routed::<UserCreated>(b);
            typed::<WebhookEvent>(b);
        },
        "NOTIFICATION" => typed::<NotificationEvent>,
        "QUEUE_JOINED" => typed::<QueueJoined>,
        "QUEUE_LEFT" => typed::<QueueLeft>,
        "QUEUE_READY" => typed::<QueueReady>,
        "CHECKOUT_COMPLETED" => typed::<CheckoutCompleted>,
        "CHECKOUT_FAILED" => typed::<CheckoutFailed>,
        "CHECKOUT_EXPIRED" => typed::<CheckoutExpired>,
        _ => decode_everything,
    }
}

/// One to three random byte edits, biased towards JSON syntax.
fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    const JSON: &[u8] = b"{}[]\",:0123456789.eE+-tfnul\\ \x00";
    for _ in 0..=rng.below(3) {
        let len = bytes.len();
        let byte = if rng.below(3) == 0 {
            rng.next() as u8
        } else {
            JSON[rng.below(JSON.len())]
        };
        match rng.below(3) {
            0 if len > 0 => {
                let start = rng.below(len);
                let run = bytes[start..(start + 1 + rng.below(32)).min(len)].to_vec();
                let at = rng.below(len + 1);
                bytes.splice(at..at, run);
            }
            1 if len > 0 => {
                // Replace a run with a random JSON value's text.
                let start = rng.below(len);
                let end = (start + rng.below(16)).min(len);
                let value: &[u8] = match rng.below(6) {
                    0 => b"null",
                    1 => b"-1e999",
                    2 => b"18446744073709551616",
                    3 => b"\"\\ud800\"",
                    4 => b"[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]",
                    _ => b"\"+275760-09-13T00:00:00Z\"",
                };
                bytes.splice(start..end, value.iter().copied());
            }
            // Replace, insert, remove, truncate or swap.
            _ => rng.edit(bytes, byte),
        }
    }
}

/// The properties: `scripts/fuzz.sh` runs `fuzz::` with millions of cases.
mod fuzz {
    use super::*;

    proptest! {
        #![proptest_config(config(64))]

        /// [`BURST`] inputs per case: a documented example mutated step by
        /// step (restarting from the example every 20 steps), each step
        /// decoded by that event's consumer path.
        #[test]
        fn mutation_bursts(which in any::<Index>(), seed in any::<u64>()) {
            let (name, json) = examples::ALL[which.index(examples::ALL.len())];
            let decode = decoder(name);
            let mut rng = Rng::new(seed);
            let mut input = Vec::new();
            for step in 0..BURST {
                if step % 20 == 0 {
                    input = json.as_bytes().to_vec();
                }
                mutate_bytes(&mut input, &mut rng);
                decode(&input);
            }
        }
    }

    proptest! {
        #![proptest_config(config(512))]

        #[test]
        fn byte_mutated_examples(
            example in select(example_bytes()),
            edits in prop::collection::vec(arb_edit(), 1..8),
        ) {
            let mut bytes = example;
            for edit in &edits {
                apply(&mut bytes, edit);
            }
            decode_everything(&bytes);
        }

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
}
