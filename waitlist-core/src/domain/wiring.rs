//! The consumer groups of the product documents, ready to start.
//!
//! | Group | Topic | Handles | Workers | Ordering |
//! |---|---|---|---|---|
//! | `email-workers` | domain | `user.signed_up` → welcome, `user.verified` → verification confirmation, `referral.verified` → position update to the referrer, `reward.earned` → reward email, `campaign.milestone_reached` → announcement to the campaign owner | 10 | none |
//! | `position-workers` | domain | `referral.verified` → fraud check, recount, move, grant rewards; `user.signed_up` → rank the newcomer, check milestones | 1 | per `campaign_id` |
//! | `reward-workers` | domain | `reward.earned` → deliver by email or webhook | 10 | none |
//! | `job-workers` | jobs | `job.email.*`, `job.position.recalculate`, `job.reward.deliver`, `job.fraud.detect`, `job.analytics.aggregate` | 10 | none |
//!
//! Defaults follow the documents (`position-workers` runs 1 worker, as the
//! domain-events document fixes; with per-key ordering on `campaign_id` and
//! the campaign lock it is safe to raise). The position update email waits
//! (retries) until `position-workers` has counted the referral, so it shows
//! the new position.

use std::sync::Arc;
use std::time::Duration;

use super::{DomainError, DomainServices, EmailRequest, Recipient, RewardDelivery};
use crate::events::groups;
use crate::events::topics::{self, InvalidEnv};
use crate::events::{
    AnalyticsAggregateJob, CampaignMilestoneReached, EmailJob, EmailKind, Envelope, FraudDetectJob,
    PositionRecalculateJob, ReferralVerified, RewardDeliverJob, RewardEarned, Topics, UserSignedUp,
    UserVerified,
};
use crate::runtime::{
    ConsumerGroup, Context, IdempotencyStore, IntoOutcome, Outcome, RetryPolicy, Router, Workers,
};
use crate::store::ReferralStatus;
use crate::transport::OrderingGuarantee;
use crate::Queue;

/// Topics, group names, pool sizes and retry settings of the domain groups
/// (defaults in brackets).
#[derive(Debug, Clone)]
pub struct DomainConfig {
    /// \[`domain-events`, `job-events`\]
    pub topics: Topics,
    /// \[`email-workers`\]
    pub email_group: String,
    /// \[`position-workers`\]
    pub position_group: String,
    /// \[`reward-workers`\]
    pub reward_group: String,
    /// \[`job-workers`\]
    pub job_group: String,
    /// \[10\]
    pub email_workers: usize,
    /// \[1\]
    pub position_workers: usize,
    /// \[10\]
    pub reward_workers: usize,
    /// \[10\]
    pub job_workers: usize,
    /// Retry policy of every group \[[`RetryPolicy::default`]\].
    pub retry: RetryPolicy,
    /// Delay before `email-workers` looks again for a referral the host
    /// has not stored yet \[200 ms\].
    pub position_wait: Duration,
    /// Deduplication of message ids in every group, with its TTL \[none\].
    pub idempotency: Option<(Arc<dyn IdempotencyStore>, Duration)>,
}

impl Default for DomainConfig {
    fn default() -> Self {
        Self {
            topics: Topics::default(),
            email_group: groups::EMAIL_WORKERS.to_owned(),
            position_group: groups::POSITION_WORKERS.to_owned(),
            reward_group: groups::REWARD_WORKERS.to_owned(),
            job_group: groups::JOB_WORKERS.to_owned(),
            email_workers: topics::DEFAULT_WORKER_POOL_SIZE,
            position_workers: 1,
            reward_workers: topics::DEFAULT_WORKER_POOL_SIZE,
            job_workers: topics::DEFAULT_WORKER_POOL_SIZE,
            retry: RetryPolicy::default(),
            position_wait: Duration::from_millis(200),
            idempotency: None,
        }
    }
}

