//! Typed publishers: one method per domain event and per job kind.

use crate::events::{
    topics, AnalyticsAggregateJob, CampaignMilestoneReached, EmailJob, Envelope, EventData,
    FraudDetectJob, PositionRecalculateJob, ReferralCreated, ReferralVerified, RewardDeliverJob,
    RewardEarned, UserSignedUp, UserVerified,
};
use crate::publish::EventPublisher;

/// Why an event or job was not published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The event could not be encoded (a bug, never transient).
    #[error("could not encode {event_type}: {source}")]
    Encode {
        /// Envelope type.
        event_type: &'static str,
        /// Encoder error.
        source: serde_json::Error,
    },
    /// The transport refused or failed.
    #[error("publishing {event_type} to {topic} failed: {source}")]
    Transport {
        /// Envelope type.
        event_type: &'static str,
        /// Topic.
        topic: String,
        /// Transport error.
        source: crate::Error,
    },
}

impl PublishError {
    /// Whether publishing again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            PublishError::Encode { .. } => false,
            PublishError::Transport { source, .. } => source.is_transient(),
        }
    }
}

async fn publish<D: EventData>(
    publisher: &EventPublisher,
    topic: &str,
    account_id: &str,
    campaign_id: &str,
    data: D,
    id: Option<String>,
) -> Result<String, PublishError> {
    let mut event = Envelope::new(account_id, campaign_id, data);
    if let Some(id) = id {
        event.id = id;
    }
    let event_type = event.data.event_type();
    match publisher.publish_event(topic, &event).await {
        Ok(()) => Ok(event.id),
        Err(crate::Error::Codec(source)) => Err(PublishError::Encode { event_type, source }),
        Err(source) => Err(PublishError::Transport {
            event_type,
            topic: topic.to_owned(),
            source,
        }),
    }
}

/// Publishes the domain events of the domain-events document, keyed by
/// `campaign_id`. Every method returns the event id.
///
/// # Errors
/// Every method fails with [`PublishError`]; see [`log_publish_failure`] to
/// log and continue instead.
#[derive(Debug, Clone)]
pub struct DomainEventPublisher {
    publisher: EventPublisher,
    topic: String,
}

impl DomainEventPublisher {
    /// Publishes to [`topics::DOMAIN_EVENTS`].
    pub fn new(publisher: EventPublisher) -> Self {
        Self {
            publisher,
            topic: topics::DOMAIN_EVENTS.to_owned(),
        }
    }

    /// Publishes to `topic` instead.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// The topic events go to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Publishes `user.signed_up`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn user_signed_up(
        &self,
        account_id: &str,
        e: UserSignedUp,
    ) -> Result<String, PublishError> {
        let c = e.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, e, None).await
    }

    /// Publishes `user.verified`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn user_verified(
        &self,
        account_id: &str,
        e: UserVerified,
    ) -> Result<String, PublishError> {
        let c = e.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, e, None).await
    }

    /// Publishes `referral.created`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn referral_created(
        &self,
        account_id: &str,
        e: ReferralCreated,
    ) -> Result<String, PublishError> {
        let c = e.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, e, None).await
    }

    /// Publishes `referral.verified`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn referral_verified(
        &self,
        account_id: &str,
        e: ReferralVerified,
    ) -> Result<String, PublishError> {
        let c = e.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, e, None).await
    }

    /// Publishes `reward.earned`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn reward_earned(
        &self,
        account_id: &str,
        e: RewardEarned,
    ) -> Result<String, PublishError> {
        let c = e.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, e, None).await
    }

    /// Publishes `campaign.milestone_reached` with the stable event id
    /// `milestone:<campaign_id>:<milestone>`, so consumers deduplicating by
    /// id handle a republished milestone once.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn milestone_reached(
        &self,
        account_id: &str,
        e: CampaignMilestoneReached,
    ) -> Result<String, PublishError> {
        let c = e.campaign_id.clone();
        let milestone = e.milestone.clone();
        publish(
            &self.publisher,
            &self.topic,
            account_id,
            &c,
            e,
            Some(format!("milestone:{c}:{}", milestone)),
        )
        .await
    }
}

/// Enqueues the background jobs of the jobs document, keyed by
/// `campaign_id`. Every method returns the job's event id.
///
/// # Errors
/// Every method fails with [`PublishError`].
#[derive(Debug, Clone)]
pub struct JobProducer {
    publisher: EventPublisher,
    topic: String,
}

impl JobProducer {
    /// Enqueues on [`topics::JOB_EVENTS`].
    pub fn new(publisher: EventPublisher) -> Self {
        Self {
            publisher,
            topic: topics::JOB_EVENTS.to_owned(),
        }
    }

    /// Enqueues on `topic` instead.
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// The topic jobs go to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Enqueues `job.email.<kind>`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn enqueue_email(
        &self,
        account_id: &str,
        job: EmailJob,
    ) -> Result<String, PublishError> {
        let c = job.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, job, None).await
    }

    /// Enqueues `job.position.recalculate`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn enqueue_position_recalculation(
        &self,
        account_id: &str,
        job: PositionRecalculateJob,
    ) -> Result<String, PublishError> {
        let c = job.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, job, None).await
    }

    /// Enqueues `job.reward.deliver`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn enqueue_reward_delivery(
        &self,
        account_id: &str,
        job: RewardDeliverJob,
    ) -> Result<String, PublishError> {
        let c = job.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, job, None).await
    }

    /// Enqueues `job.fraud.detect`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn enqueue_fraud_detection(
        &self,
        account_id: &str,
        job: FraudDetectJob,
    ) -> Result<String, PublishError> {
        let c = job.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, job, None).await
    }

    /// Enqueues `job.analytics.aggregate`.
    ///
    /// # Errors
    /// [`PublishError`].
    pub async fn enqueue_analytics_aggregation(
        &self,
        account_id: &str,
        job: AnalyticsAggregateJob,
    ) -> Result<String, PublishError> {
        let c = job.campaign_id.clone();
        publish(&self.publisher, &self.topic, account_id, &c, job, None).await
    }
}

/// Logs a failed publish at `warn` and continues: `Some(value)` on success,
/// `None` after logging the error.
///
/// For call sites where the user's request must not fail because the event
/// bus is down (the waiting-room document does this after a user joins the
/// queue): the state change is already committed and the event is best-effort.
///
/// ```
/// # use waitlist_core::domain::{log_publish_failure, PublishError};
/// let failed: Result<String, PublishError> = Err(PublishError::Transport {
///     event_type: "user.signed_up",
///     topic: "domain-events".into(),
///     source: waitlist_core::Error::Closed,
/// });
/// assert_eq!(log_publish_failure(failed), None);
/// ```
pub fn log_publish_failure<T>(result: Result<T, PublishError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(%error, transient = error.is_transient(), "publish failed; continuing");
            None
        }
    }
}
