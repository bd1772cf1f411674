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
    /// Lanes per endpoint ([`WebhookConfig::endpoint_concurrency`]; 0: the
    /// key is the subscription id).
    ///
    /// [`WebhookConfig::endpoint_concurrency`]: super::WebhookConfig::endpoint_concurrency
    pub(crate) lanes: usize,
}

/// The message key of `delivery`: `<subscription id>/<lane>`, the lane a
/// stable hash (FNV-1a) of the delivery id modulo `lanes`, so that one
/// endpoint's deliveries spread over at most `lanes` keys.
pub(crate) fn lane_key(delivery: &WebhookDelivery, lanes: usize) -> Option<String> {
    if lanes == 0 {
        return None;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in delivery.delivery_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let lane = h % lanes as u64;
    Some(format!("{}/{lane}", delivery.subscription_id))
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
                Ok(mut m) => {
                    if let Some(key) = lane_key(&delivery, self.lanes) {
                        m.key = Some(key);
                    }
                    messages.push(m);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Envelope;

    fn delivery(event: &str, sub: &str) -> WebhookDelivery {
        let event = Envelope {
            id: event.into(),
            event_type: "user.created".into(),
            account_id: "a".into(),
            campaign_id: "c".into(),
            data: serde_json::json!({}),
            timestamp: chrono::Utc::now(),
        };
        WebhookDelivery::new(event, sub)
    }

    #[test]
    fn deliveries_spread_over_the_lanes_of_their_subscription() {
        let keys: std::collections::BTreeSet<String> = (0..200)
            .filter_map(|i| lane_key(&delivery(&format!("evt-{i}"), "sub-1"), 4))
            .collect();
        let expected: std::collections::BTreeSet<String> =
            (0..4).map(|l| format!("sub-1/{l}")).collect();
        assert_eq!(keys, expected);
        let d = delivery("evt-1", "sub-1");
        assert_eq!(lane_key(&d, 4), lane_key(&d, 4), "stable");
        assert_eq!(lane_key(&d, 1).as_deref(), Some("sub-1/0"));
        assert_eq!(lane_key(&d, 0), None);
    }
}
