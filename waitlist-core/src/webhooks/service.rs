//! Wiring: configuration, the two consumer groups and the event publisher.

use std::sync::Arc;
use std::time::Duration;

use super::client::{ClientBuildError, WebhookClient};
use super::delivery::DeliveryHandler;
use super::fanout::FanOutHandler;
use super::{DeliveryLog, SubscriptionStore, UrlGuard, WebhookDelivery, WebhookRetry};
use crate::events::{groups, topics, WebhookEvent};
use crate::publish::EventPublisher;
use crate::runtime::{ConsumerGroup, MemoryIdempotencyStore, Router, Workers};
use crate::transport::OrderingGuarantee;
use crate::{headers, Message, Queue, Result};

/// Topic of the per-subscription delivery messages.
pub const WEBHOOK_DELIVERIES: &str = "webhook-deliveries";
/// Consumer group making the HTTP attempts.
pub const WEBHOOK_SENDERS: &str = "webhook-senders";

/// Settings of webhook delivery; [`Default`] gives the documented values.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Topic of webhook events (`webhook-events`).
    pub events_topic: String,
    /// Group fanning events out (`webhook-consumers`, env `KAFKA_CONSUMER_GROUP`).
    pub events_group: String,
    /// Workers of the fan-out group (10, env `KAFKA_WORKER_POOL_SIZE`).
    pub workers: usize,
    /// Topic of delivery messages (`webhook-deliveries`).
    pub deliveries_topic: String,
    /// Group making the HTTP attempts (`webhook-senders`).
    pub deliveries_group: String,
    /// Workers of the delivery group: concurrent HTTP attempts (10).
    pub delivery_workers: usize,
    /// Most attempts in flight to one endpoint at once (4; 0: no limit).
    ///
    /// Deliveries of a subscription are spread over this many lanes (the
    /// message key `<subscription id>/<lane>`, the lane a hash of the
    /// delivery id) and the delivery group runs in per-key order, so an
    /// endpoint that answers slowly holds at most this many of the
    /// [`delivery_workers`](Self::delivery_workers) while its other
    /// deliveries wait in the transport, not in a worker: keep it well below
    /// `delivery_workers`. Within a lane deliveries go out in order, and a
    /// delivery waiting for its retry holds its lane (the endpoint's other
    /// lanes go on). With 0 the delivery group is unordered and a slow
    /// endpoint can occupy every worker.
    pub endpoint_concurrency: usize,
    /// Time an endpoint has to answer with a 2xx (15 s).
    pub timeout: Duration,
    /// Retry schedule (8 attempts, exponential from 5 s, jitter, Retry-After).
    pub retry: WebhookRetry,
    /// Failed attempts in a row after which an endpoint is disabled (20; 0 never).
    pub disable_after_failures: u32,
    /// `User-Agent` of the requests.
    pub user_agent: String,
    /// SSRF guard (only public addresses).
    pub guard: UrlGuard,
    /// How long delivered ids are remembered to drop duplicates (24 h).
    pub dedupe_ttl: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            events_topic: topics::WEBHOOK_EVENTS.to_owned(),
            events_group: groups::WEBHOOK_CONSUMERS.to_owned(),
            workers: topics::DEFAULT_WORKER_POOL_SIZE,
            deliveries_topic: WEBHOOK_DELIVERIES.to_owned(),
            deliveries_group: WEBHOOK_SENDERS.to_owned(),
            delivery_workers: 10,
            endpoint_concurrency: 4,
            timeout: Duration::from_secs(15),
            retry: WebhookRetry::default(),
            disable_after_failures: 20,
            user_agent: concat!("waitlist-webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
            guard: UrlGuard::new(),
            dedupe_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

impl WebhookConfig {
    /// The defaults with `KAFKA_CONSUMER_GROUP` and `KAFKA_WORKER_POOL_SIZE`
    /// from the environment.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for an invalid pool size.
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            events_group: topics::webhook_consumer_group_from_env(),
            workers: topics::worker_pool_size_from_env()?,
            ..Self::default()
        })
    }
}

