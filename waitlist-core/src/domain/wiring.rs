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
use crate::events::topics::{self, InvalidEnv};
use crate::events::{
    AnalyticsAggregateJob, CampaignMilestoneReached, EmailJob, EmailKind, Envelope, FraudDetectJob,
    PositionRecalculateJob, ReferralVerified, RewardDeliverJob, RewardEarned, Topics, UserSignedUp,
    UserVerified,
};
use crate::runtime::{
    handler_fn, ConsumerGroup, Context, IdempotencyStore, Outcome, RetryPolicy, Router,
};
use crate::store::ReferralStatus;
use crate::transport::OrderingGuarantee;

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
    /// Delay between checks while the position email waits for
    /// `position-workers` \[200 ms\].
    pub position_wait: Duration,
    /// Deduplication of message ids in every group, with its TTL \[none\].
    pub idempotency: Option<(Arc<dyn IdempotencyStore>, Duration)>,
}

impl Default for DomainConfig {
    fn default() -> Self {
        Self {
            topics: Topics::default(),
            email_group: topics::EMAIL_WORKERS.to_owned(),
            position_group: topics::POSITION_WORKERS.to_owned(),
            reward_group: topics::REWARD_WORKERS.to_owned(),
            job_group: topics::JOB_WORKERS.to_owned(),
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

fn done<T>(result: Result<T, DomainError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Done,
        Err(e) => e.outcome(),
    }
}

type S = Arc<DomainServices>;

/// `email-workers`: one email per domain event (see the module table).
pub fn email_workers(services: &S, config: &DomainConfig) -> ConsumerGroup {
    let s = Arc::clone(services);
    let welcome = handler_fn(move |e: Envelope<UserSignedUp>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            let d = e.data;
            done(
                s.email
                    .send_to_user(
                        EmailKind::Welcome,
                        &d.campaign_id,
                        &d.user_id,
                        "signup",
                        Default::default(),
                    )
                    .await,
            )
        }
    });
    let s = Arc::clone(services);
    let verified = handler_fn(move |e: Envelope<UserVerified>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            let d = e.data;
            done(
                s.email
                    .send_to_user(
                        EmailKind::Verification,
                        &d.campaign_id,
                        &d.user_id,
                        "verified",
                        Default::default(),
                    )
                    .await,
            )
        }
    });
    let s = Arc::clone(services);
    let wait = config.position_wait;
    let position = handler_fn(move |e: Envelope<ReferralVerified>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            let d = e.data;
            match s.referrals.referral(&d.campaign_id, &d.referral_id).await {
                Err(e) => DomainError::from(e).outcome(),
                Ok(None) => {
                    Outcome::retry_after(wait, format!("referral {} not stored yet", d.referral_id))
                }
                Ok(Some(r)) => match r.status {
                    ReferralStatus::Blocked => Outcome::skip("referral blocked by fraud detection"),
                    ReferralStatus::Pending => Outcome::retry_after(
                        wait,
                        "waiting for position-workers to count the referral",
                    ),
                    ReferralStatus::Verified => done(
                        s.email
                            .send_to_user(
                                EmailKind::PositionUpdate,
                                &d.campaign_id,
                                &d.referrer_id,
                                &d.referral_id,
                                Default::default(),
                            )
                            .await,
                    ),
                },
            }
        }
    });
    let s = Arc::clone(services);
    let reward = handler_fn(move |e: Envelope<RewardEarned>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            done(
                s.rewards
                    .send_reward_email(&e.data.campaign_id, &e.data.user_reward_id)
                    .await,
            )
        }
    });
    let s = Arc::clone(services);
    let milestone = handler_fn(move |e: Envelope<CampaignMilestoneReached>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            let d = e.data;
            let owner = match s.campaigns.campaign(&d.campaign_id).await {
                Ok(c) => c.and_then(|c| c.owner_email),
                Err(e) => return DomainError::from(e).outcome(),
            };
            let Some(owner) = owner else {
                return Outcome::skip("campaign has no owner email");
            };
            let mut data = serde_json::Map::new();
            data.insert("milestone".into(), d.milestone.clone().into());
            data.insert("participant_count".into(), d.participant_count.into());
            done(
                s.email
                    .send(EmailRequest {
                        kind: EmailKind::Milestone,
                        dedupe_key: format!("milestone/{}/{}/{owner}", d.campaign_id, d.milestone),
                        campaign_id: d.campaign_id,
                        to: Recipient::Address(owner),
                        data,
                        template_id: None,
                    })
                    .await,
            )
        }
    });
    let router = Router::new()
        .on(welcome)
        .on(verified)
        .on(position)
        .on(reward)
        .on(milestone);
    config.group(
        &config.topics.domain,
        &config.email_group,
        config.email_workers,
        router,
    )
}

