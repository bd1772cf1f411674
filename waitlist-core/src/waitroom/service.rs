//! The waiting room: join, leave, admission to checkout.

use std::sync::Arc;

use chrono::Utc;

use super::{
    CheckoutClaims, CheckoutTokenSigner, QueueEventProducer, QueueStore, Session, SessionStatus,
    SessionStore, TokenError, WaitroomError,
};
use crate::events::{LeaveReason, QueueJoined, QueueLeft, QueueReady};

/// Settings of the waiting room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitroomConfig {
    /// Sessions of one event in checkout at once (default 100).
    pub checkout_slots: usize,
}

impl Default for WaitroomConfig {
    fn default() -> Self {
        Self {
            checkout_slots: 100,
        }
    }
}

/// Builds a [`WaitroomService`]; from [`WaitroomService::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct WaitroomBuilder {
    service: WaitroomService,
}

impl WaitroomBuilder {
    /// Publishes the queue events (`QUEUE_JOINED`, `QUEUE_READY`,
    /// `QUEUE_LEFT`) through `publisher`.
    pub fn publisher(mut self, publisher: crate::publish::EventPublisher) -> Self {
        self.service.producer = Some(QueueEventProducer::new(publisher));
        self
    }

    /// Keeps the sessions in `sessions` instead of the store given first.
    pub fn session_store(mut self, sessions: Arc<dyn SessionStore>) -> Self {
        self.service.sessions = sessions;
        self
    }

    /// Sessions of one event in checkout at once (default 100).
    pub fn checkout_slots(mut self, slots: usize) -> Self {
        self.service.config.checkout_slots = slots;
        self
    }

    /// The waiting room.
    pub fn build(self) -> WaitroomService {
        self.service
    }
}

/// A session that joined and its position (1 for the head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The session as stored after joining (admitted already if a slot was free).
    pub session: Session,
    /// Its position when it joined.
    pub position: u64,
}

/// The waiting room of every ticketed event.
///
/// Publishing failures are logged and never fail the user's request (the
/// state lives in the stores; the events can be rebuilt from it).
#[derive(Debug, Clone)]
pub struct WaitroomService {
    sessions: Arc<dyn SessionStore>,
    queue: Arc<dyn QueueStore>,
    producer: Option<QueueEventProducer>,
    signer: CheckoutTokenSigner,
    config: WaitroomConfig,
}

impl WaitroomService {
    /// Starts a waiting room on `store` (its sessions and its queues),
    /// signing checkout tokens with `signer`; nothing is published until
    /// [`WaitroomBuilder::publisher`] is set.
    pub fn builder<S>(store: Arc<S>, signer: CheckoutTokenSigner) -> WaitroomBuilder
    where
        S: SessionStore + QueueStore + 'static,
    {
        WaitroomBuilder {
            service: Self {
                sessions: store.clone(),
                queue: store,
                producer: None,
                signer,
                config: WaitroomConfig::default(),
            },
        }
    }

    /// The session store.
    pub fn sessions(&self) -> &Arc<dyn SessionStore> {
        &self.sessions
    }

    /// The queue store.
    pub fn queue(&self) -> &Arc<dyn QueueStore> {
        &self.queue
    }

    /// Puts `user_id` in the queue of `event_id`, publishes `QUEUE_JOINED`
    /// and admits whoever a free slot allows.
    ///
    /// # Errors
    /// Store errors only; publishing and admission errors are logged.
    pub async fn join(&self, user_id: &str, event_id: &str) -> Result<Joined, WaitroomError> {
        let session = Session::new(user_id, event_id);
        self.sessions.insert(session.clone()).await?;
        let position = self.queue.enqueue(event_id, &session.id).await?;
        if let Some(producer) = &self.producer {
            let event = QueueJoined {
                session_id: session.id.clone(),
                user_id: user_id.to_owned(),
                event_id: event_id.to_owned(),
                position: i64::try_from(position).unwrap_or(i64::MAX),
                joined_at: session.queued_at,
                timestamp: Utc::now(),
            };
            if let Err(error) = producer.publish_queue_joined(&event).await {
                tracing::error!(session_id = %session.id, %error, "failed to publish QUEUE_JOINED");
            }
        }
        if let Err(error) = self.admit(event_id).await {
            tracing::error!(%event_id, %error, "admission after join failed");
        }
        let session = self.sessions.get(&session.id).await?;
        Ok(Joined { session, position })
    }

