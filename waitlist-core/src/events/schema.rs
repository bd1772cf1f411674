//! The event contract as data: a JSON Schema for every event and job, and an
//! AsyncAPI 3.0 document of the topics, their partition keys and consumer
//! groups (feature `schema`).
//!
//! ```
//! use waitlist_core::events::schema;
//!
//! let signed_up = schema::catalog()
//!     .into_iter()
//!     .find(|e| e.types.contains(&"user.signed_up"))
//!     .expect("listed");
//! assert_eq!(signed_up.topics, ["domain-events"]);
//! assert_eq!(signed_up.schema["properties"]["type"]["enum"][0], "user.signed_up");
//! let doc = schema::asyncapi();
//! assert_eq!(doc["asyncapi"], "3.0.0");
//! ```

use serde_json::{json, Map, Value};

use super::{examples, groups, topics};
use super::{
    AnalyticsAggregateJob, CampaignMilestoneReached, CheckoutCompleted, CheckoutExpired,
    CheckoutFailed, EmailJob, Envelope, EventData, FlatEvent, FraudDetectJob, NotificationEvent,
    PositionRecalculateJob, QueueJoined, QueueLeft, QueueReady, ReferralCreated, ReferralVerified,
    RewardDeliverJob, RewardEarned, UserCreated, UserSignedUp, UserVerified,
};
use crate::Message;

/// How an event travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// In the JSON [`Envelope`]; its `type` names the payload.
    Enveloped,
    /// As a flat JSON object, one topic per type.
    Flat,
}

/// One event or job of the contract.
#[derive(Debug, Clone)]
pub struct EventSchema {
    /// The Rust type, e.g. `UserSignedUp`.
    pub name: &'static str,
    /// The envelope types it decodes from (enveloped), or its flat type.
    pub types: &'static [&'static str],
    /// The topics it is published on (by default).
    pub topics: &'static [&'static str],
    /// The field that is the partition key.
    pub key: &'static str,
    /// The consumer groups of the SDK that read it.
    pub groups: &'static [&'static str],
    /// Its wire shape.
    pub wire: Wire,
    /// The product documents' example message, if they have one
    /// ([`examples`]).
    pub example: Option<&'static str>,
    /// JSON Schema (draft 2020-12) of the whole message as it travels.
    pub schema: Value,
    /// Decodes one message of this event (JSON text) as its typed event and
    /// encodes it for `topic` as the SDK publishes it (id, key, headers).
    pub to_message: fn(topic: &str, json: &str) -> crate::Result<Message>,
}

fn envelope_message<D: EventData>(topic: &str, json: &str) -> crate::Result<Message> {
    let envelope: Envelope<D> = serde_json::from_str(json)?;
    if !D::TYPES.contains(&envelope.event_type.as_str()) {
        return Err(crate::Error::Rejected(crate::Reason::new(format!(
            "type {:?} is not one of {:?}",
            envelope.event_type,
            D::TYPES
        ))));
    }
    Message::from_envelope(topic, &envelope)
}

fn flat_message<E: FlatEvent>(topic: &str, json: &str) -> crate::Result<Message> {
    let event: E = serde_json::from_str(json)?;
    Message::from_flat(topic, &event)
}

/// The groups reading `domain-events`.
const DOMAIN_GROUPS: &[&str] = &[
    groups::EMAIL_WORKERS,
    groups::POSITION_WORKERS,
    groups::REWARD_WORKERS,
];
const NOTIFICATION_TOPICS: &[&str] = &[
    topics::NOTIFICATIONS_EMAIL,
    topics::NOTIFICATIONS_WHATSAPP,
    topics::NOTIFICATIONS_PUSH,
];
const NOTIFICATION_GROUPS: &[&str] = &[
    "notification-workers-email",
    "notification-workers-whatsapp",
    "notification-workers-push",
];

fn enveloped<D: EventData + schemars::JsonSchema>(
    name: &'static str,
    (topic, groups): (&'static [&'static str], &'static [&'static str]),
    example: Option<&'static str>,
) -> EventSchema {
    let mut schema = schema_of::<Envelope<D>>();
    // The envelope's `type` is a string in Rust; in the contract it is one
    // of the payload's types.
    schema["properties"]["type"] = json!({ "type": "string", "enum": D::TYPES });
    EventSchema {
        name,
        types: D::TYPES,
        topics: topic,
        key: match D::KEY {
            super::KeyField::CampaignId => "campaign_id",
            super::KeyField::AccountId => "account_id",
        },
        groups,
        wire: Wire::Enveloped,
        example,
        schema,
        to_message: envelope_message::<D>,
    }
}

fn flat<E: FlatEvent + schemars::JsonSchema>(
    name: &'static str,
    types: &'static [&'static str],
    key: &'static str,
    (topic, groups): (&'static [&'static str], &'static [&'static str]),
    example: &'static str,
) -> EventSchema {
    EventSchema {
        name,
        types,
        topics: topic,
        key,
        groups,
        wire: Wire::Flat,
        example: Some(example),
        schema: schema_of::<E>(),
        to_message: flat_message::<E>,
    }
}

