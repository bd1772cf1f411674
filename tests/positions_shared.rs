//! Two position services sharing one store and one lock (two worker
//! processes on one database): a move made by one must never leave the
//! other with a stale ranking. The same check runs on PostgreSQL in
//! waitlist-postgres/tests/positions.rs.

use std::sync::Arc;

use waitlist::conformance::stores::position_services_sharing_a_store_agree;
use waitlist::domain::{CampaignLock, MemoryCampaignLock};
use waitlist::store::MemoryStore;

#[tokio::test]
async fn a_move_made_by_another_service_is_seen_before_the_next_move() {
    let lock: Arc<dyn CampaignLock> = Arc::new(MemoryCampaignLock::new());
    position_services_sharing_a_store_agree(Arc::new(MemoryStore::new()), Arc::clone(&lock), lock)
        .await;
}
