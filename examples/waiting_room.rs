//! The waiting room on the in-memory bus: two checkout slots, three users;
//! a completed checkout frees a slot and admits the third user, whose
//! checkout token verifies.
//!
//! `cargo run --example waiting_room`

use std::sync::Arc;
use std::time::Duration;

use waitlist::events::{topics, CheckoutCompleted, QueueReady};
use waitlist::prelude::*;
use waitlist::waitroom::{
    CheckoutConsumer, CheckoutTokenSigner, MemoryWaitroomStore, RecordingInventory,
    WaitroomCheckoutHandler, WaitroomService,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus = MemoryBus::new();
    let publisher = EventPublisher::new(Arc::new(bus.clone()));
    let store = Arc::new(MemoryWaitroomStore::new());
    let signer = CheckoutTokenSigner::new(b"example key: use 32 random bytes!".to_vec())?;
    let waitroom = WaitroomService::builder(store, signer)
        .publisher(publisher.clone())
        .checkout_slots(2)
        .build();
    // Whoever is admitted hears about it on QUEUE_READY.
    let ready = ConsumerGroup::new(
        topics::QUEUE_READY,
        "checkout-service",
        Router::new().on_flat(handler_fn(|e: QueueReady, _| async move {
            println!(
                "QUEUE_READY  {} may check out until {}",
                e.user_id, e.expires_at
            );
            Outcome::Done
        })),
    )
    .start(Arc::new(bus.clone()))
    .await?;
    let handler =
        WaitroomCheckoutHandler::new(waitroom.clone(), Arc::new(RecordingInventory::new()));
    let consumer = CheckoutConsumer::new(Arc::new(handler))
        .start(Arc::new(bus.clone()))
        .await?;

    let mut sessions = Vec::new();
    for user in ["ada", "grace", "alan"] {
        let joined = waitroom.join(user, "concert-2024").await?;
        println!(
            "joined       {user} at position {} ({:?})",
            joined.position, joined.session.status
        );
        sessions.push(joined.session);
    }

    // Ada pays: the checkout service publishes CHECKOUT_COMPLETED.
    let done = CheckoutCompleted {
        order_id: "order-1".into(),
        session_id: sessions[0].id.clone(),
        user_id: "ada".into(),
        event_id: "concert-2024".into(),
        tickets: vec![],
        payment_id: "pay-1".into(),
        amount: 150.0,
        timestamp: chrono::Utc::now(),
    };
    publisher
        .publish_flat(topics::CHECKOUT_COMPLETED, &done)
        .await?;

    let alan = &sessions[2].id;
    let token = loop {
        let s = waitroom.sessions().get(alan).await?;
        if let Some(token) = s.checkout_token {
            break token;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let claims = waitroom.verify_checkout_token(&token)?;
    println!(
        "token        verified for {} (session {})",
        claims.sub, claims.sid
    );

    tokio::time::sleep(Duration::from_millis(50)).await;
    consumer.shutdown(Duration::from_secs(5)).await;
    ready.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
