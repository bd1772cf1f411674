//! Repository traits for the domain's source of truth, and in-memory
//! implementations.
//!
//! Each trait is one table (or collection) of a host service's database:
//! [`CampaignStore`], [`UserStore`], [`ReferralStore`], [`RewardStore`],
//! [`EmailLogStore`], [`AnalyticsStore`] and [`FraudSignalStore`]. Every
//! method is `async`, takes the campaign it works on, and returns a
//! [`StoreError`]; the state-changing methods that must be race-free
//! (claiming a reward delivery, reserving an email, reaching a milestone)
//! are single compare-and-set operations so a SQL implementation can do each
//! in one statement.
//!
//! [`MemoryStore`] implements them all, for tests, examples and single-process
//! deployments.

mod memory;
mod model;
mod traits;

pub use memory::{MemoryFraudSignals, MemoryStore};
pub use model::*;
pub use traits::*;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// Kind of record (`user`, `referral`, ...).
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// A record with this id already exists.
    #[error("{kind} `{id}` already exists")]
    AlreadyExists {
        /// Kind of record.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The database is unreachable or timed out; retrying may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Any other failure (constraint violation, corrupt row, ...).
    #[error("store failure: {0}")]
    Other(String),
}

impl StoreError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// [`StoreError::NotFound`]: no `kind` record `id`.
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        StoreError::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// [`StoreError::AlreadyExists`]: the `kind` id `id` is taken.
    pub fn already_exists(kind: &'static str, id: impl Into<String>) -> Self {
        StoreError::AlreadyExists {
            kind,
            id: id.into(),
        }
    }
}
