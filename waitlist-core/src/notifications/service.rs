//! Wiring: one consumer group per channel.

use std::sync::Arc;
use std::time::Duration;

use super::{ChannelSender, NotificationStore, NotificationWorker, TemplateStore};
use crate::events::{Channel, NotificationEvent};
use crate::runtime::{
    ConsumerGroup, IdempotencyStore, MemoryIdempotencyStore, RetryPolicy, Router, Workers,
};
use crate::{Queue, Result};

/// Settings of the notification workers.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationConfig {
    /// Send retries: the first attempt and 3 retries after 2 s, 4 s and 6 s
    /// (`RetryPolicy::linear(4, 2 s)` capped at 60 s), then `failed` and the
    /// dead-letter queue. Permanent provider errors fail at once.
    pub retry: RetryPolicy,
    /// Workers per channel group (10).
    pub workers: usize,
    /// Prefix of the group names: `<prefix>-<channel>` (`notification-workers`).
    pub group_prefix: String,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::linear(4, Duration::from_secs(2))
                .with_max_delay(Duration::from_secs(60)),
            workers: 10,
            group_prefix: "notification-workers".to_owned(),
        }
    }
}

impl NotificationConfig {
    /// The consumer group of `channel`, e.g. `notification-workers-email`.
    pub fn group(&self, channel: Channel) -> String {
        format!("{}-{channel}", self.group_prefix)
    }
}

/// Builds the workers of each channel on shared repositories.
#[derive(Debug, Clone)]
pub struct NotificationService {
    notifications: Arc<dyn NotificationStore>,
    templates: Arc<dyn TemplateStore>,
    idempotency: Arc<dyn IdempotencyStore>,
    config: NotificationConfig,
}

impl NotificationService {
    /// Workers reading `notifications` and `templates`, deduplicating
    /// `message_id`s in memory, with the default [`NotificationConfig`].
    pub fn new(
        notifications: Arc<dyn NotificationStore>,
        templates: Arc<dyn TemplateStore>,
    ) -> Self {
        Self {
            notifications,
            templates,
            idempotency: Arc::new(MemoryIdempotencyStore::new()),
            config: NotificationConfig::default(),
        }
    }

    /// Sets the configuration.
    pub fn with_config(mut self, config: NotificationConfig) -> Self {
        self.config = config;
        self
    }

    /// Deduplicates `message_id`s through `store` (shared by every process
    /// of the group, e.g. on Redis).
    pub fn with_idempotency(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.idempotency = store;
        self
    }

    /// The worker of `sender`'s channel.
    pub fn worker(&self, sender: ChannelSender) -> NotificationWorker {
        NotificationWorker {
            sender,
            notifications: Arc::clone(&self.notifications),
            templates: Arc::clone(&self.templates),
            retry: self.config.retry.clone(),
            idempotency: Arc::clone(&self.idempotency),
        }
    }

    /// The consumer group of `sender`'s channel on `notifications.<channel>`.
    pub fn group(&self, sender: ChannelSender) -> ConsumerGroup {
        let channel = sender.channel();
        let router =
            Router::new().on_topic::<NotificationEvent, _>(channel.topic(), self.worker(sender));
        ConsumerGroup::new(channel.topic(), self.config.group(channel), router)
            .workers(self.config.workers)
            .retry(self.config.retry.clone())
    }

    /// Starts one group per sender.
    ///
    /// # Errors
    /// If subscribing fails (groups already started are stopped).
    pub async fn start(
        &self,
        queue: Arc<dyn Queue>,
        senders: impl IntoIterator<Item = ChannelSender>,
    ) -> Result<Workers> {
        let groups: Vec<ConsumerGroup> = senders.into_iter().map(|s| self.group(s)).collect();
        Workers::start(queue, groups).await
    }
}
