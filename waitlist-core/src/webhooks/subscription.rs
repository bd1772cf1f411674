//! Webhook subscriptions and the store that keeps them.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Mutex;

use async_trait::async_trait;

use super::WebhookSecret;
use crate::sync::lock;

/// Why a webhook store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookStoreError {
    /// The store could not be reached; worth retrying.
    #[error("webhook store unavailable: {0}")]
    Unavailable(String),
}

/// One endpoint of an account that receives webhook events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSubscription {
    /// The subscription id.
    pub id: String,
    /// The account whose events it receives.
    pub account_id: String,
    /// The endpoint URL (http or https).
    pub url: String,
    /// Signing secrets; every one signs each delivery (several during a
    /// rotation). At least one.
    pub secrets: Vec<WebhookSecret>,
    /// Event types it receives (`user.created`, or a prefix such as
    /// `referral.*`); empty means every type.
    pub event_types: Vec<String>,
    /// Whether deliveries are made; cleared when the endpoint is disabled.
    pub active: bool,
    /// Why the endpoint was disabled (410 Gone, too many failures, ...).
    pub disabled_reason: Option<String>,
    /// Failed attempts in a row since the last success.
    pub consecutive_failures: u32,
}

impl WebhookSubscription {
    /// An active subscription to every event type of `account_id`.
    pub fn new(
        id: impl Into<String>,
        account_id: impl Into<String>,
        url: impl Into<String>,
        secret: WebhookSecret,
    ) -> Self {
        Self {
            id: id.into(),
            account_id: account_id.into(),
            url: url.into(),
            secrets: vec![secret],
            event_types: Vec::new(),
            active: true,
            disabled_reason: None,
            consecutive_failures: 0,
        }
    }

    /// Restricts the subscription to these event types (exact, or `prefix.*`).
    pub fn with_event_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.event_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a secret that also signs (for a rotation).
    pub fn with_secret(mut self, secret: WebhookSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Whether this subscription wants events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty()
            || self.event_types.iter().any(|t| {
                t == "*"
                    || t == event_type
                    || t.strip_suffix('*')
                        .is_some_and(|prefix| event_type.starts_with(prefix))
            })
    }
}

/// Keeps webhook subscriptions and their failure counts.
///
/// # Contract
/// `record_failure` and `record_success` are atomic per subscription, so
/// concurrent deliveries count every attempt.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + Debug {
    /// Subscriptions of `account_id`, active or not.
    ///
    /// # Errors
    /// [`WebhookStoreError::Unavailable`].
    async fn for_account(
        &self,
        account_id: &str,
    ) -> Result<Vec<WebhookSubscription>, WebhookStoreError>;

    /// The subscription `id`, if it exists.
    ///
    /// # Errors
    /// [`WebhookStoreError::Unavailable`].
    async fn get(&self, id: &str) -> Result<Option<WebhookSubscription>, WebhookStoreError>;

    /// Resets the failure count after a successful delivery.
    ///
    /// # Errors
    /// [`WebhookStoreError::Unavailable`].
    async fn record_success(&self, id: &str) -> Result<(), WebhookStoreError>;

    /// Counts a failed attempt; returns the failures in a row so far.
    ///
    /// # Errors
    /// [`WebhookStoreError::Unavailable`].
    async fn record_failure(&self, id: &str) -> Result<u32, WebhookStoreError>;

    /// Disables the endpoint with `reason`; no further deliveries are made.
    ///
    /// # Errors
    /// [`WebhookStoreError::Unavailable`].
    async fn disable(&self, id: &str, reason: &str) -> Result<(), WebhookStoreError>;
}

/// In-memory [`SubscriptionStore`].
#[derive(Debug, Default)]
pub struct MemorySubscriptionStore {
    subs: Mutex<BTreeMap<String, WebhookSubscription>>,
}

impl MemorySubscriptionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a subscription.
    pub fn insert(&self, subscription: WebhookSubscription) {
        self.lock().insert(subscription.id.clone(), subscription);
    }

    /// The subscription `id` as stored now.
    pub fn snapshot(&self, id: &str) -> Option<WebhookSubscription> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, WebhookSubscription>> {
        lock(&self.subs)
    }
}

#[async_trait]
impl SubscriptionStore for MemorySubscriptionStore {
    async fn for_account(
        &self,
        account_id: &str,
    ) -> Result<Vec<WebhookSubscription>, WebhookStoreError> {
        Ok(self
            .lock()
            .values()
            .filter(|s| s.account_id == account_id)
            .cloned()
            .collect())
    }

    async fn get(&self, id: &str) -> Result<Option<WebhookSubscription>, WebhookStoreError> {
        Ok(self.snapshot(id))
    }

    async fn record_success(&self, id: &str) -> Result<(), WebhookStoreError> {
        if let Some(s) = self.lock().get_mut(id) {
            s.consecutive_failures = 0;
        }
        Ok(())
    }

    async fn record_failure(&self, id: &str) -> Result<u32, WebhookStoreError> {
        Ok(self.lock().get_mut(id).map_or(0, |s| {
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            s.consecutive_failures
        }))
    }

    async fn disable(&self, id: &str, reason: &str) -> Result<(), WebhookStoreError> {
        if let Some(s) = self.lock().get_mut(id) {
            s.active = false;
            s.disabled_reason = Some(reason.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_exact_prefix_and_everything() {
        let s = WebhookSubscription::new("s", "a", "https://x", WebhookSecret::generate());
        assert!(s.wants("user.created"));
        let s = s.with_event_types(["user.created", "referral.*"]);
        assert!(s.wants("user.created"));
        assert!(s.wants("referral.verified"));
        assert!(!s.wants("user.verified"));
    }
}
