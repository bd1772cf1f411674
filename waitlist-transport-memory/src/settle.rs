//! Settling a delivery of the memory bus.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use waitlist_core::{Headers, Result, Settle};

use crate::group::{Entry, Group};

/// Settles one delivery; redelivers the message if dropped unsettled.
#[derive(Debug)]
pub(crate) struct MemorySettle {
    pub(crate) group: Arc<Group>,
    pub(crate) entry: Option<Entry>,
}

impl MemorySettle {
    fn wake(&self, freed: crate::group::Freed) {
        if freed.space {
            self.group.space.notify_waiters();
        }
        if freed.deliverable {
            self.group.available.notify_waiters();
        }
    }

    fn take(&mut self) -> Result<Entry> {
        // The error is built only when it happens (an eager `ok_or` made
        // one, with its allocation, on every settle).
        self.entry
            .take()
            .ok_or_else(|| waitlist_core::Error::Rejected("delivery already settled".into()))
    }
}

#[async_trait]
impl Settle for MemorySettle {
    async fn ack(&mut self) -> Result<()> {
        let entry = self.take()?;
        let freed = self.group.lock().finish(&self.group, &entry);
        self.wake(freed);
        Ok(())
    }

    async fn nack(&mut self, delay: Option<Duration>, failure: Headers) -> Result<()> {
        let mut entry = self.take()?;
        Arc::make_mut(&mut entry.message).headers.extend(failure);
        let until = delay.filter(|d| !d.is_zero()).map(|d| Instant::now() + d);
        self.group.lock().redeliver(&self.group, entry, until);
        self.group.available.notify_waiters();
        Ok(())
    }

    async fn dead_letter(&mut self, failure: Headers) -> Result<()> {
        let mut entry = self.take()?;
        let freed = {
            let mut state = self.group.lock();
            let freed = state.finish(&self.group, &entry);
            Arc::make_mut(&mut entry.message).headers.extend(failure);
            state.dead.push_back(Arc::unwrap_or_clone(entry.message));
            freed
        };
        self.wake(freed);
        Ok(())
    }
}

impl Drop for MemorySettle {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            tracing::debug!(id = %entry.message.id, topic = %self.group.topic, group = %self.group.name, "unsettled delivery dropped; redelivering");
            self.group.lock().redeliver(&self.group, entry, None);
            self.group.available.notify_waiters();
        }
    }
}
