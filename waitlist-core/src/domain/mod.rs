//! The business logic of a referral waitlist: publishers, positions, fraud
//! detection, rewards, analytics, email, milestones, and the consumer groups
//! that run them.
//!
//! Services hold `Arc`s of the [`store`](crate::store) traits and a
//! [`Clock`]; handlers map a [`DomainError`] to an [`Outcome`](crate::runtime::Outcome)
//! (transient → retry, permanent → dead-letter).

pub mod analytics;
mod clock;
mod email;
mod email_templates;
mod error;
pub mod fraud;
mod milestones;
pub mod positions;
mod publisher;
mod rewards;
mod services;
pub mod wiring;

pub use analytics::AnalyticsService;
pub use clock::{Clock, ManualClock, SystemClock, TimeDelta, Timestamp};
pub use email::{EmailConfig, EmailRequest, EmailSend, EmailService, Recipient};
pub use email_templates::{
    default_email_templates, default_template, html_template, subject_template,
};
pub use error::DomainError;
pub use fraud::{Decision, FraudConfig, FraudReport, FraudService};
pub use milestones::{milestone_name, MilestoneService};
pub use positions::{
    CampaignLock, CampaignLockGuard, LockError, MemoryCampaignLock, PositionIndex, PositionService,
    ReferralVerification,
};
pub use publisher::{log_publish_failure, DomainEventPublisher, JobProducer, PublishError};
pub use rewards::{
    RecordingRewardWebhook, RewardDelivery, RewardService, RewardWebhook, RewardWebhookPayload,
};
pub use services::{AllStores, DomainServices, DomainServicesBuilder, DomainStores};
pub use wiring::{
    consumer_groups, email_workers, job_workers, position_workers, reward_workers, start_workers,
    DomainConfig,
};