impl DomainConfig {
    /// The defaults overridden by `KAFKA_TOPIC`, `KAFKA_JOB_TOPIC`,
    /// `KAFKA_JOB_CONSUMER_GROUP` and `KAFKA_WORKER_POOL_SIZE` (email, reward
    /// and job groups; `position-workers` keeps 1).
    ///
    /// # Errors
    /// [`InvalidEnv`] for a pool size that is not a positive integer.
    pub fn from_env() -> Result<Self, InvalidEnv> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// [`InvalidEnv`] for a pool size that is not a positive integer.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, InvalidEnv> {
        let pool = topics::worker_pool_size_from_lookup(&lookup)?;
        Ok(Self {
            topics: Topics::from_lookup(&lookup),
            job_group: topics::job_consumer_group_from_lookup(&lookup),
            email_workers: pool,
            reward_workers: pool,
            job_workers: pool,
            ..Self::default()
        })
    }

    fn group(&self, topic: &str, name: &str, workers: usize, router: Router) -> ConsumerGroup {
        let group = ConsumerGroup::new(topic, name, router)
            .workers(workers)
            .retry(self.retry.clone());
        match &self.idempotency {
            Some((store, ttl)) => group.idempotency(Arc::clone(store), *ttl),
            None => group,
        }
    }
}

type S = Arc<DomainServices>;

/// What the handlers of the domain groups share: the services and the
/// settings some handlers need.
#[derive(Debug)]
struct Wired {
    services: S,
    position_wait: Duration,
}

impl std::ops::Deref for Wired {
    type Target = DomainServices;

    fn deref(&self) -> &DomainServices {
        &self.services
    }
}

type W = Arc<Wired>;

fn router(services: &S, config: &DomainConfig) -> crate::runtime::StateRouter<Wired> {
    Router::with_state(Arc::new(Wired {
        services: Arc::clone(services),
        position_wait: config.position_wait,
    }))
}

/// `email-workers`: one email per domain event (see the module table).
pub fn email_workers(services: &S, config: &DomainConfig) -> ConsumerGroup {
    let router = router(services, config)
        .on(welcome_email)
        .on(verification_email)
        .on(position_email)
        .on(reward_email)
        .on(milestone_email);
    config.group(
        &config.topics.domain,
        &config.email_group,
        config.email_workers,
        router.into_router(),
    )
}

async fn welcome_email(w: W, e: Envelope<UserSignedUp>, _: Context) -> Result<(), DomainError> {
    let d = e.data;
    let kind = EmailKind::Welcome;
    w.email
        .send_to_user(
            kind,
            &d.campaign_id,
            &d.user_id,
            "signup",
            Default::default(),
        )
        .await
        .map(drop)
}

async fn verification_email(
    w: W,
    e: Envelope<UserVerified>,
    _: Context,
) -> Result<(), DomainError> {
    let d = e.data;
    let kind = EmailKind::Verification;
    w.email
        .send_to_user(
            kind,
            &d.campaign_id,
            &d.user_id,
            "verified",
            Default::default(),
        )
        .await
        .map(drop)
}

/// The referrer's position-update email when `position-workers` has
/// already counted the referral; otherwise `position-workers` enqueues it
/// as a job once it has (see [`position_email_job`]). Both paths share one
/// dedupe key, so the email goes out once whichever comes first, however
/// long the position backlog.
async fn position_email(w: W, e: Envelope<ReferralVerified>, _: Context) -> Outcome {
    let d = e.data;
    let referral = match w.referrals.referral(&d.campaign_id, &d.referral_id).await {
        Err(e) => return DomainError::from(e).outcome(),
        Ok(None) => {
            return Outcome::retry_after(
                w.position_wait,
                format!("referral {} not stored yet", d.referral_id),
            )
        }
        Ok(Some(r)) => r,
    };
    match referral.status {
        ReferralStatus::Blocked => Outcome::skip("referral blocked by fraud detection"),
        ReferralStatus::Pending => {
            Outcome::skip("not counted yet: position-workers enqueue the email once they count it")
        }
        ReferralStatus::Verified => w
            .email
            .send_to_user(
                EmailKind::PositionUpdate,
                &d.campaign_id,
                &d.referrer_id,
                &d.referral_id,
                Default::default(),
            )
            .await
            .map(drop)
            .into_outcome(),
    }
}

