//! Handlers, their outcomes, and routing by event type.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::value::RawValue;
use tracing::Instrument;

use super::Context;
use crate::events::{Envelope, EventData, FlatEvent};
use crate::{headers, Message};

/// What a handler decided; the runtime settles the delivery accordingly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Handled: acknowledge.
    Done,
    /// Transient failure: redeliver after `after` (or the group's backoff),
    /// until the retry policy's attempts are used up, then dead-letter.
    Retry {
        /// Delay before the next attempt; `None` uses the retry policy.
        after: Option<Duration>,
        /// What failed, kept in the failure headers.
        error: String,
    },
    /// Permanent failure: move to the dead-letter queue now.
    DeadLetter {
        /// Why, kept in the dead-letter headers.
        reason: String,
    },
    /// Nothing to do (e.g. session not found): acknowledge.
    Skip {
        /// Why it was skipped, logged.
        reason: String,
    },
    /// The message id was handled before (the deduplication layer):
    /// acknowledge without running the handler again.
    Duplicate,
}

impl Outcome {
    /// Retry with the group's backoff.
    pub fn retry(error: impl fmt::Display) -> Self {
        Outcome::Retry {
            after: None,
            error: error.to_string(),
        }
    }

    /// Retry after `after`.
    pub fn retry_after(after: Duration, error: impl fmt::Display) -> Self {
        Outcome::Retry {
            after: Some(after),
            error: error.to_string(),
        }
    }

    /// Dead-letter with `reason`.
    pub fn dead_letter(reason: impl fmt::Display) -> Self {
        Outcome::DeadLetter {
            reason: reason.to_string(),
        }
    }

    /// Skip with `reason`.
    pub fn skip(reason: impl fmt::Display) -> Self {
        Outcome::Skip {
            reason: reason.to_string(),
        }
    }

    /// Label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Retry { .. } => "retry",
            Outcome::DeadLetter { .. } => "dead_letter",
            Outcome::Skip { .. } => "skip",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// Handles one kind of event.
#[async_trait]
pub trait Handler<E>: Send + Sync + 'static {
    /// Handles `event`; the outcome tells the runtime how to settle it.
    async fn handle(&self, event: E, ctx: &Context) -> Outcome;
}

/// A [`Handler`] made from an async closure; see [`handler_fn`].
pub struct FnHandler<F, E> {
    f: F,
    _event: PhantomData<fn(E)>,
}

impl<F, E> fmt::Debug for FnHandler<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnHandler")
    }
}

/// Makes a [`Handler`] from `async |event, ctx| -> Outcome` (or any
/// [`IntoOutcome`](super::IntoOutcome), such as a `Result` whose error is
/// [`Transient`](super::Transient)).
pub fn handler_fn<E, F, Fut>(f: F) -> FnHandler<F, E>
where
    F: Fn(E, Context) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: super::IntoOutcome,
    E: Send + 'static,
{
    FnHandler {
        f,
        _event: PhantomData,
    }
}

#[async_trait]
impl<E, F, Fut> Handler<E> for FnHandler<F, E>
where
    F: Fn(E, Context) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: super::IntoOutcome,
    E: Send + 'static,
{
    async fn handle(&self, event: E, ctx: &Context) -> Outcome {
        super::IntoOutcome::into_outcome((self.f)(event, ctx.clone()).await)
    }
}

/// What the router does with an envelope type that has no handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownTypePolicy {
    /// Acknowledge and count as skipped: the group is not interested
    /// (a fan-out group sees every type of its topic).
    #[default]
    Skip,
    /// Dead-letter with the reason "no handler for type X".
    DeadLetter,
}

type BoxFut<'a> = std::pin::Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// `future` in `span`; as it is when the span is disabled (no subscriber
/// wants it), saving a second box per delivery.
fn instrumented<'a>(future: BoxFut<'a>, span: tracing::Span) -> BoxFut<'a> {
    if span.is_disabled() {
        future
    } else {
        Box::pin(future.instrument(span))
    }
}

trait EnvelopeRoute: Send + Sync {
    fn call<'a>(&'a self, env: Envelope<&RawValue>, ctx: &'a Context) -> BoxFut<'a>;
}

trait FlatRoute: Send + Sync {
    fn call<'a>(&'a self, payload: &[u8], ctx: &'a Context) -> BoxFut<'a>;
}

