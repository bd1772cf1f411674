//! Two position services sharing one store and one lock (two worker
//! processes on one database): a move made by one must never leave the
//! other with a stale ranking.

use std::sync::Arc;

use waitlist::chrono::Utc;
use waitlist::domain::{CampaignLock, DomainStores, MemoryCampaignLock, PositionService};
use waitlist::prelude::*;
use waitlist::store::{Campaign, MemoryStore, Referral, User};

const CAMPAIGN: &str = "shared";

/// 40 users (`u1` signed up first), 3 points per referral.
async fn campaign_of_forty(store: &Arc<MemoryStore>) {
    let mut campaign = Campaign::new(CAMPAIGN, "acct");
    campaign.points_per_referral = 3;
    store.save_campaign(campaign).await.expect("campaign");
    for i in 1..=40u64 {
        let user = User::new(
            CAMPAIGN,
            format!("u{i}"),
            format!("u{i}@example.com"),
            Utc::now(),
        );
        store.insert_user(user).await.expect("user");
    }
}

/// `service` verifies `n` new referrals made by `referrer`.
async fn verify_referrals(
    service: &PositionService,
    store: &MemoryStore,
    referrer: &str,
    n: usize,
) {
    for k in 0..n {
        let id = format!("{referrer}-r{k}");
        let referral = Referral::new(CAMPAIGN, &id, referrer, format!("{id}-friend"), Utc::now());
        store.insert_referral(referral).await.expect("referral");
        service
            .verify_referral(CAMPAIGN, &id, 3)
            .await
            .expect("verify");
    }
}

/// Every stored position, ordered by user.
async fn stored_positions(store: &MemoryStore) -> Vec<(String, Option<u64>)> {
    let mut standings = store.standings(CAMPAIGN).await.expect("standings");
    standings.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    standings
        .into_iter()
        .map(|s| (s.user_id, s.position))
        .collect()
}

#[tokio::test]
async fn a_move_made_by_another_service_is_seen_before_the_next_move() {
    let store = Arc::new(MemoryStore::new());
    campaign_of_forty(&store).await;
    let stores = DomainStores::from_one(Arc::clone(&store));
    let lock: Arc<dyn CampaignLock> = Arc::new(MemoryCampaignLock::new());
    let a = PositionService::new(&stores, Arc::clone(&lock));
    let b = PositionService::new(&stores, Arc::clone(&lock));
    // Both rank the campaign once (each caches its index).
    a.recalculate(CAMPAIGN, None).await.expect("a ranks");
    b.recalculate(CAMPAIGN, None).await.expect("b ranks");

    verify_referrals(&a, &store, "u40", 10).await;
    verify_referrals(&b, &store, "u20", 2).await;

    let positions = stored_positions(&store).await;
    let mut ranks: Vec<u64> = positions.iter().filter_map(|(_, p)| *p).collect();
    ranks.sort_unstable();
    assert_eq!(
        ranks,
        (1..=40).collect::<Vec<_>>(),
        "positions must be 1..=40 once each: {positions:?}"
    );
    // A third service recalculating from the store changes nothing.
    let fresh = PositionService::new(&stores, lock);
    let report = fresh
        .recalculate(CAMPAIGN, None)
        .await
        .expect("recalculate");
    assert!(
        report.changed.is_empty(),
        "stale positions: {:?}",
        report.changed
    );
}
