//! Every JSON example of the product documents decodes into its typed event
//! and re-encodes to the same JSON.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use waitlist_core::events::examples::*;
use waitlist_core::events::*;

/// Decodes `json` as `T`, re-encodes it and asserts the result equals `json`
/// (as JSON values); returns the decoded event.
fn roundtrip<T: Serialize + DeserializeOwned>(json: &str) -> T {
    let original: Value = serde_json::from_str(json).expect("example is JSON");
    let decoded: T = serde_json::from_str(json).expect("example decodes");
    let encoded = serde_json::to_value(&decoded).expect("event encodes");
    assert_eq!(
        encoded, original,
        "re-encoded event differs from the example"
    );
    decoded
}

/// `json` with `extra` fields added at the top level and inside `data` (if any).
fn with_extra_fields(json: &str) -> String {
    let mut value: Value = serde_json::from_str(json).expect("example is JSON");
    let obj = value.as_object_mut().expect("object");
    obj.insert("unknown_top".into(), json!({"nested": [1, 2, 3]}));
    if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
        data.insert("unknown_data".into(), json!("x"));
    }
    if let Some(tickets) = obj.get_mut("tickets").and_then(Value::as_array_mut) {
        for t in tickets {
            t.as_object_mut()
                .expect("ticket")
                .insert("gate".into(), json!(7));
        }
    }
    value.to_string()
}

// ---- 001: domain events ----------------------------------------------------

/// Round-trips an enveloped example and checks its type matches `D`.
fn roundtrip_envelope<D: EventData>(json: &str) -> Envelope<D> {
    let env: Envelope<D> = roundtrip(json);
    assert_eq!(env.event_type, env.data.event_type());
    assert!(D::TYPES.contains(&env.event_type.as_str()));
    // Also decodes generically, and with a deferred payload.
    let _: Envelope<Value> = roundtrip(json);
    let raw: Envelope<Box<serde_json::value::RawValue>> =
        serde_json::from_str(json).expect("raw envelope decodes");
    let data: D = serde_json::from_str(raw.data.get()).expect("raw payload decodes");
    assert_eq!(data.event_type(), env.data.event_type());
    env
}

/// One test per enveloped example: `$name` round-trips `$json` as an
/// envelope of `$data`, bound to `$env`, checks that its payload names
/// `$user` as its user, then runs `$checks`.
macro_rules! enveloped_examples {
    ($($name:ident($env:ident: $data:ty = $json:expr, user $user:expr $(,)?) $checks:block)*) => {
        $(
            #[test]
            fn $name() {
                let $env = roundtrip_envelope::<$data>($json);
                assert_eq!($env.data.user_id(), $user);
                $checks
            }
        )*
    };
}

enveloped_examples! {
    user_signed_up(env: UserSignedUp = USER_SIGNED_UP, user Some("user-uuid")) {
        assert_eq!(env.id, "550e8400-e29b-41d4-a716-446655440000");
        assert_eq!(env.data.email, "user@example.com");
        assert_eq!(env.timestamp.to_rfc3339(), "2025-01-01T12:00:00+00:00");
    }
    user_verified(env: UserVerified = USER_VERIFIED, user Some("user-uuid")) {}
    referral_created(env: ReferralCreated = REFERRAL_CREATED, user Some("user-uuid")) {
        assert_eq!(env.data.referral_id, "referral-uuid");
    }
    referral_verified(
        env: ReferralVerified = REFERRAL_VERIFIED,
        user Some(env.data.referrer_id.as_str()),
    ) {
        assert_eq!(env.data.points_per_referral, 1);
    }
    reward_earned(env: RewardEarned = REWARD_EARNED, user Some("user-uuid")) {
        assert_eq!(env.data.user_reward_id, "user-reward-uuid");
    }
    campaign_milestone_reached(
        env: CampaignMilestoneReached = CAMPAIGN_MILESTONE_REACHED,
        user None,
    ) {
        assert_eq!(env.data.milestone, "1000_participants");
        assert_eq!(env.data.participant_count, 1000);
    }
}

// ---- 000: jobs -------------------------------------------------------------

#[test]
fn email_job_example() {
    let env = roundtrip_envelope::<EmailJob>(EMAIL_JOB);
    assert_eq!(env.data.kind, EmailKind::Verification);
    assert_eq!(env.data.template_id.as_deref(), Some("template-uuid"));
    assert!(env.data.template_data.is_empty());
    assert_eq!(env.data.priority, 1);
    assert_eq!(env.data.user_id(), Some("user-uuid"));
}

