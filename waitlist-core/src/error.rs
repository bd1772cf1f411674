//! The error type shared by transports and the runtime.

use std::fmt;
use std::time::Duration;

/// Result alias with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error of any kind, as [`Reason`] and [`Error::Other`] keep them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What an [`Error`] says happened: a message for people and, when another
/// error caused it, that error (the [`std::error::Error::source`] of the
/// [`Error`], for callers that downcast to a client library's error).
#[derive(Debug)]
pub struct Reason {
    message: String,
    source: Option<BoxError>,
}

impl Reason {
    /// A reason with `message` and no underlying error.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A reason caused by `source`, said in its own words.
    pub fn from_error(source: impl Into<BoxError>) -> Self {
        let source = source.into();
        Self {
            message: source.to_string(),
            source: Some(source),
        }
    }

    /// A reason with `message` (which should name what was being done)
    /// caused by `source`; the message ends with the source's words.
    pub fn caused_by(message: impl fmt::Display, source: impl Into<BoxError>) -> Self {
        let source = source.into();
        Self {
            message: format!("{message}: {source}"),
            source: Some(source),
        }
    }

    /// A reason with `message` as it is (it already says what `source`
    /// says) caused by `source`.
    pub fn with_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the message contains `text` (for tests and filters).
    pub fn contains(&self, text: &str) -> bool {
        self.message.contains(text)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for Reason {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Reason {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// What went wrong, by meaning rather than by transport. An error caused by
/// another (a client library's, a store's, a provider's) keeps it as its
/// [`source`](std::error::Error::source); its text is part of the message.
///
/// One rule says whether trying again may help: [`Error::is_transient`].
/// The product's errors (store, provider, domain, publish) convert into
/// [`Error::Unavailable`] when they are transient by their own rule and into
/// [`Error::Rejected`] when they are not, so the rule survives `?`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The broker (or a store, or a provider) could not be reached, the
    /// connection was lost, or it answered "not now"; worth retrying.
    Unavailable(Reason),
    /// The operation was refused and repeating it will not help (a broker's
    /// refusal, authorisation, a settled delivery, input a rule refuses).
    Rejected(Reason),
    /// A topic, queue or group does not exist and could not be created.
    NotFound(Reason),
    /// The message is larger than the transport accepts.
    TooLarge {
        /// Size of the encoded message.
        size: usize,
        /// Limit of the transport.
        limit: usize,
    },
    /// An operation did not finish in time.
    Timeout(Duration),
    /// The publisher, subscription or bus was closed.
    Closed,
    /// A message could not be encoded or decoded.
    Codec(serde_json::Error),
    /// Invalid configuration (bad environment variable, inconsistent options).
    Config(Reason),
    /// The operation is not supported by this transport.
    NotSupported(&'static str),
    /// Any other error, kept as it is (never transient).
    Other(BoxError),
}

impl Error {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::Timeout(_))
    }

    /// [`Error::Unavailable`] caused by `source`.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Error::Unavailable(Reason::from_error(source))
    }

    /// [`Error::Rejected`] caused by `source`.
    pub fn rejected(source: impl Into<BoxError>) -> Self {
        Error::Rejected(Reason::from_error(source))
    }

    /// [`Error::Unavailable`] or [`Error::Rejected`] caused by `source`, as
    /// `transient` says.
    pub fn classified(transient: bool, source: impl Into<BoxError>) -> Self {
        if transient {
            Error::unavailable(source)
        } else {
            Error::rejected(source)
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable(r) => write!(f, "transport unavailable: {r}"),
            Error::Rejected(r) => write!(f, "rejected: {r}"),
            Error::NotFound(r) => write!(f, "not found: {r}"),
            Error::TooLarge { size, limit } => write!(
                f,
                "message of {size} bytes exceeds the limit of {limit} bytes"
            ),
            Error::Timeout(after) => write!(f, "timed out after {after:?}"),
            Error::Closed => f.write_str("closed"),
            Error::Codec(e) => write!(f, "codec: {e}"),
            Error::Config(r) => write!(f, "invalid configuration: {r}"),
            Error::NotSupported(what) => write!(f, "not supported by this transport: {what}"),
            Error::Other(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unavailable(r) | Error::Rejected(r) | Error::NotFound(r) | Error::Config(r) => {
                r.source.as_deref().map(|e| e as _)
            }
            Error::Codec(e) => Some(e),
            Error::Other(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Codec(e)
    }
}

impl From<crate::events::InvalidEnv> for Error {
    fn from(e: crate::events::InvalidEnv) -> Self {
        Error::Config(Reason::from_error(e))
    }
}

/// For error types with their own `is_transient`: implements
/// [`Transient`](crate::runtime::Transient) by it (so a handler's `Result`
/// turns into an outcome) and `From<T> for Error` into the variant its rule
/// says ([`Error::classified`]), keeping the error as the source.
#[cfg(feature = "product")]
macro_rules! classified_errors {
    ($($ty:ty),* $(,)?) => {$(
        impl crate::runtime::Transient for $ty {
            fn is_transient(&self) -> bool {
                <$ty>::is_transient(self)
            }
        }

        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::classified(e.is_transient(), e)
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
