//! Webhook delivery through the memory transport to real HTTP servers
//! started inside the tests; every received delivery's signature is checked
//! with the SDK's verifier.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use waitlist::conformance::{wait_until, WAIT};
use waitlist::events::{topics, Envelope, WebhookEvent};
use waitlist::prelude::*;
use waitlist::runtime::RetryPolicy;
use waitlist::sync::lock;
use waitlist::webhooks::{
    publish_webhook_event, AttemptStatus, MemoryDeliveryLog, MemorySubscriptionStore, UrlGuard,
    WebhookConfig, WebhookRetry, WebhookSecret, WebhookService, WebhookSubscription,
    WebhookVerifier, WEBHOOK_DELIVERIES, WEBHOOK_SENDERS,
};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

/// What the receiver answers to its n-th request (0-based).
type Script = Arc<dyn Fn(usize) -> (StatusCode, Option<&'static str>, Duration) + Send + Sync>;

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Script,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let n = {
        let mut got = lock(&r.got);
        got.push(Received {
            at: Instant::now(),
            headers,
            body,
        });
        got.len() - 1
    };
    let (status, retry_after, delay) = (r.script)(n);
    tokio::time::sleep(delay).await;
    let mut h = HeaderMap::new();
    if let Some(v) = retry_after {
        h.insert("retry-after", axum::http::HeaderValue::from_static(v));
    }
    (status, h)
}

