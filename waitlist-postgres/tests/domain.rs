//! The domain flow end to end on PostgreSQL: the README's "PostgreSQL
//! stores" example, with a schema of the test's own.

mod support;

use std::sync::Arc;
use std::time::Duration;

use waitlist_core::domain::{start_workers, DomainConfig, DomainServices, DomainStores};
use waitlist_core::events::UserSignedUp;
use waitlist_core::providers::RecordingEmailProvider;
use waitlist_core::publish::EventPublisher;
use waitlist_core::store::{Campaign, CampaignStore, EmailLogStore, User, UserStore};
use waitlist_postgres::PgCampaignLock;
use waitlist_transport_memory::MemoryBus;

use support::{TestDb, WAIT};
use waitlist_core::conformance::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signup_on_postgres_gets_ranked_and_the_welcome_email() {
    let Some(db) = TestDb::new("a_signup_on_postgres").await else {
        return;
    };
    // As in README.md, with the test's schema instead of `waitlist`.
    let pg = Arc::new(db.store.clone());
    pg.migrate().await.expect("migrate");
    let pg_lock = PgCampaignLock::new(pg.pool().clone());
    let bus = MemoryBus::new();
    let emails = Arc::new(RecordingEmailProvider::new());
    let services = Arc::new(
        DomainServices::builder(
            DomainStores::from_one(Arc::clone(&pg)),
            EventPublisher::new(Arc::new(bus.clone())),
            emails.clone(),
        )
        .lock(Arc::new(pg_lock))
        .build()
        .expect("services"),
    );
    let workers = start_workers(&services, &DomainConfig::default(), Arc::new(bus.clone()))
        .await
        .expect("workers");

    pg.save_campaign(Campaign::new("launch", "acme"))
        .await
        .expect("campaign");
    let now = waitlist_core::chrono::Utc::now();
    let position = pg
        .insert_user(User::new("launch", "ada", "ada@example.com", now))
        .await
        .expect("user");
    assert_eq!(position, 1);
    let signed_up = UserSignedUp {
        user_id: "ada".into(),
        campaign_id: "launch".into(),
        email: "ada@example.com".into(),
    };
    services
        .events
        .user_signed_up("acme", signed_up)
        .await
        .expect("publish");

    waitlist_core::conformance::wait_until("the welcome email", Duration::from_secs(10), || {
        !emails.sent().is_empty()
    })
    .await;
    assert_eq!(emails.sent()[0].to, "ada@example.com");
    eventually("ada ranked in the database", WAIT, || async {
        let ada = pg.user("launch", "ada").await.expect("read");
        ada.and_then(|u| u.position) == Some(1)
    })
    .await;
    eventually("the welcome logged in the database", WAIT, || async {
        let range = waitlist_core::store::TimeRange::new(
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(1),
        );
        pg.count_sent("launch", range).await.expect("count") == 1
    })
    .await;
    let reports = workers.shutdown(Duration::from_secs(5)).await;
    assert!(reports.iter().all(|r| r.abandoned == 0));
}
