//! Positions, referrals, emails and milestones through the memory transport.

mod domain_support;

use domain_support::{Stack, ACCOUNT, CAMPAIGN, WAIT};
use waitlist::conformance::wait_for;
use waitlist::events::PositionRecalculateJob;
use waitlist::prelude::*;
use waitlist::store::Campaign;

fn campaign() -> Campaign {
    let mut c = Campaign::new(CAMPAIGN, ACCOUNT);
    c.points_per_referral = 2;
    c.milestones = vec![3, 100];
    c.owner_email = Some("owner@example.com".into());
    c
}

#[tokio::test]
async fn signups_are_ranked_welcomed_and_announce_the_milestone_once() {
    let stack = Stack::start(campaign()).await;
    stack.signup_three().await;
    stack.wait_for_position("cid", 3).await;
    assert_eq!(stack.user("ann").await.position, Some(1));
    stack.wait_for_emails("cid@example.com", 1).await;
    assert!(stack.emails_to("cid@example.com")[0].contains("Welcome"));
    stack.wait_for_emails("owner@example.com", 1).await;
    // A fourth signup must not announce the 3-participant milestone again.
    stack
        .signup("dan", "dan@example.com", "10.0.0.9", "dev-9")
        .await;
    stack.wait_for_position("dan", 4).await;
    stack.settle().await;
    let owner = stack.emails_to("owner@example.com");
    assert_eq!(owner, vec!["Milestone reached: 3_participants".to_string()]);
}

#[tokio::test]
async fn verified_referral_moves_the_referrer_up_and_emails_the_new_position() {
    let stack = Stack::start(campaign()).await;
    stack.signup_three().await;
    stack.wait_for_position("cid", 3).await;
    stack.refer("r1", "cid", "bob").await;
    stack.verify("r1", "cid", "bob").await;
    // cid: 3 − 1 × 2 = 1 ties ann (1); ties go to the earlier signup (ann).
    stack.wait_for_verified_referrals("cid", 1).await;
    stack.wait_for_position("cid", 2).await;
    assert_eq!(stack.user("bob").await.position, Some(3));
    assert_eq!(stack.user("ann").await.position, Some(1));
    wait_for("cid told of the move to #2", WAIT, || async {
        let emails = stack.emails_to("cid@example.com");
        if emails.iter().any(|s| s == "You moved up to #2") {
            Ok(())
        } else {
            Err(format!("emails: {emails:?}"))
        }
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_referral_verified_counts_once() {
    let stack = Stack::start(campaign()).await;
    stack.signup_three().await;
    stack.refer("r1", "cid", "bob").await;
    let event = Envelope::new(ACCOUNT, CAMPAIGN, Stack::verified_event("r1", "cid", "bob"));
    let publisher = EventPublisher::new(std::sync::Arc::new(stack.bus.clone()));
    for _ in 0..3 {
        publisher
            .publish_event(topics::DOMAIN_EVENTS, &event)
            .await
            .expect("published");
    }
    stack.wait_for_verified_referrals("cid", 1).await;
    stack.settle().await;
    assert_eq!(stack.user("cid").await.verified_referrals, 1);
    assert_eq!(stack.user("cid").await.position, Some(2));
    let updates = stack
        .emails_to("cid@example.com")
        .into_iter()
        .filter(|s| s.starts_with("You moved"))
        .count();
    assert_eq!(updates, 1, "the position email is sent once");
}

#[tokio::test]
async fn self_referral_is_blocked_and_never_counts_toward_positions() {
    let stack = Stack::start(campaign()).await;
    stack.signup_three().await;
    // Same device as cid: a self-referral.
    stack
        .signup("cid2", "cid.alt@example.com", "10.9.9.9", "dev-2")
        .await;
    stack.refer("r-self", "cid", "cid2").await;
    stack.verify("r-self", "cid", "cid2").await;
    stack.assert_blocked_and_uncounted("r-self", "cid").await;
    assert_eq!(stack.user("cid").await.position, Some(3));
    assert!(!stack
        .emails_to("cid@example.com")
        .iter()
        .any(|s| s.starts_with("You moved")));
}

#[tokio::test]
async fn recalculate_job_is_idempotent_and_applies_new_points() {
    let stack = Stack::start(campaign()).await;
    stack.signup_three().await;
    stack.refer("r1", "cid", "bob").await;
    stack.verify("r1", "cid", "bob").await;
    stack.wait_for_position("cid", 2).await;
    // With 5 points per referral cid (3 − 5 = −2) overtakes ann (1).
    let job = PositionRecalculateJob {
        campaign_id: CAMPAIGN.into(),
        points_per_referral: 5,
    };
    for _ in 0..2 {
        let jobs = &stack.services.jobs;
        jobs.enqueue_position_recalculation(ACCOUNT, job.clone())
            .await
            .expect("enqueued");
    }
    stack.wait_for_position("cid", 1).await;
    stack.settle().await;
    let mut got = Vec::new();
    for u in ["ann", "bob", "cid"] {
        got.push(stack.user(u).await.position);
    }
    assert_eq!(got, vec![Some(2), Some(3), Some(1)]);
    // A third run from the same source of truth changes nothing.
    let again = stack
        .services
        .positions
        .recalculate(CAMPAIGN, None)
        .await
        .expect("recalculated");
    assert_eq!(again.users, 3);
    assert_eq!(again.changed, 0, "a third run changes nothing");
}
