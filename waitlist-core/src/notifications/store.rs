//! Notification and template repositories, and an in-memory implementation.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;

use super::{Notification, NotificationStatus, NotificationTemplate};
use crate::sync::lock;

/// A repository could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification store unavailable: {0}")]
pub struct NotificationStoreError(pub String);

/// Keeps notifications and their status.
#[async_trait]
pub trait NotificationStore: Send + Sync + Debug {
    /// The notification `id`, if it exists.
    ///
    /// # Errors
    /// [`NotificationStoreError`] when a retry may succeed.
    async fn get(&self, id: &str) -> Result<Option<Notification>, NotificationStoreError>;

    /// Records `sent` with the provider's id.
    ///
    /// # Errors
    /// [`NotificationStoreError`] when a retry may succeed.
    async fn mark_sent(
        &self,
        id: &str,
        provider_id: Option<&str>,
    ) -> Result<(), NotificationStoreError>;

    /// Records `failed` with the error.
    ///
    /// # Errors
    /// [`NotificationStoreError`] when a retry may succeed.
    async fn mark_failed(&self, id: &str, error: &str) -> Result<(), NotificationStoreError>;
}

/// Keeps notification templates.
#[async_trait]
pub trait TemplateStore: Send + Sync + Debug {
    /// The template `id`, if it exists.
    ///
    /// # Errors
    /// [`NotificationStoreError`] when a retry may succeed.
    async fn template(
        &self,
        id: &str,
    ) -> Result<Option<NotificationTemplate>, NotificationStoreError>;
}

/// In-memory [`NotificationStore`] and [`TemplateStore`].
#[derive(Debug, Default)]
pub struct MemoryNotificationStore {
    notifications: Mutex<HashMap<String, Notification>>,
    templates: Mutex<HashMap<String, NotificationTemplate>>,
}

impl MemoryNotificationStore {
    /// Empty repositories.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a notification.
    pub fn insert(&self, notification: Notification) {
        lock(&self.notifications).insert(notification.id.clone(), notification);
    }

    /// Adds or replaces a template.
    pub fn insert_template(&self, template: NotificationTemplate) {
        lock(&self.templates).insert(template.id.clone(), template);
    }

    /// The notification `id` as stored now.
    pub fn snapshot(&self, id: &str) -> Option<Notification> {
        lock(&self.notifications).get(id).cloned()
    }

    fn set(&self, id: &str, f: impl FnOnce(&mut Notification)) {
        if let Some(n) = lock(&self.notifications).get_mut(id) {
            f(n);
            n.updated_at = Utc::now();
        }
    }
}

#[async_trait]
impl NotificationStore for MemoryNotificationStore {
    async fn get(&self, id: &str) -> Result<Option<Notification>, NotificationStoreError> {
        Ok(self.snapshot(id))
    }

    async fn mark_sent(
        &self,
        id: &str,
        provider_id: Option<&str>,
    ) -> Result<(), NotificationStoreError> {
        self.set(id, |n| {
            n.status = NotificationStatus::Sent;
            n.provider_id = provider_id.map(str::to_owned);
            n.error = None;
        });
        Ok(())
    }

    async fn mark_failed(&self, id: &str, error: &str) -> Result<(), NotificationStoreError> {
        self.set(id, |n| {
            n.status = NotificationStatus::Failed;
            n.error = Some(error.to_owned());
        });
        Ok(())
    }
}

#[async_trait]
impl TemplateStore for MemoryNotificationStore {
    async fn template(
        &self,
        id: &str,
    ) -> Result<Option<NotificationTemplate>, NotificationStoreError> {
        Ok(lock(&self.templates).get(id).cloned())
    }
}