/// The position-update email of a counted referral as a job, with the
/// dedupe key [`position_email`] uses.
fn position_email_job(campaign_id: &str, referrer_id: &str, referral_id: &str) -> EmailJob {
    let kind = EmailKind::PositionUpdate;
    let mut job = EmailJob::new(kind, campaign_id, referrer_id);
    job.template_data.insert(
        "dedupe_key".into(),
        format!("{kind}/{campaign_id}/{referrer_id}/{referral_id}").into(),
    );
    job
}

async fn reward_email(w: W, e: Envelope<RewardEarned>, _: Context) -> Result<(), DomainError> {
    let d = e.data;
    w.rewards
        .send_reward_email(&d.campaign_id, &d.user_reward_id)
        .await
        .map(drop)
}

/// The milestone announcement to the campaign's owner.
async fn milestone_email(w: W, e: Envelope<CampaignMilestoneReached>, _: Context) -> Outcome {
    let d = e.data;
    let owner = match w.campaigns.campaign(&d.campaign_id).await {
        Ok(c) => c.and_then(|c| c.owner_email),
        Err(e) => return DomainError::from(e).outcome(),
    };
    let Some(owner) = owner else {
        return Outcome::skip("campaign has no owner email");
    };
    let mut data = serde_json::Map::new();
    data.insert("milestone".into(), d.milestone.clone().into());
    data.insert("participant_count".into(), d.participant_count.into());
    let request = EmailRequest {
        kind: EmailKind::Milestone,
        dedupe_key: format!("milestone/{}/{}/{owner}", d.campaign_id, d.milestone),
        campaign_id: d.campaign_id,
        to: Recipient::Address(owner),
        data,
        template_id: None,
    };
    w.email.send(request).await.map(drop).into_outcome()
}

/// `position-workers`: per-key ordering on `campaign_id` (see the module table).
pub fn position_workers(services: &S, config: &DomainConfig) -> ConsumerGroup {
    let router = router(services, config)
        .on(count_referral)
        .on(rank_newcomer);
    config
        .group(
            &config.topics.domain,
            &config.position_group,
            config.position_workers,
            router.into_router(),
        )
        .ordering(OrderingGuarantee::PerKey)
}

/// Fraud check, recount, move the referrer, grant rewards.
async fn count_referral(w: W, e: Envelope<ReferralVerified>, _: Context) -> Outcome {
    let account_id = e.account_id;
    let d = e.data;
    match w.fraud.check_referral(&d.campaign_id, &d.referral_id).await {
        Ok(check) if check.report.decision == super::Decision::Block => {
            return Outcome::skip("referral blocked by fraud detection")
        }
        Ok(_) => {}
        Err(e) => return e.outcome(),
    }
    let verified = w
        .positions
        .verify_referral(&d.campaign_id, &d.referral_id, d.points_per_referral)
        .await;
    match verified {
        Ok(super::ReferralVerification::Blocked) => {
            Outcome::skip("referral blocked by fraud detection")
        }
        Ok(super::ReferralVerification::Counted {
            verified_referrals,
            change,
        }) => {
            tracing::info!(campaign_id = %d.campaign_id, user_id = %change.user_id, old = change.old_position, new = change.new_position, "position changed");
            if let Err(e) = w
                .rewards
                .grant_for_referrals(&d.campaign_id, &d.referrer_id, verified_referrals)
                .await
            {
                return e.outcome();
            }
            let job = position_email_job(&d.campaign_id, &d.referrer_id, &d.referral_id);
            w.jobs
                .enqueue_email(&account_id, job)
                .await
                .map(drop)
                .map_err(DomainError::from)
                .into_outcome()
        }
        Err(e) => e.outcome(),
    }
}

/// Ranks a newcomer and checks the campaign's milestones.
async fn rank_newcomer(w: W, e: Envelope<UserSignedUp>, _: Context) -> Result<(), DomainError> {
    let d = e.data;
    w.positions.add_user(&d.campaign_id, &d.user_id).await?;
    w.milestones.check(&d.campaign_id).await.map(drop)
}

