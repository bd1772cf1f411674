//! Every JSON example of the product documents decodes into its typed event
//! and re-encodes to the same JSON.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use waitlist_core::events::*;

/// Decodes `json` as `T`, re-encodes it and asserts the result equals `json`
/// (as JSON values); returns the decoded event.
fn roundtrip<T: Serialize + DeserializeOwned>(json: &str) -> T {
    let original: Value = serde_json::from_str(json).expect("example is JSON");
    let decoded: T = serde_json::from_str(json).expect("example decodes");
    let encoded = serde_json::to_value(&decoded).expect("event encodes");
    assert_eq!(encoded, original, "re-encoded event differs from the example");
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
            t.as_object_mut().expect("ticket").insert("gate".into(), json!(7));
        }
    }
    value.to_string()
}

// ---- 001: domain events ----------------------------------------------------

const USER_SIGNED_UP: &str = r#"{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "type": "user.signed_up",
  "account_id": "campaign-uuid",
  "campaign_id": "campaign-uuid",
  "data": {
    "user_id": "user-uuid",
    "campaign_id": "campaign-uuid",
    "email": "user@example.com"
  },
  "timestamp": "2025-01-01T12:00:00Z"
}"#;

const USER_VERIFIED: &str = r#"{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "type": "user.verified",
  "account_id": "campaign-uuid",
  "campaign_id": "campaign-uuid",
  "data": {
    "user_id": "user-uuid",
    "campaign_id": "campaign-uuid",
    "email": "user@example.com"
  },
  "timestamp": "2025-01-01T12:00:00Z"
}"#;

const REFERRAL_CREATED: &str = r#"{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "type": "referral.created",
  "account_id": "campaign-uuid",
  "campaign_id": "campaign-uuid",
  "data": {
    "referral_id": "referral-uuid",
    "referrer_id": "user-uuid",
    "referred_id": "user-uuid",
    "campaign_id": "campaign-uuid"
  },
  "timestamp": "2025-01-01T12:00:00Z"
}"#;

const REFERRAL_VERIFIED: &str = r#"{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "type": "referral.verified",
  "account_id": "campaign-uuid",
  "campaign_id": "campaign-uuid",
  "data": {
    "referral_id": "referral-uuid",
    "referrer_id": "user-uuid",
    "referred_id": "user-uuid",
    "campaign_id": "campaign-uuid",
    "points_per_referral": 1
  },
  "timestamp": "2025-01-01T12:00:00Z"
}"#;

const REWARD_EARNED: &str = r#"{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "type": "reward.earned",
  "account_id": "campaign-uuid",
  "campaign_id": "campaign-uuid",
  "data": {
    "user_reward_id": "user-reward-uuid",
    "user_id": "user-uuid",
    "campaign_id": "campaign-uuid",
    "reward_id": "reward-uuid"
  },
  "timestamp": "2025-01-01T12:00:00Z"
}"#;

const CAMPAIGN_MILESTONE_REACHED: &str = r#"{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "type": "campaign.milestone_reached",
  "account_id": "campaign-uuid",
  "campaign_id": "campaign-uuid",
  "data": {
    "campaign_id": "campaign-uuid",
    "milestone": "1000_participants",
    "participant_count": 1000
  },
  "timestamp": "2025-01-01T12:00:00Z"
}"#;

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

#[test]
fn user_signed_up() {
    let env = roundtrip_envelope::<UserSignedUp>(USER_SIGNED_UP);
    assert_eq!(env.id, "550e8400-e29b-41d4-a716-446655440000");
    assert_eq!(env.data.email, "user@example.com");
    assert_eq!(env.data.user_id(), Some("user-uuid"));
    assert_eq!(env.timestamp.to_rfc3339(), "2025-01-01T12:00:00+00:00");
}

#[test]
fn user_verified() {
    let env = roundtrip_envelope::<UserVerified>(USER_VERIFIED);
    assert_eq!(env.data.user_id(), Some("user-uuid"));
}

#[test]
fn referral_created() {
    let env = roundtrip_envelope::<ReferralCreated>(REFERRAL_CREATED);
    assert_eq!(env.data.referral_id, "referral-uuid");
    assert_eq!(env.data.user_id(), Some("user-uuid"));
}

#[test]
fn referral_verified() {
    let env = roundtrip_envelope::<ReferralVerified>(REFERRAL_VERIFIED);
    assert_eq!(env.data.points_per_referral, 1);
    assert_eq!(env.data.user_id(), Some(env.data.referrer_id.as_str()));
}

#[test]
fn reward_earned() {
    let env = roundtrip_envelope::<RewardEarned>(REWARD_EARNED);
    assert_eq!(env.data.user_reward_id, "user-reward-uuid");
    assert_eq!(env.data.user_id(), Some("user-uuid"));
}

#[test]
fn campaign_milestone_reached() {
    let env = roundtrip_envelope::<CampaignMilestoneReached>(CAMPAIGN_MILESTONE_REACHED);
    assert_eq!(env.data.milestone, "1000_participants");
    assert_eq!(env.data.participant_count, 1000);
    assert_eq!(env.data.user_id(), None);
}

// ---- 000: jobs -------------------------------------------------------------

