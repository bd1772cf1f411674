//! The error of the domain services and how it maps to a handler outcome.

use std::time::Duration;

use super::positions::LockError;
use super::publisher::PublishError;
use crate::providers::ProviderError;
use crate::runtime::Outcome;
use crate::store::StoreError;
use crate::templates::TemplateError;

/// Why a domain operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The campaign lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// An event or job could not be published.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// A provider (email, webhook) failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A template failed to render.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A record the event refers to does not exist (yet).
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// Kind of record.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// The input cannot be processed, now or later.
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl DomainError {
    pub(crate) fn not_found(kind: &'static str, id: &str) -> Self {
        DomainError::NotFound {
            kind,
            id: id.to_owned(),
        }
    }

    /// Whether retrying later may succeed.
    ///
    /// Missing records are retried: the host may not have committed them yet
    /// when the event arrives; the retry policy dead-letters them eventually.
    pub fn is_transient(&self) -> bool {
        match self {
            DomainError::Store(e) => !matches!(e, StoreError::AlreadyExists { .. }),
            DomainError::Lock(_) | DomainError::NotFound { .. } => true,
            DomainError::Publish(e) => e.is_transient(),
            DomainError::Provider(e) => e.is_transient(),
            DomainError::Template(_) | DomainError::Invalid(_) => false,
        }
    }

    /// The handler outcome: retry when transient, dead-letter otherwise.
    pub fn outcome(&self) -> Outcome {
        if self.is_transient() {
            Outcome::retry(self)
        } else {
            Outcome::dead_letter(self)
        }
    }

    /// Like [`outcome`](Self::outcome), retrying after `after`.
    pub fn outcome_after(&self, after: Duration) -> Outcome {
        if self.is_transient() {
            Outcome::retry_after(after, self)
        } else {
            Outcome::dead_letter(self)
        }
    }
}