fn schema_of<T: schemars::JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// Every event and job of the contract.
pub fn catalog() -> Vec<EventSchema> {
    use examples as x;
    let domain = (&[topics::DOMAIN_EVENTS][..], DOMAIN_GROUPS);
    let jobs = (&[topics::JOB_EVENTS][..], &[groups::JOB_WORKERS][..]);
    let webhook = (
        &[topics::WEBHOOK_EVENTS][..],
        &[groups::WEBHOOK_CONSUMERS][..],
    );
    let checkout = &["waitroom-service"][..];
    // A waiting-room event: its own topic (its type), keyed by `event_id`,
    // and the documents' example of the same name.
    macro_rules! room {
        ($event:ident, $topic:ident, $groups:expr) => {
            flat::<$event>(
                stringify!($event),
                &[topics::$topic],
                "event_id",
                (&[topics::$topic], $groups),
                x::$topic,
            )
        };
    }
    vec![
        enveloped::<UserSignedUp>("UserSignedUp", domain, Some(x::USER_SIGNED_UP)),
        enveloped::<UserVerified>("UserVerified", domain, Some(x::USER_VERIFIED)),
        enveloped::<ReferralCreated>("ReferralCreated", domain, Some(x::REFERRAL_CREATED)),
        enveloped::<ReferralVerified>("ReferralVerified", domain, Some(x::REFERRAL_VERIFIED)),
        enveloped::<RewardEarned>("RewardEarned", domain, Some(x::REWARD_EARNED)),
        enveloped::<CampaignMilestoneReached>(
            "CampaignMilestoneReached",
            domain,
            Some(x::CAMPAIGN_MILESTONE_REACHED),
        ),
        enveloped::<EmailJob>("EmailJob", jobs, Some(x::EMAIL_JOB)),
        enveloped::<PositionRecalculateJob>("PositionRecalculateJob", jobs, None),
        enveloped::<RewardDeliverJob>("RewardDeliverJob", jobs, None),
        enveloped::<FraudDetectJob>("FraudDetectJob", jobs, None),
        enveloped::<AnalyticsAggregateJob>("AnalyticsAggregateJob", jobs, None),
        enveloped::<UserCreated>("UserCreated", webhook, Some(x::USER_CREATED)),
        flat::<NotificationEvent>(
            "NotificationEvent",
            &["notification"],
            "target_user_id",
            (NOTIFICATION_TOPICS, NOTIFICATION_GROUPS),
            x::NOTIFICATION,
        ),
        room!(QueueJoined, QUEUE_JOINED, &[]),
        room!(QueueLeft, QUEUE_LEFT, &[]),
        room!(QueueReady, QUEUE_READY, &[]),
        room!(CheckoutCompleted, CHECKOUT_COMPLETED, checkout),
        room!(CheckoutFailed, CHECKOUT_FAILED, checkout),
        room!(CheckoutExpired, CHECKOUT_EXPIRED, checkout),
    ]
}

/// The catalog as one JSON document: `{"events": {Name: schema, ...}}`,
/// each schema with its types, topics, key and groups under `x-waitlist`.
pub fn schemas() -> Value {
    let mut events = Map::new();
    for e in catalog() {
        let mut schema = e.schema;
        schema["x-waitlist"] = json!({
            "types": e.types,
            "topics": e.topics,
            "partition_key": e.key,
            "groups": e.groups,
            "wire": match e.wire { Wire::Enveloped => "envelope", Wire::Flat => "flat" },
        });
        events.insert(e.name.to_owned(), schema);
    }
    json!({ "events": events })
}

/// An AsyncAPI 3.0 document: one channel per topic, one message per event
/// type (its payload the event's JSON Schema, its partition key the
/// message's key), a receive operation per consumer group and a send
/// operation per topic.
pub fn asyncapi() -> Value {
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for e in catalog() {
        let mut payload = e.schema.clone();
        if let Some(obj) = payload.as_object_mut() {
            obj.remove("$schema");
        }
        messages.insert(
            e.name.to_owned(),
            json!({
                "name": e.name,
                "title": e.types.join(", "),
                "contentType": "application/json",
                "payload": { "schemaFormat": "application/schema+json;version=draft-2020-12", "schema": payload },
                "bindings": { "kafka": { "key": { "type": "string", "description": format!("the event's `{}`", e.key) } } },
                "x-partition-key": e.key,
            }),
        );
        for topic in e.topics {
            let channel = channels
                .entry((*topic).to_owned())
                .or_insert_with(|| json!({ "address": topic, "messages": {} }));
            channel["messages"][e.name] =
                json!({ "$ref": format!("#/components/messages/{}", e.name) });
            let send = format!("publish.{topic}");
            let op = operations.entry(send).or_insert_with(|| {
                json!({ "action": "send", "channel": { "$ref": format!("#/channels/{topic}") }, "messages": [] })
            });
            push_ref(op, topic, e.name);
            for group in e.groups {
                let id = format!("{group}.{topic}");
                let op = operations.entry(id).or_insert_with(|| {
                    json!({
                        "action": "receive",
                        "channel": { "$ref": format!("#/channels/{topic}") },
                        "messages": [],
                        "x-consumer-group": group,
                    })
                });
                push_ref(op, topic, e.name);
            }
        }
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "waitlist events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Topics, messages, partition keys and consumer groups of the waitlist SDK.",
        },
        "channels": channels,
        "operations": operations,
        "components": { "messages": messages },
    })
}

fn push_ref(operation: &mut Value, topic: &str, message: &str) {
    let r = json!({ "$ref": format!("#/channels/{topic}/messages/{message}") });
    if let Some(list) = operation["messages"].as_array_mut() {
        list.push(r);
    }
}
