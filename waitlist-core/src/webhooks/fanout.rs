//! The fan-out stage: each webhook event becomes one delivery message per
//! matching active subscription.

use std::sync::Arc;

use async_trait::async_trait;

use super::{SubscriptionStore, WebhookDelivery};
use crate::events::WebhookEvent;
use crate::publish::EventPublisher;
use crate::runtime::{Context, Handler, Outcome};
use crate::Message;

/// Finds the subscriptions of an event and enqueues their deliveries.
#[derive(Debug)]
pub(crate) struct FanOutHandler {
    pub(crate) subscriptions: Arc<dyn SubscriptionStore>,
    pub(crate) publisher: EventPublisher,
    pub(crate) deliveries_topic: String,
}

#[async_trait]
impl Handler<WebhookEvent> for FanOutHandler {
    async fn handle(&self, event: WebhookEvent, _ctx: &Context) -> Outcome {
        let subs = match self.subscriptions.for_account(&event.account_id).await {
            Ok(subs) => subs,
            Err(e) => return Outcome::retry(e),
        };
        let mut messages = Vec::new();
        for sub in subs
            .iter()
            .filter(|s| s.active && s.wants(&event.event_type))
        {
            let delivery = WebhookDelivery::new(event.clone(), &sub.id);
            match Message::from_flat(self.deliveries_topic.as_str(), &delivery) {
                Ok(m) => messages.push(m),
                Err(e) => return Outcome::dead_letter(format!("cannot encode a delivery: {e}")),
            }
        }
        if messages.is_empty() {
            return Outcome::skip("no matching active subscription");
        }
        let n = messages.len();
        // Redelivering after a partial publish is safe: deliveries are
        // deduplicated by their id (`<event id>:<subscription id>`).
        match self.publisher.publish(messages).await {
            Ok(()) => {
                tracing::debug!(event_id = %event.id, deliveries = n, "webhook event fanned out");
                Outcome::Done
            }
            Err(e) => Outcome::retry(format!("enqueueing deliveries: {e}")),
        }
    }
}
