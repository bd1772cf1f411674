//! The domain-event flow of the product on the in-memory bus.
//!
//! Publishes sign-ups, verifications, referrals, rewards and milestones for
//! three campaigns to `domain-events`, consumed by the three fan-out groups
//! of the domain-events document:
//! - `email-workers` (10 workers): one email per event it cares about;
//! - `position-workers` (per-key ordering on `campaign_id`): counts verified
//!   referrals per referrer, one campaign at a time;
//! - `reward-workers` (10 workers): delivers earned rewards.
//!
//! Run: `cargo run --example local_queue` (`KAFKA_WORKER_POOL_SIZE` sets the
//! pool size of the email and reward groups; `RUST_LOG=info` shows the
//! runtime's logs).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use waitlist::events::{
    CampaignMilestoneReached, ReferralCreated, ReferralVerified, RewardEarned, UserSignedUp,
    UserVerified,
};
use waitlist::prelude::*;

/// What each group did, for the summary.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    verified_referrals: Mutex<BTreeMap<(String, String), u64>>,
}

impl Log {
    fn say(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }
}

fn email_router(log: &Arc<Log>) -> Router {
    let l = Arc::clone(log);
    let welcome = handler_fn(move |e: Envelope<UserSignedUp>, ctx: Context| {
        let l = Arc::clone(&l);
        async move {
            l.say(format!(
                "email-workers[w{}]: welcome email to {}",
                ctx.worker_id, e.data.email
            ));
            Outcome::Done
        }
    });
    let l = Arc::clone(log);
    let verified = handler_fn(move |e: Envelope<UserVerified>, ctx: Context| {
        let l = Arc::clone(&l);
        async move {
            l.say(format!(
                "email-workers[w{}]: verification confirmed for {}",
                ctx.worker_id, e.data.email
            ));
            Outcome::Done
        }
    });
    let l = Arc::clone(log);
    let referral = handler_fn(move |e: Envelope<ReferralVerified>, ctx: Context| {
        let l = Arc::clone(&l);
        async move {
            l.say(format!(
                "email-workers[w{}]: position update email to referrer {}",
                ctx.worker_id, e.data.referrer_id
            ));
            Outcome::Done
        }
    });
    let l = Arc::clone(log);
    let reward = handler_fn(move |e: Envelope<RewardEarned>, ctx: Context| {
        let l = Arc::clone(&l);
        async move {
            l.say(format!(
                "email-workers[w{}]: reward email to {}",
                ctx.worker_id, e.data.user_id
            ));
            Outcome::Done
        }
    });
    let l = Arc::clone(log);
    let milestone = handler_fn(move |e: Envelope<CampaignMilestoneReached>, ctx: Context| {
        let l = Arc::clone(&l);
        async move {
            l.say(format!(
                "email-workers[w{}]: milestone {} announced for {}",
                ctx.worker_id, e.data.milestone, e.campaign_id
            ));
            Outcome::Done
        }
    });
    Router::new()
        .on(welcome)
        .on(verified)
        .on(referral)
        .on(reward)
        .on(milestone)
}

fn position_router(log: &Arc<Log>) -> Router {
    let l = Arc::clone(log);
    Router::new().on(handler_fn(move |e: Envelope<ReferralVerified>, ctx: Context| {
        let l = Arc::clone(&l);
        async move {
            let count = {
                let mut m = l.verified_referrals.lock().unwrap_or_else(|e| e.into_inner());
                let c = m.entry((e.campaign_id.clone(), e.data.referrer_id.clone())).or_default();
                *c += 1;
                *c
            };
            l.say(format!(
                "position-workers[w{}]: {} in {} now has {count} verified referral(s) × {} point(s)",
                ctx.worker_id, e.data.referrer_id, e.campaign_id, e.data.points_per_referral
            ));
            Outcome::Done
        }
    }))
}

