//! The whole waitlist flow on the in-memory bus.
//!
//! A host service (this `main`) stores users and referrals and publishes the
//! domain events; the four consumer groups of the product documents run the
//! business logic:
//! - `email-workers`: welcome, verification, position-update, reward and
//!   milestone emails (a recording provider stands in for SMTP);
//! - `position-workers` (per-key ordering on `campaign_id`): fraud check,
//!   recount, move the referrer, grant rewards; rank newcomers, milestones;
//! - `reward-workers`: deliver each earned reward exactly once;
//! - `job-workers` on `job-events`: fraud detection and analytics jobs.
//!
//! Run: `cargo run --example local_queue` (`KAFKA_WORKER_POOL_SIZE` sets the
//! pool size of the email, reward and job groups; `RUST_LOG=info` shows the
//! runtime's logs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use waitlist::domain::{start_workers, DomainConfig, DomainServices, RecordingRewardWebhook};
use waitlist::events::{
    AnalyticsAggregateJob, FraudDetectJob, Granularity, ReferralCreated, ReferralVerified,
    RewardDeliveryMethod, UserSignedUp, UserVerified,
};
use waitlist::prelude::*;
use waitlist::providers::RecordingEmailProvider;
use waitlist::store::{
    AnalyticsStore, Campaign, CampaignStore, MemoryStore, Referral, ReferralStore, Reward,
    RewardRule, RewardStore, TimeRange, User, UserStore,
};

