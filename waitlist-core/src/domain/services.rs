//! Every domain service, built once and shared by the consumer groups.

use std::sync::Arc;

use super::{
    default_email_templates, AnalyticsService, DomainEventPublisher, EmailConfig, EmailService,
    FraudConfig, FraudService, JobProducer, MemoryCampaignLock, MilestoneService, PositionService,
    RewardService, RewardWebhook,
};
use crate::events::Topics;
use crate::providers::EmailProvider;
use crate::publish::EventPublisher;
use crate::store::{CampaignStore, MemoryStore, ReferralStore, UserStore};
use crate::templates::TemplateError;

/// The services the consumer groups run, plus the stores they read.
#[derive(Debug, Clone)]
pub struct DomainServices {
    /// Campaign configuration.
    pub campaigns: Arc<dyn CampaignStore>,
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Referrals.
    pub referrals: Arc<dyn ReferralStore>,
    /// Positions.
    pub positions: Arc<PositionService>,
    /// Fraud detection.
    pub fraud: Arc<FraudService>,
    /// Rewards.
    pub rewards: Arc<RewardService>,
    /// Email.
    pub email: Arc<EmailService>,
    /// Milestones.
    pub milestones: Arc<MilestoneService>,
    /// Analytics.
    pub analytics: Arc<AnalyticsService>,
    /// Domain events (for the host service and the handlers).
    pub events: DomainEventPublisher,
    /// Jobs.
    pub jobs: JobProducer,
}

/// Options of [`DomainServices::in_memory`].
#[derive(Debug, Clone, Default)]
pub struct InMemoryOptions {
    /// Topics to publish events and jobs to.
    pub topics: Topics,
    /// Email settings.
    pub email: EmailConfig,
    /// Fraud thresholds.
    pub fraud: FraudConfig,
}

impl DomainServices {
    /// Every service over one [`MemoryStore`], an in-process campaign lock
    /// and the default email templates.
    ///
    /// # Errors
    /// Never with the shipped templates.
    pub fn in_memory(
        store: Arc<MemoryStore>,
        publisher: EventPublisher,
        email_provider: Arc<dyn EmailProvider>,
        webhook: Option<Arc<dyn RewardWebhook>>,
        options: InMemoryOptions,
    ) -> Result<Self, TemplateError> {
        let events =
            DomainEventPublisher::new(publisher.clone()).with_topic(&options.topics.domain);
        let jobs = JobProducer::new(publisher).with_topic(&options.topics.jobs);
        let renderer = Arc::new(default_email_templates()?);
        let email = Arc::new(EmailService::new(
            store.clone(),
            store.clone(),
            email_provider,
            renderer,
            options.email,
        ));
        let mut rewards = RewardService::new(store.clone(), store.clone(), Arc::clone(&email))
            .with_publisher(events.clone());
        if let Some(webhook) = webhook {
            rewards = rewards.with_webhook(webhook);
        }
        Ok(Self {
            campaigns: store.clone(),
            users: store.clone(),
            referrals: store.clone(),
            positions: Arc::new(PositionService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                Arc::new(MemoryCampaignLock::new()),
            )),
            fraud: Arc::new(FraudService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                options.fraud,
            )),
            rewards: Arc::new(rewards),
            email,
            milestones: Arc::new(MilestoneService::new(
                store.clone(),
                store.clone(),
                events.clone(),
            )),
            analytics: Arc::new(AnalyticsService::new(
                store.clone(),
                store.clone(),
                store.clone(),
                store.clone(),
                store,
            )),
            events,
            jobs,
        })
    }
}