/// `position-workers`: per-key ordering on `campaign_id` (see the module table).
pub fn position_workers(services: &S, config: &DomainConfig) -> ConsumerGroup {
    let s = Arc::clone(services);
    let referral = handler_fn(move |e: Envelope<ReferralVerified>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            let d = e.data;
            match s.fraud.check_referral(&d.campaign_id, &d.referral_id).await {
                Ok(check) if check.report.decision == super::Decision::Block => {
                    return Outcome::skip("referral blocked by fraud detection")
                }
                Ok(_) => {}
                Err(e) => return e.outcome(),
            }
            let verified = s
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
                    done(
                        s.rewards
                            .grant_for_referrals(&d.campaign_id, &d.referrer_id, verified_referrals)
                            .await,
                    )
                }
                Err(e) => e.outcome(),
            }
        }
    });
    let s = Arc::clone(services);
    let signup = handler_fn(move |e: Envelope<UserSignedUp>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            let d = e.data;
            if let Err(e) = s.positions.add_user(&d.campaign_id, &d.user_id).await {
                return e.outcome();
            }
            done(s.milestones.check(&d.campaign_id).await)
        }
    });
    let router = Router::new().on(referral).on(signup);
    config
        .group(
            &config.topics.domain,
            &config.position_group,
            config.position_workers,
            router,
        )
        .ordering(OrderingGuarantee::PerKey)
}

fn delivered(result: Result<RewardDelivery, DomainError>) -> Outcome {
    match result {
        Ok(RewardDelivery::InProgress) => {
            Outcome::retry_after(Duration::from_secs(1), "delivery in progress elsewhere")
        }
        other => done(other),
    }
}

/// `reward-workers`: delivers each earned reward exactly once.
pub fn reward_workers(services: &S, config: &DomainConfig) -> ConsumerGroup {
    let s = Arc::clone(services);
    let reward = handler_fn(move |e: Envelope<RewardEarned>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            delivered(
                s.rewards
                    .deliver(&e.data.campaign_id, &e.data.user_reward_id, None)
                    .await,
            )
        }
    });
    config.group(
        &config.topics.domain,
        &config.reward_group,
        config.reward_workers,
        Router::new().on(reward),
    )
}

/// `job-workers` on the job topic: routes each `job.*` type to its worker.
pub fn job_workers(services: &S, config: &DomainConfig) -> ConsumerGroup {
    let s = Arc::clone(services);
    let email = handler_fn(move |e: Envelope<EmailJob>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            let j = e.data;
            let key = match j.template_data.get("dedupe_key").and_then(|v| v.as_str()) {
                Some(k) => k.to_owned(),
                None => format!("{}/{}/{}/job", j.kind, j.campaign_id, j.user_id),
            };
            done(
                s.email
                    .send(EmailRequest {
                        kind: j.kind,
                        campaign_id: j.campaign_id,
                        to: Recipient::User(j.user_id),
                        dedupe_key: key,
                        data: j.template_data,
                        template_id: j.template_id,
                    })
                    .await,
            )
        }
    });
    let s = Arc::clone(services);
    let recalc = handler_fn(move |e: Envelope<PositionRecalculateJob>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            done(
                s.positions
                    .recalculate(&e.data.campaign_id, Some(e.data.points_per_referral))
                    .await,
            )
        }
    });
    let s = Arc::clone(services);
    let reward = handler_fn(move |e: Envelope<RewardDeliverJob>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            delivered(
                s.rewards
                    .deliver(&e.data.campaign_id, &e.data.user_reward_id, e.data.method)
                    .await,
            )
        }
    });
    let s = Arc::clone(services);
    let fraud = handler_fn(move |e: Envelope<FraudDetectJob>, _: Context| {
        let s = Arc::clone(&s);
        async move {
            let j = e.data;
            let Some(referral_id) = j.referral_id else {
                return done(s.fraud.check_user(&j.campaign_id, &j.user_id).await);
            };
            match s.fraud.check_referral(&j.campaign_id, &referral_id).await {
                Ok(check) if check.uncounted => done(
                    s.positions
                        .refresh_user(&j.campaign_id, &check.referrer_id, 1)
                        .await,
                ),
                other => done(other),
            }
        }
    });
    let s = Arc::clone(services);
    let analytics = handler_fn(move |e: Envelope<AnalyticsAggregateJob>, _: Context| {
        let s = Arc::clone(&s);
        async move { done(s.analytics.aggregate(&e.data).await) }
    });
    let router = Router::new()
        .on(email)
        .on(recalc)
        .on(reward)
        .on(fraud)
        .on(analytics);
    config.group(
        &config.topics.jobs,
        &config.job_group,
        config.job_workers,
        router,
    )
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