/// Decodes the deferred `data` of `env` into `D`, or the dead-letter outcome.
fn decode_data<D: serde::de::DeserializeOwned>(
    env: Envelope<&RawValue>,
) -> Result<Envelope<D>, Outcome> {
    match serde_json::from_str(env.data.get()) {
        Ok(data) => Ok(Envelope {
            id: env.id,
            event_type: env.event_type,
            account_id: env.account_id,
            campaign_id: env.campaign_id,
            data,
            timestamp: env.timestamp,
        }),
        Err(e) => Err(Outcome::DeadLetter {
            reason: format!("invalid data for {}: {e}", env.event_type),
        }),
    }
}

struct TypedEnvelopeRoute<D, H> {
    handler: H,
    _d: PhantomData<fn(D)>,
}

impl<D: EventData, H: Handler<Envelope<D>>> EnvelopeRoute for TypedEnvelopeRoute<D, H> {
    fn call<'a>(&'a self, env: Envelope<&RawValue>, ctx: &'a Context) -> BoxFut<'a> {
        match decode_data::<D>(env) {
            Ok(event) => {
                let span = event.span();
                instrumented(self.handler.handle(event, ctx), span)
            }
            Err(outcome) => Box::pin(async move { outcome }),
        }
    }
}

struct FallbackRoute<H>(H);

impl<H: Handler<Envelope<serde_json::Value>>> EnvelopeRoute for FallbackRoute<H> {
    fn call<'a>(&'a self, env: Envelope<&RawValue>, ctx: &'a Context) -> BoxFut<'a> {
        match decode_data::<serde_json::Value>(env) {
            Ok(event) => {
                let span = tracing::info_span!("waitlist.event", campaign_id = %event.campaign_id);
                instrumented(self.0.handle(event, ctx), span)
            }
            Err(outcome) => Box::pin(async move { outcome }),
        }
    }
}

struct TypedFlatRoute<E, H> {
    handler: H,
    _e: PhantomData<fn(E)>,
}

impl<E: FlatEvent, H: Handler<E>> FlatRoute for TypedFlatRoute<E, H> {
    fn call<'a>(&'a self, payload: &[u8], ctx: &'a Context) -> BoxFut<'a> {
        match serde_json::from_slice::<E>(payload) {
            Ok(event) => {
                let span = event.span();
                instrumented(self.handler.handle(event, ctx), span)
            }
            Err(e) => {
                let reason = format!("malformed {} payload: {e}", E::TYPE);
                Box::pin(async move { Outcome::DeadLetter { reason } })
            }
        }
    }
}

/// Routes deliveries to handlers by event type.
///
/// Enveloped events route by their type header (`waitlist-event-type`) when
/// the message has one — an unrouted type is settled without parsing the
/// payload — and by their envelope `type` otherwise (messages from other
/// clients); flat events (waiting room, notifications) route by topic. A malformed payload is dead-lettered
/// with the decoding error as reason. An envelope type without a handler
/// goes to the fallback handler if one is set, otherwise follows the
/// [`UnknownTypePolicy`].
pub struct Router {
    envelope: HashMap<String, (Arc<str>, Arc<dyn EnvelopeRoute>)>,
    flat: HashMap<String, (Arc<str>, Arc<dyn FlatRoute>)>,
    fallback: Option<Arc<dyn EnvelopeRoute>>,
    unknown: UnknownTypePolicy,
    unknown_label: Arc<str>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("envelope_types", &self.envelope.keys().collect::<Vec<_>>())
            .field("flat_topics", &self.flat.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback.is_some())
            .field("unknown", &self.unknown)
            .finish()
    }
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

impl Router {
    /// A router with no routes.
    pub fn new() -> Self {
        Self {
            envelope: HashMap::new(),
            flat: HashMap::new(),
            fallback: None,
            unknown: UnknownTypePolicy::default(),
            unknown_label: Arc::from("unknown"),
        }
    }

    /// Routes every type of `D` ([`EventData::TYPES`]) to `handler`.
    pub fn on<D: EventData, H: Handler<Envelope<D>>>(mut self, handler: H) -> Self {
        let route: Arc<dyn EnvelopeRoute> = Arc::new(TypedEnvelopeRoute {
            handler,
            _d: PhantomData,
        });
        for ty in D::TYPES {
            self.envelope
                .insert((*ty).to_owned(), (Arc::from(*ty), Arc::clone(&route)));
        }
        self
    }

