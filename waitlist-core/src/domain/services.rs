//! Every domain service, built once and shared by the consumer groups.

use std::sync::Arc;

use super::{
    default_email_templates, AnalyticsService, CampaignLock, DomainError, DomainEventPublisher,
    EmailConfig, EmailService, FraudConfig, FraudService, JobProducer, MemoryCampaignLock,
    MilestoneService, PositionService, RewardService, RewardWebhook,
};
use crate::events::Topics;
use crate::providers::EmailProvider;
use crate::publish::EventPublisher;
use crate::store::{
    AnalyticsStore, CampaignStore, EmailLogStore, FraudSignalStore, MemoryStore, Referral,
    ReferralStore, RewardStore, User, UserStore,
};
use crate::templates::{TemplateError, TemplateRenderer};

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

/// The stores the domain services read and write. Each is a trait object,
/// so every one can come from a different backend; [`from_one`](Self::from_one)
/// takes one value that implements them all (a [`MemoryStore`], a database
/// store).
#[derive(Debug, Clone)]
pub struct DomainStores {
    /// Campaigns.
    pub campaigns: Arc<dyn CampaignStore>,
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Referrals.
    pub referrals: Arc<dyn ReferralStore>,
    /// Rewards and user rewards.
    pub rewards: Arc<dyn RewardStore>,
    /// The sent-email log.
    pub email_log: Arc<dyn EmailLogStore>,
    /// Analytics buckets.
    pub analytics: Arc<dyn AnalyticsStore>,
    /// Fraud signals.
    pub signals: Arc<dyn FraudSignalStore>,
}

/// Declares a trait that is exactly the sum of other traits (and `'static`),
/// implemented for every type that implements them all.
macro_rules! trait_sum {
    ($(#[$doc:meta])* $name:ident: $($part:ident),+ $(,)?) => {
        $(#[$doc])*
        pub trait $name: $($part +)* 'static {}

        impl<S> $name for S where S: $($part +)* 'static {}
    };
}

trait_sum!(
    /// A store that implements every store trait of the domain.
    AllStores: CampaignStore, UserStore, ReferralStore, RewardStore, EmailLogStore,
    AnalyticsStore, FraudSignalStore
);

impl DomainStores {
    /// The user, or [`DomainError::NotFound`] (retried: the host may not have
    /// committed it yet).
    ///
    /// # Errors
    /// Not found; store errors.
    pub async fn existing_user(
        &self,
        campaign_id: &str,
        user_id: &str,
    ) -> Result<User, DomainError> {
        self.users
            .user(campaign_id, user_id)
            .await?
            .ok_or_else(|| DomainError::not_found("user", user_id))
    }

    /// The referral, or [`DomainError::NotFound`].
    ///
    /// # Errors
    /// Not found; store errors.
    pub async fn existing_referral(
        &self,
        campaign_id: &str,
        referral_id: &str,
    ) -> Result<Referral, DomainError> {
        self.referrals
            .referral(campaign_id, referral_id)
            .await?
            .ok_or_else(|| DomainError::not_found("referral", referral_id))
    }

    /// Every store from `store`.
    pub fn from_one<S: AllStores>(store: Arc<S>) -> Self {
        Self {
            campaigns: store.clone(),
            users: store.clone(),
            referrals: store.clone(),
            rewards: store.clone(),
            email_log: store.clone(),
            analytics: store.clone(),
            signals: store,
        }
    }
}

/// Builds [`DomainServices`] over any stores: see [`DomainServices::builder`].
#[derive(Debug)]
#[must_use = "call build() to get the services"]
pub struct DomainServicesBuilder {
    stores: DomainStores,
    publisher: EventPublisher,
    email_provider: Arc<dyn EmailProvider>,
    lock: Option<Arc<dyn CampaignLock>>,
    webhook: Option<Arc<dyn RewardWebhook>>,
    templates: Option<Arc<TemplateRenderer>>,
    topics: Topics,
    email: EmailConfig,
    fraud: FraudConfig,
}

impl DomainServicesBuilder {
    /// The campaign lock that serialises position updates (default: an
    /// in-process lock, right for one process only; several processes
    /// sharing a database need a lock of that database).
    pub fn lock(mut self, lock: Arc<dyn CampaignLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    /// Delivers rewards whose method is a webhook.
    pub fn reward_webhook(mut self, webhook: Arc<dyn RewardWebhook>) -> Self {
        self.webhook = Some(webhook);
        self
    }

    /// Email templates (default: the shipped ones).
    pub fn templates(mut self, renderer: Arc<TemplateRenderer>) -> Self {
        self.templates = Some(renderer);
        self
    }

    /// Topics to publish events and jobs to.
    pub fn topics(mut self, topics: Topics) -> Self {
        self.topics = topics;
        self
    }

    /// Email settings.
    pub fn email(mut self, config: EmailConfig) -> Self {
        self.email = config;
        self
    }

    /// Fraud thresholds.
    pub fn fraud(mut self, config: FraudConfig) -> Self {
        self.fraud = config;
        self
    }

    /// The services.
    ///
    /// # Errors
    /// When the default templates are used, never with the shipped ones.
    pub fn build(self) -> Result<DomainServices, TemplateError> {
        let st = self.stores;
        let events =
            DomainEventPublisher::new(self.publisher.clone()).with_topic(&self.topics.domain);
        let jobs = JobProducer::new(self.publisher).with_topic(&self.topics.jobs);
        let renderer = match self.templates {
            Some(r) => r,
            None => Arc::new(default_email_templates()?),
        };
        let email = Arc::new(EmailService::new(
            Arc::clone(&st.users),
            Arc::clone(&st.email_log),
            self.email_provider,
            renderer,
            self.email,
        ));
        let mut rewards =
            RewardService::new(&st, Arc::clone(&email)).with_publisher(events.clone());
        if let Some(webhook) = self.webhook {
            rewards = rewards.with_webhook(webhook);
        }
        let lock = self
            .lock
            .unwrap_or_else(|| Arc::new(MemoryCampaignLock::new()));
        Ok(DomainServices {
            positions: Arc::new(PositionService::new(&st, lock)),
            fraud: Arc::new(FraudService::new(&st, self.fraud)),
            rewards: Arc::new(rewards),
            email,
            milestones: Arc::new(MilestoneService::new(&st, events.clone())),
            analytics: Arc::new(AnalyticsService::new(&st)),
            campaigns: st.campaigns,
            users: st.users,
            referrals: st.referrals,
            events,
            jobs,
        })
    }
}

impl DomainServices {
    /// A builder of every service over `stores`, publishing through
    /// `publisher` and sending email through `email_provider`.
    pub fn builder(
        stores: DomainStores,
        publisher: EventPublisher,
        email_provider: Arc<dyn EmailProvider>,
    ) -> DomainServicesBuilder {
        DomainServicesBuilder {
            stores,
            publisher,
            email_provider,
            lock: None,
            webhook: None,
            templates: None,
            topics: Topics::default(),
            email: EmailConfig::default(),
            fraud: FraudConfig::default(),
        }
    }

    /// A builder of every service over one [`MemoryStore`] (a shortcut for
    /// [`builder`](Self::builder) with [`DomainStores::from_one`]); with
    /// nothing else set, [`build`](DomainServicesBuilder::build) gives an
    /// in-process campaign lock and the default email templates.
    pub fn in_memory(
        store: Arc<MemoryStore>,
        publisher: EventPublisher,
        email_provider: Arc<dyn EmailProvider>,
    ) -> DomainServicesBuilder {
        Self::builder(DomainStores::from_one(store), publisher, email_provider)
    }
}
