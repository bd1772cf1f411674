//! The worker of one channel: fetch, render, send with retry, record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{ChannelSender, NotificationStatus, NotificationStore, TemplateStore};
use crate::events::NotificationEvent;
use crate::runtime::{Claim, Context, Handler, IdempotencyStore, Outcome, RetryPolicy};

/// Counter: notifications by final `status` (`success`, `failed`), by `channel`.
pub const NOTIFICATIONS_SENT: &str = "notifications_sent_total";
/// Histogram: provider send time in milliseconds, by `channel`.
pub const NOTIFICATION_SEND_DURATION_MS: &str = "notification_send_duration_ms";

/// How long a `message_id` is remembered once handled.
const DONE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a claim on a `message_id` lasts while a send runs.
const LEASE: Duration = Duration::from_secs(600);

/// Handles the notification events of one channel.
#[derive(Debug, Clone)]
pub struct NotificationWorker {
    pub(crate) sender: ChannelSender,
    pub(crate) notifications: Arc<dyn NotificationStore>,
    pub(crate) templates: Arc<dyn TemplateStore>,
    pub(crate) retry: RetryPolicy,
    pub(crate) idempotency: Arc<dyn IdempotencyStore>,
}

/// What ended the handling of one event.
enum Ending {
    Sent(Option<String>),
    /// Permanent, or transient on the last attempt: record `failed`, DLQ.
    Failed(String),
    /// Transient with attempts left.
    Retry(Duration, String),
}

impl NotificationWorker {
    async fn run(&self, event: &NotificationEvent, attempt: u32) -> Result<Ending, Outcome> {
        let channel = self.sender.channel();
        if event.channel != channel {
            return Err(Outcome::dead_letter(format!(
                "{} notification on the {channel} worker",
                event.channel
            )));
        }
        let found = self.notifications.get(&event.notification_id).await;
        let Some(notification) = found.map_err(Outcome::retry)? else {
            let id = &event.notification_id;
            return Err(Outcome::dead_letter(format!("notification {id} not found")));
        };
        if notification.status == NotificationStatus::Sent {
            return Err(Outcome::skip("notification already sent"));
        }
        let found = self.templates.template(&event.template_id).await;
        let Some(template) = found.map_err(Outcome::retry)? else {
            let id = &event.template_id;
            return Ok(Ending::Failed(format!("template {id} not found")));
        };
        let data = serde_json::Value::Object(event.payload.clone());
        let rendered = match self.sender.render(&template, &data) {
            Ok(r) => r,
            Err(e) => return Ok(Ending::Failed(e.to_string())),
        };
        let started = Instant::now();
        let result = self.sender.send(&notification, event, rendered).await;
        let elapsed = started.elapsed();
        metrics::histogram!(NOTIFICATION_SEND_DURATION_MS, "channel" => channel.as_str())
            .record(elapsed.as_secs_f64() * 1000.0);
        Ok(match result {
            Ok(receipt) => {
                tracing::info!(service = %format!("{channel}-worker"), notification_id = %event.notification_id,
                    provider_id = receipt.provider_id.as_deref().unwrap_or(""),
                    duration_ms = elapsed.as_millis() as u64, "{channel} notification sent successfully");
                Ending::Sent(receipt.provider_id)
            }
            Err(e) if e.is_transient() && self.retry.should_retry(attempt) => {
                Ending::Retry(self.retry.delay(attempt), e.to_string())
            }
            Err(e) => Ending::Failed(e.to_string()),
        })
    }
}

#[async_trait]
impl Handler<NotificationEvent> for NotificationWorker {
    async fn handle(&self, event: NotificationEvent, ctx: &Context) -> Outcome {
        let channel = self.sender.channel();
        let key = format!("notification/{}", event.message_id);
        match self.idempotency.claim(&key, LEASE).await {
            Ok(Claim::Acquired) => {}
            Ok(Claim::Done) => {
                return Outcome::skip(format!("message {} already handled", event.message_id))
            }
            Ok(Claim::InProgress) => {
                return Outcome::retry_after(
                    self.retry.base_delay(1),
                    "same message_id in progress",
                )
            }
            Err(e) => return Outcome::retry(format!("idempotency store: {e}")),
        }
        let (outcome, done) = match self.run(&event, ctx.attempt).await {
            Err(outcome) => (outcome, false),
            Ok(Ending::Retry(delay, error)) => {
                tracing::warn!(notification_id = %event.notification_id, attempt = ctx.attempt,
                    ?delay, %error, "send failed; will retry");
                (Outcome::retry_after(delay, error), false)
            }
            Ok(Ending::Sent(provider_id)) => {
                match self
                    .notifications
                    .mark_sent(&event.notification_id, provider_id.as_deref())
                    .await
                {
                    Ok(()) => {
                        metrics::counter!(NOTIFICATIONS_SENT, "channel" => channel.as_str(), "status" => "success")
                            .increment(1);
                        (Outcome::Done, true)
                    }
                    // Sent but not recorded: keep the claim so no resend
                    // happens; the status write is what the retry is for.
                    Err(e) => {
                        tracing::error!(notification_id = %event.notification_id, error = %e,
                            "sent, but recording the status failed");
                        (Outcome::Done, true)
                    }
                }
            }
            Ok(Ending::Failed(error)) => {
                tracing::error!(notification_id = %event.notification_id, attempt = ctx.attempt,
                    %error, "{channel} notification failed");
                if let Err(e) = self
                    .notifications
                    .mark_failed(&event.notification_id, &error)
                    .await
                {
                    tracing::error!(error = %e, "recording the failure failed");
                }
                metrics::counter!(NOTIFICATIONS_SENT, "channel" => channel.as_str(), "status" => "failed")
                    .increment(1);
                let reason = format!(
                    "{channel} notification {} failed after {} attempt(s): {error}",
                    event.notification_id, ctx.attempt
                );
                (Outcome::dead_letter(reason), false)
            }
        };
        // Only a sent (or already sent) message is remembered: a failed one
        // sent nothing, so a replay from the dead-letter queue may send it.
        let done = done || matches!(outcome, Outcome::Skip { .. });
        let stored = if done {
            self.idempotency.complete(&key, DONE_TTL).await
        } else {
            self.idempotency.release(&key).await
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "idempotency store update failed");
        }
        outcome
    }
}
