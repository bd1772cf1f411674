//! Waiting-room sessions and the errors of the waiting room.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Waiting in the queue.
    Queued,
    /// Admitted to checkout (holds a processing slot and a token).
    Admitted,
    /// Checkout completed.
    Completed,
    /// Checkout failed.
    Failed,
    /// Checkout window expired.
    Expired,
    /// Left the queue before admission.
    Left,
}

impl SessionStatus {
    /// Whether the session is over (completed, failed, expired or left).
    pub fn is_final(self) -> bool {
        !matches!(self, SessionStatus::Queued | SessionStatus::Admitted)
    }
}

/// One user's place in the waiting room of one ticketed event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session id (a UUID).
    pub id: String,
    /// The user.
    pub user_id: String,
    /// The ticketed event.
    pub event_id: String,
    /// Where it stands.
    pub status: SessionStatus,
    /// When it joined the queue.
    pub queued_at: DateTime<Utc>,
    /// When it was admitted to checkout.
    pub admitted_at: Option<DateTime<Utc>>,
    /// When its checkout window closes.
    pub expires_at: Option<DateTime<Utc>>,
    /// Its checkout token once admitted (also sent in `QUEUE_READY`), so
    /// the API can hand it out even if that event was not published.
    pub checkout_token: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Session {
    /// A new queued session of `user_id` for `event_id`, with a fresh id.
    pub fn new(user_id: impl Into<String>, event_id: impl Into<String>) -> Self {
        let now = Utc::now();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.into(),
            event_id: event_id.into(),
            status: SessionStatus::Queued,
            queued_at: now,
            admitted_at: None,
            expires_at: None,
            checkout_token: None,
            updated_at: now,
        }
    }
}

/// What went wrong in the waiting room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitroomError {
    /// No such session (it may have expired): consumers log and skip.
    #[error("session {0} not found")]
    SessionNotFound(String),
    /// A store could not be reached; worth retrying.
    #[error("waiting-room store unavailable: {0}")]
    Unavailable(String),
    /// Releasing tickets to the inventory failed; worth retrying.
    #[error("inventory: {0}")]
    Inventory(String),
}
