//! Readiness checks the ops server runs for `GET /health`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// The future a [`HealthCheck`] returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One readiness check (a transport connection, a database, ...).
pub trait HealthCheck: Send + Sync {
    /// `Ok` when ready, otherwise why not.
    fn check(&self) -> CheckFuture;
}

/// A [`HealthCheck`] from a closure; see [`health_fn`].
pub struct FnHealthCheck<F>(F);

impl<F> fmt::Debug for FnHealthCheck<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnHealthCheck")
    }
}

/// Makes a [`HealthCheck`] from `|| async { Ok(()) }`.
pub fn health_fn<F, Fut>(f: F) -> FnHealthCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    FnHealthCheck(f)
}

impl<F, Fut> HealthCheck for FnHealthCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    fn check(&self) -> CheckFuture {
        Box::pin((self.0)())
    }
}
