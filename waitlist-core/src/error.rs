//! The error type shared by transports and the runtime.

use std::time::Duration;

/// Result alias with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, by meaning rather than by transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The broker could not be reached or the connection was lost; worth retrying.
    #[error("transport unavailable: {0}")]
    Unavailable(String),
    /// The broker refused the operation (nack, authorisation, quota, ...).
    #[error("rejected by the broker: {0}")]
    Rejected(String),
    /// A topic, queue or group does not exist and could not be created.
    #[error("not found: {0}")]
    NotFound(String),
    /// The message is larger than the transport accepts.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the encoded message.
        size: usize,
        /// Limit of the transport.
        limit: usize,
    },
    /// An operation did not finish in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The publisher, subscription or bus was closed.
    #[error("closed")]
    Closed,
    /// A message could not be encoded or decoded.
    #[error("codec: {0}")]
    Codec(#[from] serde_json::Error),
    /// Invalid configuration (bad environment variable, inconsistent options).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The operation is not supported by this transport.
    #[error("not supported by this transport: {0}")]
    NotSupported(&'static str),
    /// Any other transport error.
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Timeout(_))
    }
}

impl From<crate::events::InvalidEnv> for Error {
    fn from(e: crate::events::InvalidEnv) -> Self {
        Error::Config(e.to_string())
    }
}

/// For error types with their own `is_transient`: implements
/// [`Transient`](crate::runtime::Transient) by it (so a handler's `Result`
/// turns into an outcome) and `From<T> for Error`, keeping the source.
macro_rules! classified_errors {
    ($($ty:ty),* $(,)?) => {$(
        impl crate::runtime::Transient for $ty {
            fn is_transient(&self) -> bool {
                <$ty>::is_transient(self)
            }
        }

        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::Other(Box::new(e))
            }
        }
    )*};
}

#[cfg(feature = "product")]
classified_errors!(
    crate::providers::ProviderError,
    crate::store::StoreError,
    crate::domain::DomainError,
    crate::domain::PublishError,
);