fn reward_router(log: &Arc<Log>) -> Router {
    let l = Arc::clone(log);
    Router::new().on(handler_fn(
        move |e: Envelope<RewardEarned>, ctx: Context| {
            let l = Arc::clone(&l);
            async move {
                l.say(format!(
                    "reward-workers[w{}]: delivered reward {} to {}",
                    ctx.worker_id, e.data.reward_id, e.data.user_id
                ));
                Outcome::Done
            }
        },
    ))
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let bus = MemoryBus::new();
    let queue: Arc<dyn Queue> = Arc::new(bus.clone());
    let publisher = EventPublisher::new(Arc::new(bus.clone()));
    let topic = topics::DOMAIN_EVENTS;
    let log = Arc::new(Log::default());
    let dedupe = Arc::new(MemoryIdempotencyStore::new());
    let ttl = Duration::from_secs(3600);

    let email = ConsumerGroup::new(topic, topics::EMAIL_WORKERS, email_router(&log))
        .workers_from_env()?
        .idempotency(dedupe.clone(), ttl)
        .start(Arc::clone(&queue))
        .await?;
    let positions = ConsumerGroup::new(topic, topics::POSITION_WORKERS, position_router(&log))
        .workers_from_env()?
        .ordering(OrderingGuarantee::PerKey)
        .idempotency(dedupe.clone(), ttl)
        .start(Arc::clone(&queue))
        .await?;
    let rewards = ConsumerGroup::new(topic, topics::REWARD_WORKERS, reward_router(&log))
        .workers_from_env()?
        .idempotency(dedupe, ttl)
        .start(Arc::clone(&queue))
        .await?;

    println!("Consumer groups on {topic}: email-workers, position-workers (per campaign), reward-workers");
    let mut published = 0usize;
    for c in 1..=3 {
        let campaign = format!("campaign-{c}");
        let acct = format!("account-{c}");
        let users: Vec<String> = (1..=4).map(|u| format!("user-{c}-{u}")).collect();
        for u in &users {
            let email = format!("{u}@example.com");
            publisher
                .publish_event(
                    topic,
                    &Envelope::new(
                        &acct,
                        &campaign,
                        UserSignedUp {
                            user_id: u.clone(),
                            campaign_id: campaign.clone(),
                            email: email.clone(),
                        },
                    ),
                )
                .await?;
            publisher
                .publish_event(
                    topic,
                    &Envelope::new(
                        &acct,
                        &campaign,
                        UserVerified {
                            user_id: u.clone(),
                            campaign_id: campaign.clone(),
                            email,
                        },
                    ),
                )
                .await?;
            published += 2;
        }
        // The first user refers the other three.
        for (i, referred) in users.iter().enumerate().skip(1) {
            let referral = ReferralCreated {
                referral_id: format!("ref-{c}-{i}"),
                referrer_id: users[0].clone(),
                referred_id: referred.clone(),
                campaign_id: campaign.clone(),
            };
            publisher
                .publish_event(topic, &Envelope::new(&acct, &campaign, referral))
                .await?;
            let verified = ReferralVerified {
                referral_id: format!("ref-{c}-{i}"),
                referrer_id: users[0].clone(),
                referred_id: referred.clone(),
                campaign_id: campaign.clone(),
                points_per_referral: 1,
            };
            publisher
                .publish_event(topic, &Envelope::new(&acct, &campaign, verified))
                .await?;
            published += 2;
        }
        let reward = RewardEarned {
            user_reward_id: format!("user-reward-{c}"),
            user_id: users[0].clone(),
            campaign_id: campaign.clone(),
            reward_id: "early-access".into(),
        };
        publisher
            .publish_event(topic, &Envelope::new(&acct, &campaign, reward))
            .await?;
        let milestone = CampaignMilestoneReached {
            campaign_id: campaign.clone(),
            milestone: "4_participants".into(),
            participant_count: 4,
        };
        publisher
            .publish_event(topic, &Envelope::new(&acct, &campaign, milestone))
            .await?;
        published += 2;
    }
    println!("Published {published} domain events for 3 campaigns");

    // Every group sees every event: each handles its types and skips the rest.
    let settled = |g: &RunningGroup| {
        let s = g.stats();
        (s.done + s.skipped + s.dead_lettered) as usize
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while [&email, &positions, &rewards]
        .iter()
        .any(|g| settled(g) < published)
    {
        if Instant::now() > deadline {
            return Err(Error::Timeout(Duration::from_secs(30)));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut lines = log.lines.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // Grouped by consumer group, in the order each group handled its events.
    lines.sort_by_key(|l| l.split('[').next().map(str::to_owned));
    for line in &lines {
        println!("  {line}");
    }
    println!("\nSummary (handled / skipped as not theirs / dead-lettered):");
    let mut failed = false;
    for g in [email, positions, rewards] {
        let report = g.shutdown(Duration::from_secs(5)).await;
        let s = &report.stats;
        println!(
            "  {:<17} {:>3} handled  {:>3} skipped  {} dead-lettered",
            report.group, s.done, s.skipped, s.dead_lettered
        );
        failed |= s.done == 0 || s.dead_lettered > 0;
    }
    if failed {
        return Err(Error::Config(
            "a consumer group handled nothing or dead-lettered events".into(),
        ));
    }
    Ok(())
}