fn delivered(result: Result<RewardDelivery, DomainError>) -> Outcome {
    match result {
        Ok(RewardDelivery::InProgress) => {
            Outcome::retry_after(Duration::from_secs(1), "delivery in progress elsewhere")
        }
        other => other.into_outcome(),
    }
}

/// `reward-workers`: delivers each earned reward exactly once.
pub fn reward_workers(services: &S, config: &DomainConfig) -> ConsumerGroup {
    config.group(
        &config.topics.domain,
        &config.reward_group,
        config.reward_workers,
        router(services, config).on(deliver_reward).into_router(),
    )
}

async fn deliver_reward(w: W, e: Envelope<RewardEarned>, _: Context) -> Outcome {
    let d = e.data;
    delivered(
        w.rewards
            .deliver(&d.campaign_id, &d.user_reward_id, None)
            .await,
    )
}

/// `job-workers` on the job topic: routes each `job.*` type to its worker.
pub fn job_workers(services: &S, config: &DomainConfig) -> ConsumerGroup {
    let router = router(services, config)
        .on(email_job)
        .on(recalculate_job)
        .on(reward_job)
        .on(fraud_job)
        .on(analytics_job);
    config.group(
        &config.topics.jobs,
        &config.job_group,
        config.job_workers,
        router.into_router(),
    )
}

async fn email_job(w: W, e: Envelope<EmailJob>, _: Context) -> Result<(), DomainError> {
    let j = e.data;
    let key = match j.template_data.get("dedupe_key").and_then(|v| v.as_str()) {
        Some(k) => k.to_owned(),
        None => format!("{}/{}/{}/job", j.kind, j.campaign_id, j.user_id),
    };
    let request = EmailRequest {
        kind: j.kind,
        campaign_id: j.campaign_id,
        to: Recipient::User(j.user_id),
        dedupe_key: key,
        data: j.template_data,
        template_id: j.template_id,
    };
    w.email.send(request).await.map(drop)
}

async fn recalculate_job(
    w: W,
    e: Envelope<PositionRecalculateJob>,
    _: Context,
) -> Result<(), DomainError> {
    let j = e.data;
    let points = Some(j.points_per_referral);
    w.positions
        .recalculate(&j.campaign_id, points)
        .await
        .map(drop)
}

async fn reward_job(w: W, e: Envelope<RewardDeliverJob>, _: Context) -> Outcome {
    let j = e.data;
    delivered(
        w.rewards
            .deliver(&j.campaign_id, &j.user_reward_id, j.method)
            .await,
    )
}

async fn fraud_job(w: W, e: Envelope<FraudDetectJob>, _: Context) -> Result<(), DomainError> {
    let j = e.data;
    let Some(referral_id) = j.referral_id else {
        return w
            .fraud
            .check_user(&j.campaign_id, &j.user_id)
            .await
            .map(drop);
    };
    let check = w.fraud.check_referral(&j.campaign_id, &referral_id).await?;
    if check.uncounted {
        w.positions
            .refresh_user(&j.campaign_id, &check.referrer_id, 1)
            .await?;
    }
    Ok(())
}

async fn analytics_job(
    w: W,
    e: Envelope<AnalyticsAggregateJob>,
    _: Context,
) -> Result<(), DomainError> {
    w.analytics.aggregate(&e.data).await.map(drop)
}

/// The four groups, in the order email, position, reward, job.
pub fn consumer_groups(services: &S, config: &DomainConfig) -> Vec<ConsumerGroup> {
    vec![
        email_workers(services, config),
        position_workers(services, config),
        reward_workers(services, config),
        job_workers(services, config),
    ]
}

/// Starts the four groups of [`consumer_groups`] on `queue`, one member
/// each; keep the returned [`Workers`] for as long as they should run.
///
/// # Errors
/// If a group cannot subscribe (those already started are stopped).
pub async fn start_workers(
    services: &S,
    config: &DomainConfig,
    queue: Arc<dyn Queue>,
) -> crate::Result<Workers> {
    Workers::start(queue, consumer_groups(services, config)).await
}
