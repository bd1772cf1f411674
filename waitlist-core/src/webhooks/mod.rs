//! Webhook delivery a customer can trust with their endpoints (document 002).
//!
//! - [`signature`]: Standard Webhooks signing and the receivers' verifier
//!   ([`WebhookVerifier`]); always available.
//! - Feature `webhooks`: delivery over HTTP. Events on `webhook-events`
//!   (keyed by `account_id`) are fanned out by the `webhook-consumers` group
//!   into one [`WebhookDelivery`] per matching subscription on
//!   `webhook-deliveries`; the `webhook-senders` group POSTs each one,
//!   signed, and retries it by the [`WebhookRetry`] schedule through the
//!   transport's delayed redelivery, so one failing endpoint never delays
//!   the others; deliveries are keyed by subscription lane and handled in
//!   per-key order, so one slow endpoint holds at most
//!   [`WebhookConfig::endpoint_concurrency`] workers. 410 Gone disables the endpoint; so do
//!   [`WebhookConfig::disable_after_failures`] failed attempts in a row.
//!   Every attempt is recorded in a [`DeliveryLog`]; URLs reaching private
//!   networks are refused by the [`UrlGuard`].

pub mod signature;

pub use signature::{
    signature_header, SignatureError, WebhookSecret, WebhookVerifier, DEFAULT_TOLERANCE, HEADER_ID,
    HEADER_SIGNATURE, HEADER_TIMESTAMP,
};

#[cfg(feature = "webhooks")]
mod client;
#[cfg(feature = "webhooks")]
mod delivery;
#[cfg(feature = "webhooks")]
mod fanout;
#[cfg(feature = "webhooks")]
mod history;
#[cfg(feature = "webhooks")]
mod retry;
#[cfg(feature = "webhooks")]
mod service;
#[cfg(feature = "webhooks")]
mod ssrf;
#[cfg(feature = "webhooks")]
mod subscription;

#[cfg(feature = "webhooks")]
pub use client::{AttemptOutcome, AttemptReport, ClientBuildError, WebhookClient};
#[cfg(feature = "webhooks")]
pub use delivery::WebhookDelivery;
#[cfg(feature = "webhooks")]
pub use history::{AttemptStatus, DeliveryAttempt, DeliveryLog, MemoryDeliveryLog};
#[cfg(feature = "webhooks")]
pub use retry::{parse_retry_after, WebhookRetry};
#[cfg(feature = "webhooks")]
pub use service::{
    publish_webhook_event, WebhookConfig, WebhookService, WEBHOOK_DELIVERIES, WEBHOOK_SENDERS,
};
#[cfg(feature = "webhooks")]
pub use ssrf::{is_public, HostResolver, ResolveFuture, SsrfError, UrlGuard};
#[cfg(feature = "webhooks")]
pub use subscription::{
    MemorySubscriptionStore, SubscriptionStore, WebhookStoreError, WebhookSubscription,
};
