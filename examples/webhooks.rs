//! Webhook delivery on the in-memory bus to a local receiver that verifies
//! the Standard Webhooks signature of what it gets.
//!
//! `cargo run --example webhooks --features webhooks`

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use waitlist::events::{topics, Envelope};
use waitlist::prelude::*;
use waitlist::webhooks::{
    publish_webhook_event, MemoryDeliveryLog, MemorySubscriptionStore, UrlGuard, WebhookConfig,
    WebhookSecret, WebhookService, WebhookSubscription, WebhookVerifier,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The customer's endpoint: verifies every delivery.
    let secret = WebhookSecret::generate();
    let verifier = WebhookVerifier::new(secret.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let verifier = verifier.clone();
            async move {
                match verifier.verify_headers(&headers, &body) {
                    Ok(()) => {
                        println!("receiver: verified {}", String::from_utf8_lossy(&body));
                        StatusCode::NO_CONTENT
                    }
                    Err(e) => {
                        println!("receiver: rejected ({e})");
                        StatusCode::UNAUTHORIZED
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let bus = MemoryBus::new();
    let publisher = EventPublisher::new(Arc::new(bus.clone()));
    let subscriptions = Arc::new(MemorySubscriptionStore::new());
    subscriptions.insert(WebhookSubscription::new("sub-1", "account-1", url, secret));
    let log = Arc::new(MemoryDeliveryLog::new());
    let config = WebhookConfig {
        // The receiver is on loopback, which the SSRF guard refuses by default.
        guard: UrlGuard::new().allow_net("127.0.0.1/32")?,
        ..WebhookConfig::default()
    };
    let service = WebhookService::new(config, subscriptions, log.clone(), publisher.clone())?;
    let workers = service.start(Arc::new(bus.clone())).await?;

    let event = Envelope::<serde_json::Value> {
        id: "550e8400-e29b-41d4-a716-446655440000".into(),
        event_type: "user.created".into(),
        account_id: "account-1".into(),
        campaign_id: "campaign-1".into(),
        data: serde_json::json!({"user_id": "u1", "email": "user@example.com", "position": 42}),
        timestamp: chrono::Utc::now(),
    };
    publish_webhook_event(&publisher, topics::WEBHOOK_EVENTS, &event).await?;

    while log.all().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for a in log.all() {
        println!(
            "history: attempt {} -> {:?} in {:?} ({:?})",
            a.attempt, a.status_code, a.latency, a.status
        );
    }
    workers.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
