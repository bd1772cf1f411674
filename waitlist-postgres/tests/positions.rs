//! Two position services, each with its own pool and advisory lock, over one
//! PostgreSQL schema (two worker processes on one database): neither leaves
//! the other with a stale ranking.

mod support;

use std::sync::Arc;

use waitlist_core::conformance::stores::position_services_sharing_a_store_agree;

use support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_services_of_two_processes_agree() {
    let Some(db) = TestDb::new("position_services_of_two_processes_agree").await else {
        return;
    };
    let second = db.second_instance().await;
    position_services_sharing_a_store_agree(
        Arc::new(db.store.clone()),
        Arc::new(db.store.campaign_lock()),
        Arc::new(second.campaign_lock()),
    )
    .await;
}
