//! The seed envelope every domain, job and webhook event travels in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The JSON envelope of the product documents:
/// `{"id","type","account_id","campaign_id","data","timestamp"}`.
///
/// `D` is the typed payload (`data`); use [`serde_json::Value`] for an event
/// whose type is not known at compile time, or
/// `Box<serde_json::value::RawValue>` to defer decoding the payload.
/// Unknown fields of the envelope are ignored when decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Envelope<D> {
    /// Unique event id (a UUID in the documents); the idempotency key.
    pub id: String,
    /// Event type, e.g. `user.signed_up` or `job.email.verification`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Account the event belongs to; the partition key of webhook events.
    pub account_id: String,
    /// Campaign the event belongs to; the partition key of domain and job events.
    pub campaign_id: String,
    /// The typed payload.
    pub data: D,
    /// When the event happened (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
}

impl<D: EventData> Envelope<D> {
    /// Wraps `data` in a new envelope with a fresh UUID v4 id, the type
    /// [`EventData::event_type`] of `data` and the current time.
    pub fn new(account_id: impl Into<String>, campaign_id: impl Into<String>, data: D) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            event_type: data.event_type().to_owned(),
            account_id: account_id.into(),
            campaign_id: campaign_id.into(),
            data,
            timestamp: Utc::now(),
        }
    }
}

/// A typed payload that travels inside an [`Envelope`].
///
/// `TYPES` lists every envelope `type` this payload decodes from (most
/// payloads have exactly one; the email job has one per email kind). The
/// runtime routes a message to a handler of `D` when its envelope type is in
/// `D::TYPES`.
pub trait EventData:
    serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static
{
    /// Every envelope `type` this payload is published under.
    const TYPES: &'static [&'static str];

    /// The envelope field that partitions this event (default
    /// `campaign_id`; webhook events: `account_id`). Publishing keys by it,
    /// whatever function publishes.
    const KEY: KeyField = KeyField::CampaignId;

    /// The campaign the payload names, if it names one
    /// ([`Envelope::for_account`] takes it from here).
    fn campaign_id(&self) -> Option<&str> {
        None
    }

    /// The envelope type of this value (for payloads with several types,
    /// the one that matches the value, e.g. `job.email.welcome`).
    fn event_type(&self) -> &'static str {
        Self::TYPES[0]
    }

    /// The user this event is about, if any (recorded on tracing spans).
    fn user_id(&self) -> Option<&str> {
        None
    }

    /// The tracing span the runtime runs this event's handler in (by
    /// default its `user_id`); override to trace other fields.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("waitlist.event", user_id = self.user_id())
    }
}

/// Which envelope field partitions an event on the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    /// `campaign_id`: domain events and jobs.
    CampaignId,
    /// `account_id`: webhook events.
    AccountId,
}

impl<D: EventData> Envelope<D> {
    /// An envelope for `account_id` whose `campaign_id` is the one the
    /// payload names (empty when it names none).
    pub fn for_account(account_id: impl Into<String>, data: D) -> Self {
        let campaign = data.campaign_id().unwrap_or_default().to_owned();
        Self::new(account_id, campaign, data)
    }

    /// The partition key: the field [`EventData::KEY`] names.
    pub fn partition_key(&self) -> &str {
        match D::KEY {
            KeyField::CampaignId => &self.campaign_id,
            KeyField::AccountId => &self.account_id,
        }
    }

    /// The tracing span the runtime runs this event's handler in: the
    /// envelope's `campaign_id` and the payload's `user_id`.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "waitlist.event",
            campaign_id = %self.campaign_id,
            user_id = self.data.user_id()
        )
    }
}

/// An event that travels as flat JSON, one topic per type (the waiting-room
/// events and the notification events).
pub trait FlatEvent:
    serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static
{
    /// The event type; for waiting-room events also the topic name.
    const TYPE: &'static str;

    /// The partition key of this event (`event_id` for waiting-room events).
    fn partition_key(&self) -> Option<&str>;

    /// The id the runtime deduplicates on, if the event carries one.
    fn idempotency_id(&self) -> Option<&str> {
        None
    }

    /// The user this event is about, if any (recorded on tracing spans).
    fn user_id(&self) -> Option<&str> {
        None
    }

    /// The tracing span the runtime runs this event's handler in (by
    /// default its `user_id`); override to trace other fields.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("waitlist.event", user_id = self.user_id())
    }
}
