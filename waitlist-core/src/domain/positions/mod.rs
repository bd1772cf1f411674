//! Waitlist positions: the ranking, the incremental index, the campaign lock
//! and the service that keeps the stores' positions right.
//!
//! See [`ranking`] for the exact ranking (score, ties, floor).

mod index;
mod lock;
pub mod ranking;
mod service;
mod tree;

pub use index::PositionIndex;
pub use lock::{CampaignLock, CampaignLockGuard, LockError, MemoryCampaignLock};
pub use ranking::{rank_all, score};
pub use service::{PositionService, ReferralVerification};

#[cfg(test)]
mod proptests;
