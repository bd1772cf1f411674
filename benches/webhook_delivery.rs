//! Signed webhook deliveries to local HTTP endpoints, and how much one slow
//! endpoint moves the others' latency.
//!
//! The endpoints are axum servers in this process on 127.0.0.1 (the SSRF
//! guard is told to allow `127.0.0.1/32`, as the webhook tests do). Every
//! endpoint's first request is checked with the SDK's verifier.
//!
//! - **Throughput**: `BENCH_WEBHOOK_EVENTS` (default 5 000) events of one
//!   account with 4 subscriptions go through the SDK's webhook service on the
//!   memory bus (fan-out group → one delivery message per subscription →
//!   delivery group of 10 workers → signed POST); the figure is deliveries
//!   per second until every endpoint has its requests. Baseline: raw reqwest
//!   POSTs of the same bodies with the same HMAC signing headers from 10
//!   concurrent tasks (the delivery group's concurrency), same endpoints.
//! - **Isolation**: events at `BENCH_WEBHOOK_RATE` per second (default 100)
//!   for `BENCH_WEBHOOK_SECONDS` (default 5) to the same 4 endpoints, once
//!   alone and once with a fifth endpoint that answers after 2 s; the figure
//!   is the 4 fast endpoints' p99 latency (publish to request received) with
//!   the slow one, against their p99 without it.
//!
//! Run: `cargo bench --bench webhook_delivery --features memory,webhooks`.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{env_usize, full_run, median, per_second, runtime, Row};
use tokio::sync::Notify;
use waitlist::events::{topics, Envelope, WebhookEvent};
use waitlist::prelude::*;
use waitlist::webhooks::{
    publish_webhook_event, signature_header, MemoryDeliveryLog, MemorySubscriptionStore, UrlGuard,
    WebhookConfig, WebhookSecret, WebhookService, WebhookSubscription, WebhookVerifier, HEADER_ID,
    HEADER_SIGNATURE, HEADER_TIMESTAMP,
};

/// What the endpoints received.
#[derive(Default)]
struct Received {
    /// Requests so far, over every endpoint.
    total: AtomicUsize,
    /// Fires when `total` reaches `expect`.
    done: Notify,
    expect: AtomicUsize,
    /// (endpoint, `webhook-id`, when) of every request, if recorded.
    arrivals: Mutex<Vec<(usize, String, Instant)>>,
    /// The first request of each endpoint, for the signature check.
    first: Mutex<HashMap<usize, (HeaderMap, Bytes)>>,
}

#[derive(Clone)]
struct Endpoint {
    index: usize,
    delay: Duration,
    record: bool,
    received: Arc<Received>,
}