const EMAIL_JOB: &str = r#"{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "type": "job.email.verification",
  "account_id": "campaign-uuid",
  "campaign_id": "campaign-uuid",
  "data": {
    "type": "verification",
    "campaign_id": "campaign-uuid",
    "user_id": "user-uuid",
    "template_id": "template-uuid",
    "template_data": {},
    "priority": 1
  },
  "timestamp": "2025-01-01T12:00:00Z"
}"#;

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
    let names = ["verification", "welcome", "position_update", "reward_earned", "milestone"];
    for (kind, name) in EmailKind::ALL.into_iter().zip(names) {
        let json = EMAIL_JOB
            .replace("job.email.verification", &format!("job.email.{name}"))
            .replace(r#""type": "verification""#, &format!(r#""type": "{name}""#));
        let env = roundtrip_envelope::<EmailJob>(&json);
        assert_eq!(env.data.kind, kind);
        assert_eq!(kind.as_str(), name);
        assert_eq!(env.data.event_type(), format!("job.email.{name}"));
        assert_eq!(email_job_type(kind), kind.job_type());
        assert_eq!(EmailKind::from_job_type(kind.job_type()), Some(kind));
    }
    let types: Vec<&str> = EmailKind::ALL.iter().map(|k| k.job_type()).collect();
    assert_eq!(EmailJob::TYPES, types.as_slice());
    assert_eq!(EmailKind::from_job_type("job.email.unknown"), None);
}

#[test]
fn email_job_defaults() {
    let json = r#"{"type":"welcome","campaign_id":"c","user_id":"u"}"#;
    let job: EmailJob = serde_json::from_str(json).expect("decodes");
    assert_eq!(job, EmailJob::new(EmailKind::Welcome, "c", "u"));
    assert_eq!(
        serde_json::to_value(&job).expect("encodes"),
        json!({"type":"welcome","campaign_id":"c","user_id":"u","template_data":{},"priority":0})
    );
}

#[test]
fn other_jobs() {
    let t = "2025-01-01T12:00:00Z";
    let cases = [
        (PositionRecalculateJob::TYPES, json!({"campaign_id":"c","points_per_referral":1})),
        (FraudDetectJob::TYPES, json!({"campaign_id":"c","user_id":"u"})),
        (FraudDetectJob::TYPES, json!({"campaign_id":"c","user_id":"u","referral_id":"r"})),
        (
            RewardDeliverJob::TYPES,
            json!({"user_reward_id":"ur","user_id":"u","campaign_id":"c","reward_id":"r"}),
        ),
        (
            RewardDeliverJob::TYPES,
            json!({"user_reward_id":"ur","user_id":"u","campaign_id":"c","reward_id":"r","method":"webhook"}),
        ),
        (
            AnalyticsAggregateJob::TYPES,
            json!({"campaign_id":"c","granularity":"daily","start_time":t,"end_time":t}),
        ),
    ];
    for (types, data) in cases {
        let json = json!({"id":"i","type":types[0],"account_id":"a","campaign_id":"c","data":data,"timestamp":t})
            .to_string();
        match types[0] {
            "job.position.recalculate" => drop(roundtrip_envelope::<PositionRecalculateJob>(&json)),
            "job.fraud.detect" => drop(roundtrip_envelope::<FraudDetectJob>(&json)),
            "job.reward.deliver" => drop(roundtrip_envelope::<RewardDeliverJob>(&json)),
            "job.analytics.aggregate" => drop(roundtrip_envelope::<AnalyticsAggregateJob>(&json)),
            other => panic!("unexpected type {other}"),
        }
    }
    assert_eq!(serde_json::to_value(Granularity::Hourly).expect("encodes"), json!("hourly"));
    assert_eq!(serde_json::to_value(RewardDeliveryMethod::Email).expect("encodes"), json!("email"));
}

// ---- 002: webhook events ---------------------------------------------------

const USER_CREATED: &str = r#"{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "type": "user.created",
  "account_id": "account-uuid",
  "campaign_id": "campaign-uuid",
  "data": {
    "user_id": "user-uuid",
    "email": "user@example.com",
    "position": 42
  },
  "timestamp": "2025-01-01T12:00:00Z"
}"#;

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
    let json = REFERRAL_VERIFIED.replace("campaign-uuid\",\n  \"campaign_id", "account-uuid\",\n  \"campaign_id");
    let generic: WebhookEvent = roundtrip(&json);
    assert_eq!(generic.event_type, "referral.verified");
    assert_eq!(generic.account_id, "account-uuid");
}

// ---- 003: notification events ----------------------------------------------

/// The TypeScript object of document 003, as JSON.
const NOTIFICATION: &str = r#"{
  "notification_id": "notif_abc123",
  "message_id": "msg_unique_id",
  "target_user_id": "user_123",
  "channel": "email",
  "template_id": "tmpl_welcome",
  "payload": {
    "user_name": "John Doe",
    "email": "john@example.com"
  },
  "priority": "normal",
  "metadata": {
    "source": "signup_flow"
  }
}"#;

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
    let topics = ["notifications.email", "notifications.whatsapp", "notifications.push"];
    for (channel, topic) in Channel::ALL.into_iter().zip(topics) {
        let json = NOTIFICATION.replace(r#""email","#, &format!(r#""{channel}","#));
        let event: NotificationEvent = roundtrip(&json);
        assert_eq!(event.channel, channel);
        assert_eq!(channel.topic(), topic);
    }
    for priority in ["low", "normal", "high", "urgent"] {
        let json = NOTIFICATION.replace(r#""normal""#, &format!(r#""{priority}""#));
        let event: NotificationEvent = roundtrip(&json);
        assert_eq!(serde_json::to_value(event.priority).expect("encodes"), json!(priority));
    }
}

#[test]
fn notification_defaults() {
    let mut value: Value = serde_json::from_str(NOTIFICATION).expect("JSON");
    let obj = value.as_object_mut().expect("object");
    obj.remove("priority");
    obj.remove("metadata");
    let event: NotificationEvent = serde_json::from_value(value).expect("decodes");
    assert_eq!(event.priority, NotificationPriority::Normal);
    assert!(event.metadata.is_empty());
    let encoded = serde_json::to_value(&event).expect("encodes");
    assert_eq!(encoded["metadata"], json!({}));
    assert_eq!(encoded["priority"], json!("normal"));
}
