//! Rewards, fraud jobs, email jobs and analytics through the memory transport.

mod domain_support;

use domain_support::{t0, Stack, ACCOUNT, CAMPAIGN, WAIT};
use waitlist::conformance::eventually;
use waitlist::events::{
    AnalyticsAggregateJob, EmailJob, EmailKind, FraudDetectJob, Granularity, RewardDeliverJob,
    RewardDeliveryMethod,
};
use waitlist::providers::ProviderError;
use waitlist::store::{
    AnalyticsStore, Campaign, DeliveryStatus, Reward, RewardRule, RewardStore, TimeRange,
};

fn campaign(method: RewardDeliveryMethod) -> (Campaign, Reward) {
    let mut c = Campaign::new(CAMPAIGN, ACCOUNT);
    c.reward_rules = vec![RewardRule {
        reward_id: "early".into(),
        verified_referrals: 1,
    }];
    let reward = Reward {
        id: "early".into(),
        campaign_id: CAMPAIGN.into(),
        name: "Early access".into(),
        method,
        code_prefix: "EARLY".into(),
    };
    (c, reward)
}

async fn stack_with(method: RewardDeliveryMethod) -> Stack {
    let (c, reward) = campaign(method);
    let stack = Stack::start(c).await;
    stack.store.save_reward(reward).await.expect("reward saved");
    stack.signup_three().await;
    stack
}

const UR: &str = "ur_camp-1_cid_early";

#[tokio::test]
async fn an_earned_reward_is_emailed_with_its_code_exactly_once() {
    let stack = stack_with(RewardDeliveryMethod::Email).await;
    stack.refer("r1", "cid", "bob").await;
    stack.verify("r1", "cid", "bob").await;
    eventually("the reward delivered", WAIT, || async {
        let ur = stack.user_reward(UR).await;
        ur.is_some_and(|u| u.status == DeliveryStatus::Delivered)
    })
    .await;
    // A delivery job for the same reward afterwards does nothing.
    let job = RewardDeliverJob {
        user_reward_id: UR.into(),
        user_id: "cid".into(),
        campaign_id: CAMPAIGN.into(),
        reward_id: "early".into(),
        method: None,
    };
    let jobs = &stack.services.jobs;
    jobs.enqueue_reward_delivery(ACCOUNT, job)
        .await
        .expect("enqueued");
    stack.settle().await;
    let code = stack.user_reward(UR).await.expect("granted").code;
    let reward_emails: Vec<_> = stack
        .emails
        .sent()
        .into_iter()
        .filter(|m| m.to == "cid@example.com" && m.subject == "You earned Early access")
        .collect();
    assert_eq!(reward_emails.len(), 1, "one reward email");
    assert!(
        reward_emails[0].html.contains(&code),
        "the email carries the code"
    );
    assert!(code.starts_with("EARLY-"));
}

#[tokio::test]
async fn a_webhook_reward_is_retried_after_a_transient_failure_and_delivered_once() {
    let stack = stack_with(RewardDeliveryMethod::Webhook).await;
    stack
        .webhook
        .fail_next([ProviderError::Transient("503".into())]);
    stack.refer("r1", "cid", "bob").await;
    stack.verify("r1", "cid", "bob").await;
    eventually("stack.webhook.sent().len() == 1", WAIT, || async {
        stack.webhook.sent().len() == 1
    })
    .await;
    stack.settle().await;
    assert_eq!(stack.webhook.sent().len(), 1);
    let ur = stack.user_reward(UR).await.expect("granted");
    assert_eq!(ur.status, DeliveryStatus::Delivered);
    assert_eq!(ur.attempts, 2, "one failed attempt, one delivery");
}

#[tokio::test]
async fn disposable_email_referral_is_blocked_by_workers_and_fraud_job_and_never_counts() {
    let stack = stack_with(RewardDeliveryMethod::Email).await;
    stack
        .signup("eve", "eve@mailinator.com", "10.0.0.50", "dev-50")
        .await;
    stack.refer("r-eve", "ann", "eve").await;
    // A disposable address alone is 0.9 risk: position-workers block it
    // before counting, and the fraud job agrees.
    stack.verify("r-eve", "ann", "eve").await;
    let job = FraudDetectJob {
        campaign_id: CAMPAIGN.into(),
        user_id: "eve".into(),
        referral_id: Some("r-eve".into()),
    };
    let jobs = &stack.services.jobs;
    jobs.enqueue_fraud_detection(ACCOUNT, job)
        .await
        .expect("enqueued");
    stack.assert_blocked_and_uncounted("r-eve", "ann").await;
}

