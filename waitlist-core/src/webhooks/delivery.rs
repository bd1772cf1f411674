//! The delivery stage: one message per (event, subscription), each attempt
//! one HTTP POST, retried by the transport's delayed redelivery so that a
//! slow or failing endpoint never holds up the others.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::client::{AttemptOutcome, AttemptReport, WebhookClient};
use super::history::{AttemptStatus, DeliveryAttempt, DeliveryLog};
use super::{SubscriptionStore, WebhookRetry, WebhookSubscription};
use crate::events::{FlatEvent, WebhookEvent};
use crate::runtime::{Context, Handler, Outcome};

/// One event to deliver to one subscription (the message of the deliveries
/// topic, keyed by subscription).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    /// `<event id>:<subscription id>`; the message id.
    pub delivery_id: String,
    /// The subscription to deliver to.
    pub subscription_id: String,
    /// The event, POSTed as its JSON envelope.
    pub event: WebhookEvent,
}

impl WebhookDelivery {
    /// The delivery of `event` to `subscription_id`.
    pub fn new(event: WebhookEvent, subscription_id: &str) -> Self {
        Self {
            delivery_id: format!("{}:{subscription_id}", event.id),
            subscription_id: subscription_id.to_owned(),
            event,
        }
    }
}

impl FlatEvent for WebhookDelivery {
    const TYPE: &'static str = "webhook.delivery";

    fn partition_key(&self) -> Option<&str> {
        Some(&self.subscription_id)
    }

    fn idempotency_id(&self) -> Option<&str> {
        Some(&self.delivery_id)
    }
}

/// Makes one attempt per delivery and decides what follows.
#[derive(Debug)]
pub(crate) struct DeliveryHandler {
    pub(crate) client: WebhookClient,
    pub(crate) subscriptions: Arc<dyn SubscriptionStore>,
    pub(crate) log: Arc<dyn DeliveryLog>,
    pub(crate) retry: WebhookRetry,
    pub(crate) disable_after: u32,
}

/// What to do after an attempt.
enum Next {
    Done,
    Retry(Duration, String),
    Stop(String),
}

impl DeliveryHandler {
    async fn decide(&self, sub: &WebhookSubscription, attempt: u32, r: &AttemptReport) -> Next {
        let store = &self.subscriptions;
        let failed = match &r.outcome {
            AttemptOutcome::Delivered => {
                if let Err(e) = store.record_success(&sub.id).await {
                    tracing::warn!(error = %e, "recording the success failed");
                }
                return Next::Done;
            }
            AttemptOutcome::Gone => {
                let reason = "endpoint answered 410 Gone";
                if let Err(e) = store.disable(&sub.id, reason).await {
                    tracing::warn!(error = %e, "disabling the endpoint failed");
                }
                tracing::warn!(subscription_id = %sub.id, "{reason}; endpoint disabled");
                return Next::Stop(reason.to_owned());
            }
            AttemptOutcome::Refused(reason) => return Next::Stop(reason.clone()),
            AttemptOutcome::Failed(error) => error,
        };
        let failures = match store.record_failure(&sub.id).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "recording the failure failed");
                0
            }
        };
        if self.disable_after > 0 && failures >= self.disable_after {
            let reason = format!("disabled after {failures} failed attempts in a row");
            if let Err(e) = store.disable(&sub.id, &reason).await {
                tracing::warn!(error = %e, "disabling the endpoint failed");
            }
            tracing::warn!(subscription_id = %sub.id, %reason, "endpoint disabled");
            return Next::Stop(format!("{failed}; {reason}"));
        }
        match self.retry.next_delay(attempt, r.retry_after) {
            Some(delay) => Next::Retry(delay, failed.clone()),
            None => Next::Stop(format!("gave up after {attempt} attempts: {failed}")),
        }
    }
}

#[async_trait]
impl Handler<WebhookDelivery> for DeliveryHandler {
    async fn handle(&self, job: WebhookDelivery, ctx: &Context) -> Outcome {
        let sub = match self.subscriptions.get(&job.subscription_id).await {
            Ok(Some(sub)) => sub,
            Ok(None) => return Outcome::skip("subscription deleted"),
            Err(e) => return Outcome::retry(e),
        };
        if !sub.active {
            return Outcome::skip(format!(
                "endpoint disabled: {}",
                sub.disabled_reason.as_deref().unwrap_or("inactive")
            ));
        }
        let body = match serde_json::to_vec(&job.event) {
            Ok(body) => body,
            Err(e) => return Outcome::dead_letter(format!("cannot encode the event: {e}")),
        };
        let at = Utc::now();
        let report = self
            .client
            .send(&sub.url, &job.event.id, &body, &sub.secrets)
            .await;
        let next = self.decide(&sub, ctx.attempt, &report).await;
        let (status, next_attempt_at, error) = match &next {
            Next::Done => (AttemptStatus::Delivered, None, None),
            Next::Retry(delay, e) => {
                let next = chrono::Duration::from_std(*delay)
                    .ok()
                    .map(|d| Utc::now() + d);
                (AttemptStatus::Retrying, next, Some(e.clone()))
            }
            Next::Stop(e) => (AttemptStatus::Failed, None, Some(e.clone())),
        };
        tracing::info!(
            subscription_id = %sub.id, event_id = %job.event.id, attempt = ctx.attempt,
            status_code = ?report.status_code, latency_ms = report.latency.as_millis() as u64,
            ?status, error = error.as_deref().unwrap_or(""), "webhook attempt"
        );
        metrics::counter!("webhook_deliveries_total", "status" => status_label(status))
            .increment(1);
        metrics::histogram!("webhook_delivery_duration_ms")
            .record(report.latency.as_secs_f64() * 1000.0);
        let record = DeliveryAttempt {
            delivery_id: job.delivery_id.clone(),
            subscription_id: sub.id.clone(),
            event_id: job.event.id.clone(),
            event_type: job.event.event_type.clone(),
            attempt: ctx.attempt,
            at,
            status_code: report.status_code,
            latency: report.latency,
            error,
            next_attempt_at,
            status,
        };
        if let Err(e) = self.log.record(record).await {
            tracing::warn!(error = %e, "recording the delivery attempt failed");
        }
        match next {
            Next::Done => Outcome::Done,
            Next::Retry(delay, error) => Outcome::retry_after(delay, error),
            Next::Stop(reason) if report.outcome == AttemptOutcome::Gone => Outcome::skip(reason),
            Next::Stop(reason) => Outcome::dead_letter(reason),
        }
    }
}

fn status_label(status: AttemptStatus) -> &'static str {
    match status {
        AttemptStatus::Delivered => "delivered",
        AttemptStatus::Retrying => "retrying",
        AttemptStatus::Failed => "failed",
    }
}