const CAMPAIGN: &str = "launch";
const ACCOUNT: &str = "acme";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // RUST_LOG as usual; quiet by default.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();

    // The host's data. The campaign: 2 points per referral, a milestone at 6
    // participants and an "Early access" reward for 2 verified referrals.
    let store = Arc::new(MemoryStore::new());
    let mut campaign = Campaign::new(CAMPAIGN, ACCOUNT);
    campaign.points_per_referral = 2;
    campaign.milestones = vec![6, 1000];
    campaign.owner_email = Some("owner@acme.test".into());
    campaign.reward_rules = vec![RewardRule {
        reward_id: "early".into(),
        verified_referrals: 2,
    }];
    store.save_campaign(campaign).await?;
    store
        .save_reward(Reward {
            id: "early".into(),
            campaign_id: CAMPAIGN.into(),
            name: "Early access".into(),
            method: RewardDeliveryMethod::Email,
            code_prefix: "EARLY".into(),
        })
        .await?;

    // The domain services over that store, publishing on the bus; recording
    // providers stand in for SMTP and the reward webhook.
    let bus = MemoryBus::new();
    let emails = Arc::new(RecordingEmailProvider::new());
    let services = Arc::new(
        DomainServices::in_memory(
            Arc::clone(&store),
            EventPublisher::new(Arc::new(bus.clone())),
            emails.clone(),
        )
        .reward_webhook(Arc::new(RecordingRewardWebhook::new()))
        .build()?,
    );

    let config = DomainConfig {
        retry: RetryPolicy::fixed(50, Duration::from_millis(20)),
        position_wait: Duration::from_millis(20),
        ..DomainConfig::from_env()?
    };
    let queue: Arc<dyn Queue> = Arc::new(bus.clone());
    let workers = start_workers(&services, &config, Arc::clone(&queue)).await?;
    println!("Groups: email-workers, position-workers (per campaign), reward-workers on domain-events; job-workers on job-events");

    // Signups (one with a throw-away address), then verifications.
    let people = [
        ("ann", "ann@example.com"),
        ("bob", "bob@example.com"),
        ("cid", "cid@example.com"),
        ("dan", "dan@example.com"),
        ("fay", "fay@example.com"),
        ("mal", "mal@mailinator.com"),
    ];
    let now = chrono_now();
    for (i, (id, email)) in people.iter().enumerate() {
        let mut user = User::new(CAMPAIGN, *id, *email, now);
        user.signup_ip = Some(format!("203.0.113.{}", i + 1));
        user.device_fingerprint = Some(format!("device-{id}"));
        user.user_agent = Some("Mozilla/5.0 (Macintosh) Safari/605.1.15".into());
        store.insert_user(user).await?;
        let signed_up = UserSignedUp {
            user_id: (*id).into(),
            campaign_id: CAMPAIGN.into(),
            email: (*email).into(),
        };
        services.events.user_signed_up(ACCOUNT, signed_up).await?;
    }
    for (id, email) in &people[..5] {
        store.set_email_verified(CAMPAIGN, id, now).await?;
        let verified = UserVerified {
            user_id: (*id).into(),
            campaign_id: CAMPAIGN.into(),
            email: (*email).into(),
        };
        services.events.user_verified(ACCOUNT, verified).await?;
    }
    wait_for(|| async {
        store
            .users_of(CAMPAIGN)
            .iter()
            .all(|u| u.position.is_some())
    })
    .await?;
    print_positions("Positions after signup", &store);

    // fay refers cid, dan and mal; mal's address is disposable.
    for (n, referred) in ["cid", "dan", "mal"].iter().enumerate() {
        let referral_id = format!("ref-{}", n + 1);
        store
            .insert_referral(Referral::new(CAMPAIGN, &referral_id, "fay", *referred, now))
            .await?;
        let created = ReferralCreated {
            referral_id: referral_id.clone(),
            referrer_id: "fay".into(),
            referred_id: (*referred).into(),
            campaign_id: CAMPAIGN.into(),
        };
        services.events.referral_created(ACCOUNT, created).await?;
        let verified = ReferralVerified {
            referral_id,
            referrer_id: "fay".into(),
            referred_id: (*referred).into(),
            campaign_id: CAMPAIGN.into(),
            points_per_referral: 2,
        };
        services.events.referral_verified(ACCOUNT, verified).await?;
    }
    let job = FraudDetectJob {
        campaign_id: CAMPAIGN.into(),
        user_id: "mal".into(),
        referral_id: Some("ref-3".into()),
    };
    services.jobs.enqueue_fraud_detection(ACCOUNT, job).await?;
    wait_for(|| async {
        emails
            .sent()
            .iter()
            .any(|m| m.subject.starts_with("You earned"))
            && store
                .referral(CAMPAIGN, "ref-3")
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.status != waitlist::store::ReferralStatus::Pending)
    })
    .await?;
    settle(&workers).await;
    print_positions("Positions after referrals", &store);
    for id in ["ref-1", "ref-2", "ref-3"] {
        if let Ok(Some(r)) = store.referral(CAMPAIGN, id).await {
            println!(
                "  referral {id}: {} -> {} is {:?}",
                r.referrer_id, r.referred_id, r.status
            );
        }
    }
    let report = services.fraud.check_referral(CAMPAIGN, "ref-3").await?;
    println!(
        "  fraud report for ref-3: risk {:.2}, decision {:?}",
        report.report.risk_score, report.report.decision
    );
    for check in report.report.flagged() {
        println!("    {:?}: {}", check.check, check.reason);
    }

    // Analytics for the day.
    let job = AnalyticsAggregateJob {
        campaign_id: CAMPAIGN.into(),
        granularity: Granularity::Daily,
        start_time: now,
        end_time: now + waitlist::domain::TimeDelta::seconds(1),
    };
    services
        .jobs
        .enqueue_analytics_aggregation(ACCOUNT, job.clone())
        .await?;
    let range = TimeRange::new(now - waitlist::domain::TimeDelta::days(1), job.end_time);
    wait_for(|| async {
        store
            .buckets(CAMPAIGN, Granularity::Daily, range)
            .await
            .is_ok_and(|b| !b.is_empty())
    })
    .await?;
    settle(&workers).await;

    println!("\nEmails sent ({}):", emails.sent().len());
    for m in emails.sent() {
        println!("  to {:<20} {}", m.to, m.subject);
    }
    println!("\nAnalytics (daily):");
    for b in store.buckets(CAMPAIGN, Granularity::Daily, range).await? {
        println!(
            "  {}: {} signups, {} verifications, {} referrals, {} emails, {} rewards delivered",
            b.start.format("%Y-%m-%d"),
            b.signups,
            b.verifications,
            b.referrals,
            b.emails_sent,
            b.rewards_delivered
        );
    }

    println!("\nWhat each group did (handled / skipped as not theirs / retried / dead-lettered):");
    let mut failed = false;
    for report in workers.shutdown(Duration::from_secs(5)).await {
        let s = &report.stats;
        println!(
            "  {:<17} {:>3} handled  {:>3} skipped  {:>3} retried  {} dead-lettered",
            report.group, s.done, s.skipped, s.retried, s.dead_lettered
        );
        failed |= s.done == 0 || s.dead_lettered > 0;
    }
    if failed {
        return Err("a consumer group handled nothing or dead-lettered events".into());
    }
    Ok(())
}

fn chrono_now() -> waitlist::domain::Timestamp {
    use waitlist::domain::Clock;
    waitlist::domain::SystemClock.now()
}

fn print_positions(title: &str, store: &MemoryStore) {
    println!("\n{title}:");
    for u in store.users_of(CAMPAIGN) {
        println!(
            "  #{:<2} {:<4} (signed up #{}, {} verified referral(s))",
            u.position.unwrap_or(0),
            u.id,
            u.original_position,
            u.verified_referrals
        );
    }
}

async fn wait_for<F, Fut>(mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        if Instant::now() > deadline {
            return Err(Error::Timeout(Duration::from_secs(20)));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

async fn settle(workers: &Workers) {
    let mut quiet = 0;
    while quiet < 5 {
        let busy = workers.groups().iter().any(|g| g.stats().in_flight > 0);
        quiet = if busy { 0 } else { quiet + 1 };
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