#[test]
fn email_job_every_kind() {
    for kind in EmailKind::ALL {
        let name = kind.as_str();
        let json = EMAIL_JOB
            .replace("job.email.verification", &format!("job.email.{name}"))
            .replace(r#""type": "verification""#, &format!(r#""type": "{name}""#));
        let env = roundtrip_envelope::<EmailJob>(&json);
        assert_eq!(env.data.kind, kind);
        assert_eq!(env.data.event_type(), format!("job.email.{name}"));
        assert_eq!(email_job_type(kind), kind.job_type());
        assert_eq!(EmailKind::from_job_type(kind.job_type()), Some(kind));
    }
    let names = EmailKind::ALL.map(EmailKind::as_str);
    assert_eq!(
        names,
        [
            "verification",
            "welcome",
            "position_update",
            "reward_earned",
            "milestone"
        ]
    );
    assert_eq!(EmailJob::TYPES, EmailKind::ALL.map(EmailKind::job_type));
    assert_eq!(EmailKind::from_job_type("job.email.unknown"), None);
}

// ---- 002: webhook events ---------------------------------------------------

#[test]
fn webhook_user_created() {
    let env = roundtrip_envelope::<UserCreated>(USER_CREATED);
    assert_eq!(env.account_id, "account-uuid");
    assert_eq!(env.data.position, 42);
    assert_eq!(env.data.user_id(), Some("user-uuid"));
    let generic: WebhookEvent = roundtrip(USER_CREATED);
    assert_eq!(generic.data["position"], json!(42));
}

#[test]
fn webhook_any_other_type_is_generic() {
    let generic: WebhookEvent = roundtrip(REFERRAL_VERIFIED);
    assert_eq!(generic.event_type, "referral.verified");
    assert_eq!(generic.data["points_per_referral"], json!(1));
}

// ---- 003: notification events ----------------------------------------------

/// The TypeScript object of document 003, as JSON.

#[test]
fn notification_event() {
    let event: NotificationEvent = roundtrip(NOTIFICATION);
    assert_eq!(event.channel, Channel::Email);
    assert_eq!(event.topic(), "notifications.email");
    assert_eq!(event.priority, NotificationPriority::Normal);
    assert_eq!(event.payload["user_name"], json!("John Doe"));
    assert_eq!(event.partition_key(), Some("user_123"));
    assert_eq!(event.idempotency_id(), Some("msg_unique_id"));
    assert_eq!(FlatEvent::user_id(&event), Some("user_123"));
    assert_eq!(NotificationEvent::TYPE, "notification");
}

#[test]
fn notification_every_channel_and_priority() {
    let topics = [
        "notifications.email",
        "notifications.whatsapp",
        "notifications.push",
    ];
    for (channel, topic) in Channel::ALL.into_iter().zip(topics) {
        let json = NOTIFICATION.replace(r#""email","#, &format!(r#""{channel}","#));
        let event: NotificationEvent = roundtrip(&json);
        assert_eq!(event.channel, channel);
        assert_eq!(channel.topic(), topic);
    }
    for priority in ["low", "normal", "high", "urgent"] {
        let json = NOTIFICATION.replace(r#""normal""#, &format!(r#""{priority}""#));
        let event: NotificationEvent = roundtrip(&json);
        assert_eq!(
            serde_json::to_value(event.priority).expect("encodes"),
            json!(priority)
        );
    }
}

// ---- 004: waiting-room events ----------------------------------------------

/// Round-trips a waiting-room example and checks its `FlatEvent` keys.
fn roundtrip_waitroom<E: FlatEvent>(json: &str, topic: &str) -> E {
    let event: E = roundtrip(json);
    assert_eq!(E::TYPE, topic);
    assert_eq!(
        event.partition_key(),
        Some("string"),
        "partition key is event_id"
    );
    assert_eq!(event.user_id(), Some("string"));
    assert_eq!(event.idempotency_id(), None);
    event
}

#[test]
fn queue_joined() {
    let e: QueueJoined = roundtrip_waitroom(QUEUE_JOINED, "QUEUE_JOINED");
    assert_eq!(e.position, 42);
    assert_eq!(e.session_id, "uuid");
    assert_eq!(e.timestamp.timestamp_subsec_millis(), 123);
    assert_eq!(topics::QUEUE_JOINED, QueueJoined::TYPE);
}

/// The placeholder of `QUEUE_LEFT.reason` in document 004.
const LEAVE_REASONS: &str = "user_left|timeout|expired";
/// The placeholder of `CHECKOUT_FAILED.reason` in document 004.
const FAILURE_REASONS: &str = "payment_failed|inventory_unavailable|validation_error";

/// `json` once per alternative of `placeholder` (`"a|b|c"`), substituted for it.
fn alternatives<'a>(json: &'a str, placeholder: &'a str) -> impl Iterator<Item = String> + 'a {
    placeholder
        .split('|')
        .map(move |alt| json.replace(placeholder, alt))
}

/// Every alternative of the `placeholder` in `json` decoded as `E` (and
/// round-tripped) and mapped by `field`; the example with the placeholder
/// itself must not decode.
fn every_alternative<E: FlatEvent, R>(
    json: &str,
    placeholder: &str,
    topic: &str,
    field: impl Fn(E) -> R,
) -> Vec<R> {
    let what = format!("{topic} with the placeholder {placeholder}");
    assert!(serde_json::from_str::<E>(json).is_err(), "{what} decoded");
    alternatives(json, placeholder)
        .map(|json| field(roundtrip_waitroom::<E>(&json, topic)))
        .collect()
}

#[test]
fn queue_left_every_reason() {
    use LeaveReason::*;
    let reasons = every_alternative(QUEUE_LEFT, LEAVE_REASONS, "QUEUE_LEFT", |e: QueueLeft| {
        e.reason
    });
    assert_eq!(reasons, [UserLeft, Timeout, Expired]);
}

#[test]
fn queue_ready() {
    let e: QueueReady = roundtrip_waitroom(QUEUE_READY, "QUEUE_READY");
    assert_eq!(e.checkout_token, "jwt-token");
    assert_eq!((e.expires_at - e.admitted_at).num_minutes(), 15);
}

#[test]
fn checkout_completed() {
    let e: CheckoutCompleted = roundtrip_waitroom(CHECKOUT_COMPLETED, "CHECKOUT_COMPLETED");
    assert_eq!(e.tickets.len(), 1);
    assert_eq!(e.tickets[0].seat_no, "A1");
    assert_eq!(e.tickets[0].category, "VIP");
    assert!((e.tickets[0].price - 150.0).abs() < f64::EPSILON);
    assert!((e.amount - 150.0).abs() < f64::EPSILON);
}

#[test]
fn checkout_failed_every_reason() {
    use CheckoutFailureReason::*;
    let reasons = every_alternative(
        CHECKOUT_FAILED,
        FAILURE_REASONS,
        "CHECKOUT_FAILED",
        |e: CheckoutFailed| e.reason,
    );
    let all = [PaymentFailed, InventoryUnavailable, ValidationError];
    assert_eq!(reasons, all);
}

#[test]
fn checkout_expired() {
    let e: CheckoutExpired = roundtrip_waitroom(CHECKOUT_EXPIRED, "CHECKOUT_EXPIRED");
    assert_eq!(e.expired_at, e.timestamp);
    assert_eq!(e.tickets[0].id, "string");
}

// ---- robustness ------------------------------------------------------------

/// Decodes `json` with extra unknown fields and checks it equals the plain decode.
fn ignores_unknown<T: DeserializeOwned + PartialEq + std::fmt::Debug>(json: &str) {
    let plain: T = serde_json::from_str(json).expect("decodes");
    let extended: T =
        serde_json::from_str(&with_extra_fields(json)).expect("decodes with extra fields");
    assert_eq!(plain, extended);
}

/// Calls `$check::<D>(json)` for every enveloped example `json`, `D` being
/// the type of its payload.
macro_rules! for_each_enveloped_example {
    ($check:ident) => {
        $check::<UserSignedUp>(USER_SIGNED_UP);
        $check::<UserVerified>(USER_VERIFIED);
        $check::<ReferralCreated>(REFERRAL_CREATED);
        $check::<ReferralVerified>(REFERRAL_VERIFIED);
        $check::<RewardEarned>(REWARD_EARNED);
        $check::<CampaignMilestoneReached>(CAMPAIGN_MILESTONE_REACHED);
        $check::<EmailJob>(EMAIL_JOB);
        $check::<UserCreated>(USER_CREATED);
    };
}

/// [`ignores_unknown`] for an envelope of `D`.
fn envelope_ignores_unknown<D: DeserializeOwned + PartialEq + std::fmt::Debug>(json: &str) {
    ignores_unknown::<Envelope<D>>(json);
}

#[test]
fn unknown_fields_are_ignored() {
    for_each_enveloped_example!(envelope_ignores_unknown);
    ignores_unknown::<NotificationEvent>(NOTIFICATION);
    ignores_unknown::<QueueJoined>(QUEUE_JOINED);
    for json in alternatives(QUEUE_LEFT, LEAVE_REASONS) {
        ignores_unknown::<QueueLeft>(&json);
    }
    ignores_unknown::<QueueReady>(QUEUE_READY);
    ignores_unknown::<CheckoutCompleted>(CHECKOUT_COMPLETED);
    for json in alternatives(CHECKOUT_FAILED, FAILURE_REASONS) {
        ignores_unknown::<CheckoutFailed>(&json);
    }
    ignores_unknown::<CheckoutExpired>(CHECKOUT_EXPIRED);
}

/// Asserts that `json`, with the field at `path` set to `value` (removed if
/// `None`), does not decode as `T`.
fn rejects<T: DeserializeOwned>(json: &str, path: &[&str], value: Option<Value>) {
    let what = format!("{path:?} = {value:?}");
    let mut root: Value = serde_json::from_str(json).expect("JSON");
    let (last, parents) = path.split_last().expect("non-empty path");
    let node = parents
        .iter()
        .fold(&mut root, |n, k| n.get_mut(*k).expect("path"));
    let obj = node.as_object_mut().expect("object");
    match value {
        Some(v) => drop(obj.insert((*last).to_owned(), v)),
        None => drop(obj.remove(*last)),
    }
    let result = serde_json::from_str::<T>(&root.to_string());
    assert!(result.is_err(), "{what} accepted");
}

#[test]
fn wrong_or_missing_fields_are_errors() {
    type Signup = Envelope<UserSignedUp>;
    rejects::<Signup>(USER_SIGNED_UP, &["data", "email"], None);
    rejects::<Signup>(USER_SIGNED_UP, &["data", "user_id"], Some(json!(7)));
    rejects::<Signup>(USER_SIGNED_UP, &["timestamp"], Some(json!("yesterday")));
    rejects::<Signup>(USER_SIGNED_UP, &["id"], None);
    rejects::<Signup>(USER_SIGNED_UP, &["type"], None);
    rejects::<Signup>(USER_SIGNED_UP, &["data"], Some(json!(null)));
    let points = Some(json!("1"));
    rejects::<Envelope<ReferralVerified>>(
        REFERRAL_VERIFIED,
        &["data", "points_per_referral"],
        points,
    );
    let count = Some(json!(-1));
    rejects::<Envelope<CampaignMilestoneReached>>(
        CAMPAIGN_MILESTONE_REACHED,
        &["data", "participant_count"],
        count,
    );
    rejects::<Envelope<EmailJob>>(EMAIL_JOB, &["data", "type"], Some(json!("newsletter")));
    rejects::<Envelope<UserCreated>>(USER_CREATED, &["data", "position"], Some(json!(4.5)));
    rejects::<NotificationEvent>(NOTIFICATION, &["channel"], Some(json!("sms")));
    rejects::<NotificationEvent>(NOTIFICATION, &["message_id"], None);
    rejects::<QueueJoined>(QUEUE_JOINED, &["position"], Some(json!("42")));
    rejects::<CheckoutCompleted>(CHECKOUT_COMPLETED, &["tickets"], Some(json!([{"id": "t"}])));
    rejects::<CheckoutExpired>(CHECKOUT_EXPIRED, &["event_id"], None);
    for garbage in ["", "null", "[]", "{", "42", "\"user.signed_up\""] {
        assert!(
            serde_json::from_str::<Envelope<Value>>(garbage).is_err(),
            "{garbage:?}"
        );
        assert!(
            serde_json::from_str::<QueueReady>(garbage).is_err(),
            "{garbage:?}"
        );
    }
}

// ---- constructors ----------------------------------------------------------

/// `Envelope::new` on the payload of an example gives the example's type.
fn new_like_example<D: EventData + Clone + PartialEq + std::fmt::Debug>(json: &str) {
    let example: Envelope<D> = serde_json::from_str(json).expect("decodes");
    let env = Envelope::new("account-1", "campaign-1", example.data.clone());
    assert_eq!(env.event_type, example.event_type);
    assert_eq!(
        (env.account_id.as_str(), env.campaign_id.as_str()),
        ("account-1", "campaign-1")
    );
    assert!(uuid::Uuid::parse_str(&env.id).is_ok(), "id is a UUID");
    let back: Envelope<D> =
        serde_json::from_str(&serde_json::to_string(&env).expect("encodes")).expect("decodes");
    assert_eq!(back, env);
}

#[test]
fn envelope_new_sets_type() {
    for_each_enveloped_example!(new_like_example);
    for kind in EmailKind::ALL {
        let env = Envelope::new("a", "c", EmailJob::new(kind, "c", "u"));
        assert_eq!(env.event_type, format!("job.email.{kind}"));
    }
}