/// Webhook delivery: fans events out to subscriptions and delivers them.
#[derive(Debug, Clone)]
pub struct WebhookService {
    config: WebhookConfig,
    subscriptions: Arc<dyn SubscriptionStore>,
    log: Arc<dyn DeliveryLog>,
    client: WebhookClient,
    publisher: EventPublisher,
}

impl WebhookService {
    /// Delivers events of `subscriptions`' accounts, recording attempts in
    /// `log`; `publisher` enqueues the per-subscription deliveries.
    ///
    /// # Errors
    /// [`ClientBuildError`] when the HTTP client cannot be built.
    pub fn new(
        config: WebhookConfig,
        subscriptions: Arc<dyn SubscriptionStore>,
        log: Arc<dyn DeliveryLog>,
        publisher: EventPublisher,
    ) -> std::result::Result<Self, ClientBuildError> {
        let client = WebhookClient::new(config.timeout, &config.user_agent, config.guard.clone())?;
        Ok(Self {
            config,
            subscriptions,
            log,
            client,
            publisher,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// The fan-out group: `webhook-consumers` on `webhook-events`, every
    /// event type, in order per account.
    pub fn fan_out_group(&self) -> ConsumerGroup {
        let c = &self.config;
        let router = Router::new().fallback(FanOutHandler {
            subscriptions: Arc::clone(&self.subscriptions),
            publisher: self.publisher.clone(),
            deliveries_topic: c.deliveries_topic.clone(),
            lanes: c.endpoint_concurrency,
        });
        ConsumerGroup::new(&c.events_topic, &c.events_group, router)
            .workers(c.workers)
            .ordering(OrderingGuarantee::PerKey)
    }

    /// The delivery group: one HTTP attempt per delivery, retried with the
    /// schedule through the transport's delayed redelivery; in per-key order
    /// (at most [`WebhookConfig::endpoint_concurrency`] attempts per
    /// endpoint) unless that is 0.
    pub fn delivery_group(&self) -> ConsumerGroup {
        let c = &self.config;
        let handler = DeliveryHandler {
            client: self.client.clone(),
            subscriptions: Arc::clone(&self.subscriptions),
            log: Arc::clone(&self.log),
            retry: c.retry.clone(),
            disable_after: c.disable_after_failures,
        };
        let router = Router::new().on_topic::<WebhookDelivery, _>(&c.deliveries_topic, handler);
        ConsumerGroup::new(&c.deliveries_topic, &c.deliveries_group, router)
            .workers(c.delivery_workers)
            .retry(c.retry.policy.clone())
            .idempotency(Arc::new(MemoryIdempotencyStore::new()), c.dedupe_ttl)
            .ordering(if c.endpoint_concurrency > 0 {
                OrderingGuarantee::PerKey
            } else {
                OrderingGuarantee::None
            })
    }

    /// Starts both groups on `queue`: the delivery group first, so that
    /// fanned-out deliveries always have a consumer.
    ///
    /// # Errors
    /// If subscribing fails (a group already started is stopped).
    pub async fn start(&self, queue: Arc<dyn Queue>) -> Result<Workers> {
        Workers::start(queue, [self.delivery_group(), self.fan_out_group()]).await
    }
}

/// Publishes a webhook event to `topic`, keyed by `account_id` (not
/// `campaign_id`), so the events of one account keep their order.
///
/// # Errors
/// Encoding or transport errors.
pub async fn publish_webhook_event(
    publisher: &EventPublisher,
    topic: &str,
    event: &WebhookEvent,
) -> Result<()> {
    let payload = serde_json::to_vec(event)?;
    let message = Message::new(topic, payload)
        .with_id(event.id.clone())
        .with_key(event.account_id.clone())
        .with_header(headers::EVENT_TYPE, event.event_type.clone())
        .with_header(headers::CONTENT_TYPE, "application/json");
    publisher.publish(vec![message]).await
}