#[tokio::test]
async fn fraud_service_reports_every_check_with_reasons_and_a_decision() {
    let stack = stack_with(RewardDeliveryMethod::Email).await;
    stack
        .signup("bot", "bot123456@example.com", "10.0.0.1", "dev-77")
        .await;
    let report = stack
        .services
        .fraud
        .check_user(CAMPAIGN, "bot")
        .await
        .expect("checked");
    use waitlist::domain::fraud::CheckKind;
    let fake = report.check(CheckKind::FakeEmail).expect("ran");
    assert!(fake.flagged && fake.reason.contains("digits"), "{fake:?}");
    let ip = report.check(CheckKind::DuplicateIp).expect("ran");
    assert!(
        !ip.flagged,
        "one other user on the IP is under the limit: {ip:?}"
    );
    assert!(report.risk_score > 0.0 && report.risk_score < 0.5);
    assert_eq!(report.decision, waitlist::domain::Decision::Allow);
}

#[tokio::test]
async fn duplicate_email_jobs_are_suppressed_within_the_window() {
    let stack = stack_with(RewardDeliveryMethod::Email).await;
    stack.settle().await;
    let before = stack.emails_to("bob@example.com").len();
    let mut job = EmailJob::new(EmailKind::Verification, CAMPAIGN, "bob");
    job.template_data
        .insert("verify_url".into(), "https://x.test/v?t=<1>".into());
    for _ in 0..3 {
        let jobs = &stack.services.jobs;
        jobs.enqueue_email(ACCOUNT, job.clone())
            .await
            .expect("enqueued");
    }
    stack.wait_for_emails("bob@example.com", before + 1).await;
    stack.settle().await;
    let sent = stack.emails.sent();
    let verification: Vec<_> = sent
        .iter()
        .filter(|m| m.to == "bob@example.com" && m.html.contains("confirm"))
        .collect();
    assert_eq!(verification.len(), 1);
    assert!(
        verification[0].html.contains("t&#x3D;&lt;1&gt;"),
        "escaped: {}",
        verification[0].html
    );
}

#[tokio::test]
async fn analytics_job_writes_hourly_buckets_and_recomputing_is_idempotent() {
    let (c, _) = campaign(RewardDeliveryMethod::Email);
    let stack = Stack::start(c).await;
    for name in ["ann", "bob"] {
        stack
            .signup(name, &format!("{name}@example.com"), name, name)
            .await;
    }
    stack.refer("r1", "ann", "bob").await;
    stack.settle().await;
    let start = t0() - chrono_hours(1);
    let end = t0() + chrono_hours(2);
    let job = AnalyticsAggregateJob {
        campaign_id: CAMPAIGN.into(),
        granularity: Granularity::Hourly,
        start_time: start,
        end_time: end,
    };
    let first = stack
        .services
        .analytics
        .aggregate(&job)
        .await
        .expect("aggregated");
    assert_eq!(first.len(), 3);
    assert_eq!(first[1].start, t0());
    assert_eq!((first[1].signups, first[1].referrals), (2, 1));
    assert_eq!(first[0].signups + first[2].signups, 0);
    let jobs = &stack.services.jobs;
    jobs.enqueue_analytics_aggregation(ACCOUNT, job.clone())
        .await
        .expect("enqueued");
    stack.settle().await;
    let stored = stack
        .store
        .buckets(CAMPAIGN, Granularity::Hourly, TimeRange::new(start, end))
        .await
        .expect("read");
    assert_eq!(stored, first, "recomputing gives the same buckets");
}

fn chrono_hours(h: i64) -> waitlist::domain::TimeDelta {
    waitlist::domain::TimeDelta::hours(h)
}
