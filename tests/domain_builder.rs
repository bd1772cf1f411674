//! `DomainServices::builder` over stores and a lock the host chooses.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use waitlist::async_trait;
use waitlist::domain::{
    CampaignLock, CampaignLockGuard, DomainStores, LockError, MemoryCampaignLock,
};
use waitlist::events::UserSignedUp;
use waitlist::prelude::*;
use waitlist::providers::RecordingEmailProvider;
use waitlist::store::{Campaign, CampaignStore, MemoryStore, User, UserStore};

/// The host's own lock: counts how often the services take it.
#[derive(Debug, Default)]
struct CountingLock {
    inner: MemoryCampaignLock,
    taken: AtomicUsize,
}

#[async_trait]
impl CampaignLock for CountingLock {
    async fn lock(&self, campaign_id: &str) -> std::result::Result<CampaignLockGuard, LockError> {
        self.taken.fetch_add(1, SeqCst);
        self.inner.lock(campaign_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_built_over_any_stores_run_the_flow_with_the_hosts_lock() {
    let bus = MemoryBus::new();
    let store = Arc::new(MemoryStore::new());
    let emails = Arc::new(RecordingEmailProvider::new());
    let lock = Arc::new(CountingLock::default());
    let services = Arc::new(
        DomainServices::builder(
            DomainStores::from_one(Arc::clone(&store)),
            EventPublisher::new(Arc::new(bus.clone())),
            emails.clone(),
        )
        .lock(lock.clone())
        .build()
        .expect("services"),
    );
    let workers = start_workers(&services, &DomainConfig::default(), Arc::new(bus.clone()))
        .await
        .expect("workers");
    store
        .save_campaign(Campaign::new("launch", "acme"))
        .await
        .expect("campaign");
    store
        .insert_user(User::new(
            "launch",
            "ada",
            "ada@example.com",
            waitlist::chrono::Utc::now(),
        ))
        .await
        .expect("user");
    let event = UserSignedUp {
        user_id: "ada".into(),
        campaign_id: "launch".into(),
        email: "ada@example.com".into(),
    };
    services
        .events
        .user_signed_up("acme", event)
        .await
        .expect("publish");
    waitlist::conformance::wait_until(
        "welcome sent and ada ranked",
        Duration::from_secs(10),
        || !emails.sent().is_empty() && lock.taken.load(SeqCst) >= 1,
    )
    .await;
    let ada = store
        .user("launch", "ada")
        .await
        .expect("read")
        .expect("ada");
    assert_eq!(ada.position, Some(1));
    let reports = workers.shutdown(Duration::from_secs(5)).await;
    assert!(reports.iter().all(|r| r.abandoned == 0));
}