    /// Routes messages of `topic` (flat JSON) to `handler`.
    pub fn on_topic<E: FlatEvent, H: Handler<E>>(mut self, topic: &str, handler: H) -> Self {
        let route: Arc<dyn FlatRoute> = Arc::new(TypedFlatRoute {
            handler,
            _e: PhantomData,
        });
        self.flat
            .insert(topic.to_owned(), (Arc::from(E::TYPE), route));
        self
    }

    /// Routes the flat event `E` from its own topic ([`FlatEvent::TYPE`]).
    pub fn on_flat<E: FlatEvent, H: Handler<E>>(self, handler: H) -> Self {
        self.on_topic::<E, H>(E::TYPE, handler)
    }

    /// Handles every envelope type without its own route (webhook events of
    /// any type, for instance).
    pub fn fallback<H: Handler<Envelope<serde_json::Value>>>(mut self, handler: H) -> Self {
        self.fallback = Some(Arc::new(FallbackRoute(handler)));
        self
    }

    /// What to do with envelope types that have no handler and no fallback.
    pub fn on_unknown(mut self, policy: UnknownTypePolicy) -> Self {
        self.unknown = policy;
        self
    }

    /// Event-type labels of every route (for metric handles).
    pub(crate) fn labels(&self) -> Vec<Arc<str>> {
        let envelope = self.envelope.values().map(|(label, _)| Arc::clone(label));
        let flat = self.flat.values().map(|(label, _)| Arc::clone(label));
        let mut labels: Vec<Arc<str>> = envelope.chain(flat).collect();
        labels.sort();
        labels.dedup();
        labels
    }

    /// Envelope types with a handler.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.envelope.keys().map(String::as_str)
    }

    /// The metric and span label of `message`'s event type, known without
    /// decoding: its route's type (by topic for flat events, by the type
    /// header for envelopes), otherwise `unknown`.
    pub(crate) fn label(&self, message: &Message) -> Arc<str> {
        if let Some((label, _)) = self.flat.get(&message.topic) {
            return Arc::clone(label);
        }
        match message
            .headers
            .get(headers::EVENT_TYPE)
            .and_then(|ty| self.envelope.get(ty))
        {
            Some((label, _)) => Arc::clone(label),
            None => Arc::clone(&self.unknown_label),
        }
    }

    /// Whether `label` is the one of unrouted types.
    pub(crate) fn is_unknown(&self, label: &str) -> bool {
        *self.unknown_label == *label
    }

    /// Decodes the message of `ctx`, runs its handler and returns the outcome.
    pub(crate) fn dispatch<'a>(&'a self, ctx: &'a Context) -> BoxFut<'a> {
        let message = &*ctx.message;
        if let Some((_, route)) = self.flat.get(&message.topic) {
            return route.call(&message.payload, ctx);
        }
        // The type header (written by every publisher of the SDK) routes
        // without parsing: a fan-out group skips the types it has no route
        // for, and the payload is decoded once, only for a route that takes it.
        if let Some(ty) = message.headers.get(headers::EVENT_TYPE) {
            if self.fallback.is_none() && !self.envelope.contains_key(ty) {
                return self.unrouted(ty.clone());
            }
        }
        // `data` stays a slice of the payload until its route decodes it (no
        // copy of the raw JSON).
        let env: Envelope<&RawValue> = match serde_json::from_slice(&message.payload) {
            Ok(env) => env,
            Err(e) => {
                let hint = message
                    .headers
                    .get(headers::EVENT_TYPE)
                    .map(|t| format!(" (header type {t})"))
                    .unwrap_or_default();
                let reason = format!("malformed envelope{hint}: {e}");
                return Box::pin(async move { Outcome::DeadLetter { reason } });
            }
        };
        if let Some((_, route)) = self.envelope.get(&env.event_type) {
            return route.call(env, ctx);
        }
        if let Some(fallback) = &self.fallback {
            return fallback.call(env, ctx);
        }
        self.unrouted(env.event_type)
    }

    /// The outcome for an envelope type without a handler.
    fn unrouted<'a>(&self, ty: String) -> BoxFut<'a> {
        let reason = format!("{NO_HANDLER}{ty}");
        let outcome = match self.unknown {
            UnknownTypePolicy::Skip => Outcome::Skip { reason },
            UnknownTypePolicy::DeadLetter => Outcome::DeadLetter { reason },
        };
        Box::pin(std::future::ready(outcome))
    }
}

/// Start of the skip reason of an envelope type without a handler.
pub(crate) const NO_HANDLER: &str = "no handler for type ";
