//! Queue and session stores of the waiting room.

use std::fmt::Debug;

use async_trait::async_trait;

use super::{Session, WaitroomError};

/// Keeps sessions.
#[async_trait]
pub trait SessionStore: Send + Sync + Debug {
    /// Stores a new session (or replaces one with the same id).
    ///
    /// # Errors
    /// [`WaitroomError::Unavailable`].
    async fn insert(&self, session: Session) -> Result<(), WaitroomError>;

    /// The session `id`.
    ///
    /// # Errors
    /// [`WaitroomError::SessionNotFound`] or [`WaitroomError::Unavailable`].
    async fn get(&self, id: &str) -> Result<Session, WaitroomError>;

    /// Saves a changed session.
    ///
    /// # Errors
    /// [`WaitroomError::SessionNotFound`] or [`WaitroomError::Unavailable`].
    async fn update(&self, session: &Session) -> Result<(), WaitroomError>;
}

/// The queue of each ticketed event (FIFO, with positions) and its
/// processing set (the sessions holding a checkout slot).
///
/// # Contract
/// [`admit_next`](Self::admit_next) is atomic per event: concurrent callers
/// never admit more sessions than there are slots (a Redis implementation
/// does it in one Lua script).
#[async_trait]
pub trait QueueStore: Send + Sync + Debug {
    /// Appends `session_id` to the queue of `event_id`; returns its
    /// position, 1 for the head. Enqueuing a queued session again returns
    /// its current position.
    ///
    /// # Errors
    /// [`WaitroomError::Unavailable`].
    async fn enqueue(&self, event_id: &str, session_id: &str) -> Result<u64, WaitroomError>;

    /// The position of `session_id` (1 for the head), `None` if not queued.
    ///
    /// # Errors
    /// [`WaitroomError::Unavailable`].
    async fn position(
        &self,
        event_id: &str,
        session_id: &str,
    ) -> Result<Option<u64>, WaitroomError>;

    /// Removes `session_id` from the queue; whether it was there.
    ///
    /// # Errors
    /// [`WaitroomError::Unavailable`].
    async fn remove(&self, event_id: &str, session_id: &str) -> Result<bool, WaitroomError>;

    /// Sessions waiting in the queue of `event_id`.
    ///
    /// # Errors
    /// [`WaitroomError::Unavailable`].
    async fn queued(&self, event_id: &str) -> Result<usize, WaitroomError>;

    /// If fewer than `slots` sessions are processing, moves the head of the
    /// queue into the processing set and returns it.
    ///
    /// # Errors
    /// [`WaitroomError::Unavailable`].
    async fn admit_next(
        &self,
        event_id: &str,
        slots: usize,
    ) -> Result<Option<String>, WaitroomError>;

    /// Frees the slot of `session_id`; whether it held one.
    ///
    /// # Errors
    /// [`WaitroomError::Unavailable`].
    async fn remove_from_processing(
        &self,
        event_id: &str,
        session_id: &str,
    ) -> Result<bool, WaitroomError>;

    /// Sessions holding a slot of `event_id`.
    ///
    /// # Errors
    /// [`WaitroomError::Unavailable`].
    async fn processing(&self, event_id: &str) -> Result<Vec<String>, WaitroomError>;
}
