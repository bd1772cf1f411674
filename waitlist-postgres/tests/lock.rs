//! PgCampaignLock: one holder per campaign across pools (processes).

mod support;

use std::time::Duration;

use waitlist_core::domain::CampaignLock;

use support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn advisory_lock_excludes_a_second_holder_until_the_guard_drops() {
    let Some(db) = TestDb::new("advisory_lock").await else {
        return;
    };
    let first = db.store.campaign_lock();
    let second = db.second_instance().await.campaign_lock();
    let campaign = format!("lock-{}", uuid::Uuid::new_v4().simple());
    let other = format!("{campaign}-other");

    let held = first.lock(&campaign).await.expect("first lock");
    let mut waiting = {
        let second = second.clone();
        let campaign = campaign.clone();
        tokio::spawn(async move { second.lock(&campaign).await })
    };
    // The second holder is still waiting while the first guard lives...
    let early = tokio::time::timeout(Duration::from_millis(300), &mut waiting).await;
    assert!(
        early.is_err(),
        "same campaign must wait for the first guard"
    );
    // ...while other campaigns do not wait.
    let unrelated = tokio::time::timeout(Duration::from_secs(5), second.lock(&other))
        .await
        .expect("other campaign does not wait")
        .expect("lock");
    drop(unrelated);

    drop(held);
    let taken = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("second holder gets the lock once the guard dropped")
        .expect("task")
        .expect("lock");
    // And now the first instance waits for the second.
    let blocked = tokio::time::timeout(Duration::from_millis(300), first.lock(&campaign)).await;
    assert!(blocked.is_err(), "the lock is exclusive in both directions");
    drop(taken);
    let again = tokio::time::timeout(Duration::from_secs(10), first.lock(&campaign))
        .await
        .expect("free again")
        .expect("lock");
    drop(again);
}