async fn receive(State(e): State<Endpoint>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = Instant::now();
    if e.record {
        let id = headers
            .get(HEADER_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        e.received
            .arrivals
            .lock()
            .expect("arrivals")
            .push((e.index, id, now));
    }
    {
        let mut first = e.received.first.lock().expect("first");
        first.entry(e.index).or_insert((headers, body));
    }
    let total = e.received.total.fetch_add(1, Ordering::AcqRel) + 1;
    if total == e.received.expect.load(Ordering::Acquire) {
        e.received.done.notify_one();
    }
    if !e.delay.is_zero() {
        tokio::time::sleep(e.delay).await;
    }
    StatusCode::OK
}

/// Starts one endpoint on 127.0.0.1:0; returns its URL.
async fn endpoint(e: Endpoint) -> String {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(e);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// `fast` endpoints answering at once and `slow` ones after 2 s.
async fn endpoints(
    received: &Arc<Received>,
    fast: usize,
    slow: usize,
    record: bool,
) -> Vec<String> {
    let mut urls = Vec::new();
    for index in 0..fast + slow {
        let delay = if index < fast {
            Duration::ZERO
        } else {
            Duration::from_secs(2)
        };
        urls.push(
            endpoint(Endpoint {
                index,
                delay,
                record,
                received: Arc::clone(received),
            })
            .await,
        );
    }
    urls
}

fn event(i: usize) -> WebhookEvent {
    Envelope {
        id: format!("evt-{i:08}"),
        event_type: "user.created".into(),
        account_id: "account-1".into(),
        campaign_id: "campaign-1".into(),
        data: serde_json::json!({"user_id": format!("user-{i}"), "email": "user@example.com", "position": i}),
        timestamp: chrono::Utc::now(),
    }
}

/// The SDK's webhook service on a memory bus, delivering to `urls`.
struct Sdk {
    publisher: EventPublisher,
    workers: waitlist::runtime::Workers,
}

async fn sdk(urls: &[String], secret: &WebhookSecret) -> Sdk {
    let bus = MemoryBus::new();
    let publisher = EventPublisher::new(Arc::new(bus.clone()));
    let store = Arc::new(MemorySubscriptionStore::new());
    for (i, url) in urls.iter().enumerate() {
        store.insert(WebhookSubscription::new(
            format!("sub-{i}"),
            "account-1",
            url,
            secret.clone(),
        ));
    }
    let config = WebhookConfig {
        guard: UrlGuard::new().allow_net("127.0.0.1/32").expect("valid"),
        endpoint_concurrency: env_usize(
            "BENCH_WEBHOOK_ENDPOINT_CONCURRENCY",
            WebhookConfig::default().endpoint_concurrency,
        ),
        ..WebhookConfig::default()
    };
    let log = Arc::new(MemoryDeliveryLog::new());
    let service = WebhookService::new(config, store, log, publisher.clone()).expect("client");
    let workers = service.start(Arc::new(bus)).await.expect("start");
    Sdk { publisher, workers }
}

/// Checks the first request of every endpoint with the SDK's verifier.
fn verify_first(received: &Received, secret: &WebhookSecret, endpoints: usize) {
    let first = received.first.lock().expect("first");
    for i in 0..endpoints {
        let (headers, body) = first.get(&i).expect("every endpoint got a request");
        WebhookVerifier::new(secret.clone())
            .verify_headers(headers, body)
            .expect("the delivery verifies");
    }
}

/// Deliveries per second of the SDK: `events` events to 4 endpoints.
async fn sdk_throughput(events: usize) -> f64 {
    let received = Arc::new(Received::default());
    received.expect.store(events * 4, Ordering::Release);
    let urls = endpoints(&received, 4, 0, false).await;
    let secret = WebhookSecret::generate();
    let s = sdk(&urls, &secret).await;
    let all = received.done.notified();
    tokio::pin!(all);
    all.as_mut().enable();
    let started = Instant::now();
    for i in 0..events {
        publish_webhook_event(&s.publisher, topics::WEBHOOK_EVENTS, &event(i))
            .await
            .expect("publish");
    }
    all.await;
    let rate = (events * 4) as f64 / started.elapsed().as_secs_f64();
    s.workers.shutdown(Duration::from_secs(5)).await;
    verify_first(&received, &secret, 4);
    rate
}

/// Deliveries per second of raw reqwest with the same signing, 10 tasks.
async fn raw_throughput(events: usize) -> f64 {
    let received = Arc::new(Received::default());
    let n = events * 4;
    received.expect.store(n, Ordering::Release);
    let urls = Arc::new(endpoints(&received, 4, 0, false).await);
    let secret = WebhookSecret::generate();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (client, urls, next, secret) = (
                client.clone(),
                Arc::clone(&urls),
                Arc::clone(&next),
                secret.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let e = event(i / 4);
                    let body = serde_json::to_vec(&e).expect("encode");
                    let ts = chrono::Utc::now().timestamp();
                    let signature =
                        signature_header(std::slice::from_ref(&secret), &e.id, ts, &body);
                    let response = client
                        .post(&urls[i % 4])
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .header(HEADER_ID, &e.id)
                        .header(HEADER_TIMESTAMP, ts.to_string())
                        .header(HEADER_SIGNATURE, signature)
                        .body(body)
                        .send()
                        .await
                        .expect("post");
                    assert!(response.status().is_success());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    verify_first(&received, &secret, 4);
    rate
}

/// The 4 fast endpoints' latencies (publish → received), in ms, with `slow`
/// 2-second endpoints beside them; `None` for a delivery still missing after
/// the run's deadline.
async fn latencies(rate: usize, seconds: usize, slow: usize) -> Vec<Option<f64>> {
    let events = rate * seconds;
    let received = Arc::new(Received::default());
    let urls = endpoints(&received, 4, slow, true).await;
    let secret = WebhookSecret::generate();
    let s = sdk(&urls, &secret).await;
    let mut published = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    for i in 0..events {
        tick.tick().await;
        let e = event(i);
        published.insert(e.id.clone(), Instant::now());
        publish_webhook_event(&s.publisher, topics::WEBHOOK_EVENTS, &e)
            .await
            .expect("publish");
    }
    // Every fast delivery, or a deadline well past what a fast endpoint needs.
    let deadline = Instant::now() + Duration::from_secs(20);
    let fast_received = || {
        received
            .arrivals
            .lock()
            .expect("arrivals")
            .iter()
            .filter(|(e, _, _)| *e < 4)
            .count()
    };
    while fast_received() < events * 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.workers.shutdown(Duration::from_secs(3)).await;
    let arrivals = received.arrivals.lock().expect("arrivals");
    let mut at: HashMap<(usize, &str), Instant> = HashMap::new();
    for (e, id, when) in arrivals.iter().filter(|(e, _, _)| *e < 4) {
        at.entry((*e, id.as_str())).or_insert(*when);
    }
    let mut out = Vec::with_capacity(events * 4);
    for (id, sent) in &published {
        for e in 0..4 {
            out.push(
                at.get(&(e, id.as_str()))
                    .map(|r| r.duration_since(*sent).as_secs_f64() * 1000.0),
            );
        }
    }
    out
}

/// The p99 of `v` (a missing delivery counts as slower than any).
fn p99(v: &[Option<f64>]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(b),
        (None, None) => std::cmp::Ordering::Equal,
        (None, _) => std::cmp::Ordering::Greater,
        (_, None) => std::cmp::Ordering::Less,
    });
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "> 20 s (missing)".to_owned(), |v| format!("{v:.1} ms"))
}

