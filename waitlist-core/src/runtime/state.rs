//! Handlers that carry state, and results that turn into outcomes.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Context, Handler, Outcome, Router, UnknownTypePolicy};
use crate::events::{Envelope, EventData, FlatEvent};

/// An error that knows whether trying again later may succeed: the one
/// transient/permanent rule the runtime, the domain, the stores and the
/// providers share.
pub trait Transient: fmt::Display {
    /// Whether retrying the same operation later may succeed.
    fn is_transient(&self) -> bool;
}

impl Transient for crate::Error {
    fn is_transient(&self) -> bool {
        crate::Error::is_transient(self)
    }
}

/// What a handler may return: an [`Outcome`], or a `Result` whose error
/// says whether it is [`Transient`] (retried) or not (dead-lettered).
pub trait IntoOutcome {
    /// The outcome the runtime settles by.
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for Outcome {
    fn into_outcome(self) -> Outcome {
        self
    }
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Outcome {
        Outcome::Done
    }
}

impl<T, E: Transient> IntoOutcome for Result<T, E> {
    /// `Ok` is [`Outcome::Done`]; a transient error is retried with the
    /// group's backoff, any other is dead-lettered with the error as reason.
    fn into_outcome(self) -> Outcome {
        match self {
            Ok(_) => Outcome::Done,
            Err(e) if e.is_transient() => Outcome::retry(e),
            Err(e) => Outcome::dead_letter(e),
        }
    }
}

/// A handler made of an async function and the state it is called with.
pub struct StateFn<S, F, E> {
    state: Arc<S>,
    f: F,
    _event: PhantomData<fn(E)>,
}

impl<S, F, E> fmt::Debug for StateFn<S, F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateFn")
    }
}

#[async_trait]
impl<S, F, E, Fut, R> Handler<E> for StateFn<S, F, E>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, E, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoOutcome,
    E: Send + 'static,
{
    async fn handle(&self, event: E, ctx: &Context) -> Outcome {
        (self.f)(Arc::clone(&self.state), event, ctx.clone())
            .await
            .into_outcome()
    }
}

/// A [`Router`] whose handlers are async functions called with shared
/// state: `async fn(Arc<S>, event, Context) -> impl IntoOutcome`.
///
/// ```
/// use std::sync::Arc;
/// use waitlist_core::events::{Envelope, UserSignedUp};
/// use waitlist_core::runtime::{Context, ConsumerGroup, Router};
///
/// struct Mailer { from: String }
///
/// async fn welcome(m: Arc<Mailer>, e: Envelope<UserSignedUp>, _: Context) -> waitlist_core::Result<()> {
///     println!("{} welcomes {}", m.from, e.data.email);
///     Ok(())
/// }
///
/// let router = Router::with_state(Arc::new(Mailer { from: "team@example.com".into() }))
///     .on(welcome);
/// let group = ConsumerGroup::new("domain-events", "email-workers", router);
/// # let _ = group;
/// ```
pub struct StateRouter<S> {
    state: Arc<S>,
    router: Router,
}

impl<S> fmt::Debug for StateRouter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateRouter")
            .field("router", &self.router)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router whose handlers get `state` (see [`StateRouter`]).
    pub fn with_state<S: Send + Sync + 'static>(state: Arc<S>) -> StateRouter<S> {
        StateRouter {
            state,
            router: Router::new(),
        }
    }
}

impl<S: Send + Sync + 'static> StateRouter<S> {
    fn bind<E, F>(&self, f: F) -> StateFn<S, F, E> {
        StateFn {
            state: Arc::clone(&self.state),
            f,
            _event: PhantomData,
        }
    }

    /// Routes every type of `D` to `f`.
    pub fn on<D, F, Fut, R>(mut self, f: F) -> Self
    where
        D: EventData,
        F: Fn(Arc<S>, Envelope<D>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoOutcome + 'static,
    {
        let handler = self.bind(f);
        self.router = self.router.on(handler);
        self
    }

    /// Routes the flat event `E` from its own topic to `f`.
    pub fn on_flat<E, F, Fut, R>(self, f: F) -> Self
    where
        E: FlatEvent,
        F: Fn(Arc<S>, E, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoOutcome + 'static,
    {
        self.on_topic(E::TYPE, f)
    }

    /// Routes messages of `topic` (flat JSON) to `f`.
    pub fn on_topic<E, F, Fut, R>(mut self, topic: &str, f: F) -> Self
    where
        E: FlatEvent,
        F: Fn(Arc<S>, E, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoOutcome + 'static,
    {
        let handler = self.bind(f);
        self.router = self.router.on_topic(topic, handler);
        self
    }

    /// Handles every envelope type without its own route.
    pub fn fallback<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(Arc<S>, Envelope<serde_json::Value>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoOutcome + 'static,
    {
        let handler = self.bind(f);
        self.router = self.router.fallback(handler);
        self
    }

    /// What to do with envelope types that have no handler.
    pub fn on_unknown(mut self, policy: UnknownTypePolicy) -> Self {
        self.router = self.router.on_unknown(policy);
        self
    }

    /// The plain router.
    pub fn into_router(self) -> Router {
        self.router
    }
}

impl<S> From<StateRouter<S>> for Router {
    fn from(r: StateRouter<S>) -> Self {
        r.router
    }
}