    /// Takes a queued session out of the queue and publishes `QUEUE_LEFT`.
    /// A session that is no longer queued is returned unchanged.
    ///
    /// # Errors
    /// [`WaitroomError::SessionNotFound`] or store errors.
    pub async fn leave(
        &self,
        session_id: &str,
        reason: LeaveReason,
    ) -> Result<Session, WaitroomError> {
        let mut session = self.sessions.get(session_id).await?;
        if session.status != SessionStatus::Queued {
            return Ok(session);
        }
        self.queue.remove(&session.event_id, session_id).await?;
        let now = Utc::now();
        session.status = SessionStatus::Left;
        session.updated_at = now;
        self.sessions.update(&session).await?;
        if let Some(producer) = &self.producer {
            let event = QueueLeft {
                session_id: session.id.clone(),
                user_id: session.user_id.clone(),
                event_id: session.event_id.clone(),
                reason,
                left_at: now,
                timestamp: now,
            };
            if let Err(error) = producer.publish_queue_left(&event).await {
                tracing::error!(%session_id, %error, "failed to publish QUEUE_LEFT");
            }
        }
        Ok(session)
    }

    /// The position of a session in its queue (1 for the head), `None` once
    /// it is no longer queued.
    ///
    /// # Errors
    /// [`WaitroomError::SessionNotFound`] or store errors.
    pub async fn position(&self, session_id: &str) -> Result<Option<u64>, WaitroomError> {
        let session = self.sessions.get(session_id).await?;
        self.queue.position(&session.event_id, session_id).await
    }

    /// Admits queued sessions of `event_id` while checkout slots are free:
    /// each gets a checkout token valid for the checkout window and a
    /// `QUEUE_READY` event. Returns the events of the admitted sessions.
    ///
    /// # Errors
    /// Store errors (sessions admitted before the error stay admitted).
    pub async fn admit(&self, event_id: &str) -> Result<Vec<QueueReady>, WaitroomError> {
        let mut admitted = Vec::new();
        while let Some(session_id) = self
            .queue
            .admit_next(event_id, self.config.checkout_slots)
            .await?
        {
            let mut session = match self.sessions.get(&session_id).await {
                Ok(s) if s.status == SessionStatus::Queued => s,
                Ok(_) | Err(WaitroomError::SessionNotFound(_)) => {
                    tracing::warn!(%session_id, "queued session gone or not waiting; slot freed");
                    self.queue
                        .remove_from_processing(event_id, &session_id)
                        .await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let now = Utc::now();
            let (token, expires_at) =
                self.signer
                    .issue(&session.id, &session.user_id, &session.event_id, now);
            session.status = SessionStatus::Admitted;
            session.admitted_at = Some(now);
            session.expires_at = Some(expires_at);
            session.checkout_token = Some(token.clone());
            session.updated_at = now;
            self.sessions.update(&session).await?;
            let ready = QueueReady {
                session_id: session.id.clone(),
                user_id: session.user_id.clone(),
                event_id: session.event_id.clone(),
                checkout_token: token,
                admitted_at: now,
                expires_at,
                timestamp: Utc::now(),
            };
            if let Some(producer) = &self.producer {
                if let Err(error) = producer.publish_queue_ready(&ready).await {
                    tracing::error!(%session_id, %error, "failed to publish QUEUE_READY");
                }
            }
            tracing::info!(%session_id, %event_id, "admitted to checkout");
            admitted.push(ready);
        }
        Ok(admitted)
    }

    /// Ends the checkout of a session with `status`: frees its slot, saves
    /// the status and admits the next sessions. Safe to repeat.
    ///
    /// # Errors
    /// [`WaitroomError::SessionNotFound`] or store errors.
    pub async fn finish_checkout(
        &self,
        session_id: &str,
        event_id: &str,
        status: SessionStatus,
    ) -> Result<Session, WaitroomError> {
        let mut session = self.sessions.get(session_id).await?;
        self.queue
            .remove_from_processing(event_id, session_id)
            .await?;
        if session.status != status {
            session.status = status;
            session.updated_at = Utc::now();
            self.sessions.update(&session).await?;
        }
        self.admit(event_id).await?;
        Ok(session)
    }

    /// Verifies a checkout token: signed by this waiting room, not expired.
    ///
    /// # Errors
    /// A [`TokenError`] for forged, altered or expired tokens.
    pub fn verify_checkout_token(&self, token: &str) -> Result<CheckoutClaims, TokenError> {
        self.signer.verify(token)
    }
}