/// Starts a receiver on 127.0.0.1:0; returns its URL and what it received.
async fn receiver(script: Script) -> (String, Arc<Mutex<Vec<Received>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(Receiver {
            got: Arc::clone(&got),
            script,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

fn always(status: StatusCode) -> Script {
    Arc::new(move |_| (status, None, Duration::ZERO))
}

fn received(got: &Arc<Mutex<Vec<Received>>>) -> Vec<Received> {
    lock(got).clone()
}

struct Stack {
    bus: MemoryBus,
    publisher: EventPublisher,
    subs: Arc<MemorySubscriptionStore>,
    log: Arc<MemoryDeliveryLog>,
    workers: waitlist::runtime::Workers,
}

fn fast_config() -> WebhookConfig {
    WebhookConfig {
        guard: UrlGuard::new().allow_net("127.0.0.1/32").expect("valid"),
        retry: WebhookRetry::new(RetryPolicy::exponential(
            5,
            Duration::from_millis(20),
            Duration::from_millis(100),
        )),
        timeout: Duration::from_secs(5),
        ..WebhookConfig::default()
    }
}

async fn stack(config: WebhookConfig, subs: Vec<WebhookSubscription>) -> Stack {
    let bus = MemoryBus::new();
    let publisher = EventPublisher::new(Arc::new(bus.clone()));
    let store = Arc::new(MemorySubscriptionStore::new());
    for s in subs {
        store.insert(s);
    }
    let log = Arc::new(MemoryDeliveryLog::new());
    let service =
        WebhookService::new(config, store.clone(), log.clone(), publisher.clone()).expect("client");
    let workers = service.start(Arc::new(bus.clone())).await.expect("start");
    Stack {
        bus,
        publisher,
        subs: store,
        log,
        workers,
    }
}

fn event(id: &str, ty: &str) -> WebhookEvent {
    Envelope {
        id: id.into(),
        event_type: ty.into(),
        account_id: "account-1".into(),
        campaign_id: "campaign-1".into(),
        data: serde_json::json!({"user_id": "u1", "email": "user@example.com", "position": 42}),
        timestamp: chrono::Utc::now(),
    }
}

async fn publish(s: &Stack, e: &WebhookEvent) {
    publish_webhook_event(&s.publisher, topics::WEBHOOK_EVENTS, e)
        .await
        .expect("publish");
}

/// The subscription of the tests with one endpoint.
fn subscription(url: &str, secret: WebhookSecret) -> WebhookSubscription {
    WebhookSubscription::new("sub-1", "account-1", url, secret)
}

impl Stack {
    /// Waits until a failing endpoint got `sub-1` disabled.
    async fn until_disabled(&self) {
        wait_until("disabled", WAIT, || {
            self.subs.snapshot("sub-1").is_some_and(|s| !s.active)
        })
        .await;
    }

    /// Waits until both groups hold nothing (queued, delayed or in flight):
    /// everything published so far has been handled. The event group acks
    /// an event after publishing its deliveries, so it is checked first.
    async fn until_drained(&self) {
        wait_until("both webhook groups drained", WAIT, || {
            let events = self
                .bus
                .group_len(topics::WEBHOOK_EVENTS, groups::WEBHOOK_CONSUMERS);
            let deliveries = self.bus.group_len(WEBHOOK_DELIVERIES, WEBHOOK_SENDERS);
            events == Some(0) && deliveries == Some(0)
        })
        .await;
    }

    /// Waits until the delivery group dead-lettered one delivery.
    async fn until_dead_lettered(&self) {
        wait_until("dead-lettered", WAIT, || {
            self.workers
                .group(WEBHOOK_SENDERS)
                .expect("delivery group")
                .stats()
                .dead_lettered
                == 1
        })
        .await;
    }
}

#[tokio::test]
async fn deliveries_are_signed_with_every_rotated_secret_and_verify() {
    let (url, got) = receiver(always(StatusCode::OK)).await;
    let (old, new) = (WebhookSecret::generate(), WebhookSecret::generate());
    let sub = subscription(&url, old.clone())
        .with_secret(new.clone())
        .with_event_types(["user.created"]);
    let filtered = WebhookSubscription::new("sub-2", "account-1", &url, old.clone())
        .with_event_types(["referral.*"]);
    let s = stack(fast_config(), vec![sub, filtered]).await;
    let e = event("evt-1", "user.created");
    publish(&s, &e).await;
    wait_until("one delivery", WAIT, || received(&got).len() == 1).await;
    wait_until("history", WAIT, || !s.log.all().is_empty()).await;

    let r = &received(&got)[0];
    assert_eq!(r.headers["webhook-id"], "evt-1");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.headers["webhook-signature"]
            .to_str()
            .expect("ascii")
            .split(' ')
            .count(),
        2
    );
    for secret in [old, new] {
        let verifier = WebhookVerifier::new(secret);
        assert_eq!(verifier.verify_headers(&r.headers, &r.body), Ok(()));
    }
    let stranger = WebhookVerifier::new(WebhookSecret::generate());
    assert!(stranger.verify_headers(&r.headers, &r.body).is_err());
    let body: WebhookEvent = serde_json::from_slice(&r.body).expect("envelope JSON");
    assert_eq!(body, e);

    let history = s.log.all();
    assert_eq!(history.len(), 1, "the referral.* subscription got nothing");
    assert_eq!(history[0].subscription_id, "sub-1");
    assert_eq!(history[0].status_code, Some(200));
    assert_eq!(history[0].status, AttemptStatus::Delivered);
    assert_eq!(history[0].next_attempt_at, None);
    s.workers.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn failed_attempt_is_retried_after_the_endpoints_retry_after() {
    let script: Script = Arc::new(|n| match n {
        0 => (StatusCode::SERVICE_UNAVAILABLE, Some("1"), Duration::ZERO),
        _ => (StatusCode::OK, None, Duration::ZERO),
    });
    let (url, got) = receiver(script).await;
    let secret = WebhookSecret::generate();
    let s = stack(fast_config(), vec![subscription(&url, secret.clone())]).await;
    publish(&s, &event("evt-1", "user.created")).await;
    wait_until("two attempts", WAIT, || s.log.all().len() == 2).await;

    let got = received(&got);
    assert_eq!(got.len(), 2);
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, not after Retry-After: 1"
    );
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    for r in &got {
        assert_eq!(
            WebhookVerifier::new(secret.clone()).verify_headers(&r.headers, &r.body),
            Ok(())
        );
    }
    let history = s.log.all();
    assert_eq!(history[0].attempt, 1);
    assert_eq!(history[0].status_code, Some(503));
    assert_eq!(history[0].status, AttemptStatus::Retrying);
    assert_eq!(
        history[0].error.as_deref(),
        Some("HTTP 503 Service Unavailable")
    );
    let next = history[0].next_attempt_at.expect("next attempt planned");
    assert!((next - history[0].at).num_milliseconds() >= 950);
    assert_eq!(history[1].attempt, 2);
    assert_eq!(history[1].status, AttemptStatus::Delivered);
    assert_eq!(
        s.subs.snapshot("sub-1").map(|s| s.consecutive_failures),
        Some(0)
    );
    s.workers.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn gone_endpoint_is_disabled_and_never_called_again() {
    let (url, got) = receiver(always(StatusCode::GONE)).await;
    let s = stack(
        fast_config(),
        vec![subscription(&url, WebhookSecret::generate())],
    )
    .await;
    publish(&s, &event("evt-1", "user.created")).await;
    s.until_disabled().await;
    publish(&s, &event("evt-2", "user.created")).await;
    s.until_drained().await;

    assert_eq!(received(&got).len(), 1);
    let sub = s.subs.snapshot("sub-1").expect("exists");
    assert!(sub.disabled_reason.unwrap_or_default().contains("410"));
    let history = s.log.all();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status_code, Some(410));
    assert_eq!(history[0].status, AttemptStatus::Failed);
    s.workers.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn endpoint_failing_the_configured_count_in_a_row_is_disabled() {
    let (url, got) = receiver(always(StatusCode::INTERNAL_SERVER_ERROR)).await;
    let config = WebhookConfig {
        disable_after_failures: 3,
        retry: WebhookRetry::new(RetryPolicy::fixed(10, Duration::from_millis(20))),
        ..fast_config()
    };
    let s = stack(config, vec![subscription(&url, WebhookSecret::generate())]).await;
    publish(&s, &event("evt-1", "user.created")).await;
    s.until_disabled().await;
    s.until_dead_lettered().await;
    s.until_drained().await;

    assert_eq!(received(&got).len(), 3);
    let history = s.log.all();
    let statuses: Vec<_> = history.iter().map(|a| a.status).collect();
    use AttemptStatus::*;
    assert_eq!(statuses, vec![Retrying, Retrying, Failed]);
    assert!(history.iter().all(|a| a.status_code == Some(500)));
    let dlq = s
        .bus
        .dead_letters(
            waitlist::webhooks::WEBHOOK_DELIVERIES,
            waitlist::webhooks::WEBHOOK_SENDERS,
        )
        .await
        .expect("dlq")
        .list(10)
        .await
        .expect("list");
    assert_eq!(dlq.len(), 1);
    let reason = &dlq[0].headers["waitlist-dead-letter-reason"];
    assert!(reason.contains("disabled after 3"), "{reason}");
    s.workers.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn slow_endpoint_does_not_delay_the_others() {
    let slow_script: Script = Arc::new(|_| (StatusCode::OK, None, Duration::from_secs(3)));
    let (slow_url, _slow) = receiver(slow_script).await;
    let (fast_url, fast) = receiver(always(StatusCode::OK)).await;
    let secret = WebhookSecret::generate();
    let s = stack(
        fast_config(),
        vec![
            WebhookSubscription::new("a-slow", "account-1", &slow_url, secret.clone()),
            WebhookSubscription::new("b-fast", "account-1", &fast_url, secret.clone()),
        ],
    )
    .await;
    let started = Instant::now();
    for i in 0..3 {
        publish(&s, &event(&format!("evt-{i}"), "user.created")).await;
    }
    wait_until("three fast deliveries", WAIT, || received(&fast).len() == 3).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "fast endpoint waited {took:?}"
    );
    s.workers.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn loopback_endpoint_is_refused_by_the_default_ssrf_guard() {
    let (url, got) = receiver(always(StatusCode::OK)).await;
    let config = WebhookConfig {
        guard: UrlGuard::new(),
        ..fast_config()
    };
    let s = stack(config, vec![subscription(&url, WebhookSecret::generate())]).await;
    publish(&s, &event("evt-1", "user.created")).await;
    wait_until("refused attempt", WAIT, || !s.log.all().is_empty()).await;
    s.until_dead_lettered().await;

    assert!(received(&got).is_empty(), "the guard let a request through");
    let history = s.log.all();
    assert_eq!(history.len(), 1, "a refused URL is not retried");
    assert_eq!(history[0].status, AttemptStatus::Failed);
    assert!(history[0]
        .error
        .as_deref()
        .unwrap_or_default()
        .contains("forbidden"));
    s.workers.shutdown(Duration::from_secs(5)).await;
}
