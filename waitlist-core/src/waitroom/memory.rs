//! In-memory queue and session stores.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{QueueStore, Session, SessionStore, WaitroomError};
use crate::sync::lock;

#[derive(Debug, Default)]
struct EventQueue {
    waiting: VecDeque<String>,
    processing: BTreeSet<String>,
}

/// In-memory [`QueueStore`] and [`SessionStore`] (for tests, examples and
/// single-process services).
#[derive(Debug, Default)]
pub struct MemoryWaitroomStore {
    queues: Mutex<HashMap<String, EventQueue>>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl MemoryWaitroomStore {
    /// Empty stores.
    pub fn new() -> Self {
        Self::default()
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<String, EventQueue>> {
        lock(&self.queues)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        lock(&self.sessions)
    }
}

fn position_of(q: &EventQueue, session_id: &str) -> Option<u64> {
    q.waiting
        .iter()
        .position(|s| s == session_id)
        .map(|i| i as u64 + 1)
}

#[async_trait]
impl SessionStore for MemoryWaitroomStore {
    async fn insert(&self, session: Session) -> Result<(), WaitroomError> {
        self.sessions().insert(session.id.clone(), session);
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Session, WaitroomError> {
        self.sessions()
            .get(id)
            .cloned()
            .ok_or_else(|| WaitroomError::SessionNotFound(id.to_owned()))
    }

    async fn update(&self, session: &Session) -> Result<(), WaitroomError> {
        match self.sessions().get_mut(&session.id) {
            Some(stored) => {
                *stored = session.clone();
                Ok(())
            }
            None => Err(WaitroomError::SessionNotFound(session.id.clone())),
        }
    }
}

#[async_trait]
impl QueueStore for MemoryWaitroomStore {
    async fn enqueue(&self, event_id: &str, session_id: &str) -> Result<u64, WaitroomError> {
        let mut queues = self.queues();
        let q = queues.entry(event_id.to_owned()).or_default();
        if let Some(p) = position_of(q, session_id) {
            return Ok(p);
        }
        q.waiting.push_back(session_id.to_owned());
        Ok(q.waiting.len() as u64)
    }

    async fn position(
        &self,
        event_id: &str,
        session_id: &str,
    ) -> Result<Option<u64>, WaitroomError> {
        Ok(self
            .queues()
            .get(event_id)
            .and_then(|q| position_of(q, session_id)))
    }

    async fn remove(&self, event_id: &str, session_id: &str) -> Result<bool, WaitroomError> {
        let mut queues = self.queues();
        let Some(q) = queues.get_mut(event_id) else {
            return Ok(false);
        };
        let before = q.waiting.len();
        q.waiting.retain(|s| s != session_id);
        Ok(q.waiting.len() != before)
    }

    async fn queued(&self, event_id: &str) -> Result<usize, WaitroomError> {
        Ok(self.queues().get(event_id).map_or(0, |q| q.waiting.len()))
    }

    async fn admit_next(
        &self,
        event_id: &str,
        slots: usize,
    ) -> Result<Option<String>, WaitroomError> {
        let mut queues = self.queues();
        let Some(q) = queues.get_mut(event_id) else {
            return Ok(None);
        };
        if q.processing.len() >= slots {
            return Ok(None);
        }
        let next = q.waiting.pop_front();
        if let Some(s) = &next {
            q.processing.insert(s.clone());
        }
        Ok(next)
    }

    async fn remove_from_processing(
        &self,
        event_id: &str,
        session_id: &str,
    ) -> Result<bool, WaitroomError> {
        Ok(self
            .queues()
            .get_mut(event_id)
            .is_some_and(|q| q.processing.remove(session_id)))
    }

    async fn processing(&self, event_id: &str) -> Result<Vec<String>, WaitroomError> {
        Ok(self
            .queues()
            .get(event_id)
            .map(|q| q.processing.iter().cloned().collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_is_fifo_and_admission_respects_slots() {
        let s = MemoryWaitroomStore::new();
        for id in ["a", "b", "c"] {
            s.enqueue("e", id).await.expect("enqueue");
        }
        assert_eq!(s.enqueue("e", "b").await, Ok(2));
        assert_eq!(s.position("e", "c").await, Ok(Some(3)));
        assert_eq!(s.admit_next("e", 2).await, Ok(Some("a".into())));
        assert_eq!(s.admit_next("e", 2).await, Ok(Some("b".into())));
        assert_eq!(s.admit_next("e", 2).await, Ok(None));
        assert_eq!(s.position("e", "c").await, Ok(Some(1)));
        assert_eq!(s.remove_from_processing("e", "a").await, Ok(true));
        assert_eq!(s.admit_next("e", 2).await, Ok(Some("c".into())));
        assert_eq!(s.queued("e").await, Ok(0));
    }
}