fn main() {
    let full = full_run();
    let events = if full {
        env_usize("BENCH_WEBHOOK_EVENTS", 5_000)
    } else {
        50
    };
    let rounds = if full {
        env_usize("BENCH_ROUNDS", 3)
    } else {
        1
    };
    let (rate, seconds) = if full {
        (
            env_usize("BENCH_WEBHOOK_RATE", 100),
            env_usize("BENCH_WEBHOOK_SECONDS", 5),
        )
    } else {
        (20, 1)
    };
    let rt = runtime();
    let (mut sdk_rates, mut raw_rates, mut alone, mut beside) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    rt.block_on(async {
        sdk_throughput(events.min(200)).await; // warm-up
        for _ in 0..rounds {
            sdk_rates.push(sdk_throughput(events).await);
            raw_rates.push(raw_throughput(events).await);
        }
        for _ in 0..rounds {
            alone.push(p99(&latencies(rate, seconds, 0).await));
            beside.push(p99(&latencies(rate, seconds, 1).await));
        }
    });
    let (sdk_rate, raw_rate) = (median(sdk_rates), median(raw_rates));
    // A round with missing deliveries counts as infinitely slow.
    let med = |v: Vec<Option<f64>>| {
        let m = median(v.into_iter().map(|x| x.unwrap_or(f64::INFINITY)).collect());
        m.is_finite().then_some(m)
    };
    let (alone, beside) = (med(alone), med(beside));
    println!("webhook_delivery: {events} events × 4 endpoints, {rounds} rounds, medians");
    println!(
        "  waitlist webhook service (10 delivery workers): {:>10}",
        per_second(sdk_rate)
    );
    println!(
        "  raw reqwest, same signing, 10 tasks:            {:>10}",
        per_second(raw_rate)
    );
    println!(
        "  p99 of 4 fast endpoints at {rate} events/s for {seconds} s: {} alone, {} beside a 2 s endpoint",
        ms(alone),
        ms(beside)
    );
    Row {
        what: "webhooks: signed deliveries to 4 local endpoints (vs raw reqwest, same signing, 10 tasks)",
        sdk: per_second(sdk_rate),
        baseline: per_second(raw_rate),
        ratio: Some(sdk_rate / raw_rate),
        target: "≥ 5,000/s",
        met: full.then_some(sdk_rate >= 5_000.0),
    }
    .print();
    let change = match (alone, beside) {
        (Some(a), Some(b)) => Some(b / a),
        _ => None,
    };
    Row {
        what: &format!(
            "webhooks: p99 of 4 endpoints at {rate} events/s beside a 2-second endpoint (vs without it)"
        ),
        sdk: ms(beside),
        baseline: ms(alone),
        ratio: change,
        target: "moves p99 by < 20 %",
        met: full.then_some(change.is_some_and(|c| c < 1.2)),
    }
    .print();
}
