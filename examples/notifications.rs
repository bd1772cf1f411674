//! Notification workers on the in-memory bus: one email and one push
//! notification rendered from Handlebars templates and sent through the
//! recording providers; a duplicate `message_id` sends nothing.
//!
//! `cargo run --example notifications`

use std::sync::Arc;
use std::time::Duration;

use waitlist::events::{Channel, NotificationEvent, NotificationPriority};
use waitlist::notifications::{
    ChannelSender, MemoryNotificationStore, Notification, NotificationService, NotificationTemplate,
};
use waitlist::prelude::*;
use waitlist::providers::{RecordingEmailProvider, RecordingPushProvider};

fn event(id: &str, channel: Channel, template: &str) -> NotificationEvent {
    let payload = serde_json::json!({"user_name": "John Doe"});
    NotificationEvent {
        notification_id: id.into(),
        message_id: format!("msg-{id}"),
        target_user_id: "user_123".into(),
        channel,
        template_id: template.into(),
        payload: payload.as_object().cloned().unwrap_or_default(),
        priority: NotificationPriority::Normal,
        metadata: Default::default(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus = MemoryBus::new();
    let publisher = EventPublisher::new(Arc::new(bus.clone()));
    let store = Arc::new(MemoryNotificationStore::new());
    store.insert_template(NotificationTemplate::new(
        "tmpl_welcome",
        Some("Welcome, {{user_name}}"),
        "<p>Hello {{user_name}}, you are on the list.</p>",
    ));
    store.insert_template(NotificationTemplate::new(
        "tmpl_push",
        Some("Hi"),
        "{{user_name}}, it's your turn",
    ));
    store.insert(Notification::new(
        "notif_1",
        "user_123",
        Channel::Email,
        "john@example.com",
    ));
    store.insert(Notification::new(
        "notif_2",
        "user_123",
        Channel::Push,
        "device-token-1",
    ));

    let email = Arc::new(RecordingEmailProvider::new());
    let push = Arc::new(RecordingPushProvider::new());
    let workers = NotificationService::new(store.clone(), store.clone())
        .start(
            Arc::new(bus.clone()),
            [
                ChannelSender::email(email.clone()),
                ChannelSender::Push(push.clone()),
            ],
        )
        .await?;

    let welcome = event("notif_1", Channel::Email, "tmpl_welcome");
    publisher.publish_flat(welcome.topic(), &welcome).await?;
    publisher.publish_flat(welcome.topic(), &welcome).await?; // duplicate: sends nothing
    let nudge = event("notif_2", Channel::Push, "tmpl_push");
    publisher.publish_flat(nudge.topic(), &nudge).await?;

    tokio::time::sleep(Duration::from_millis(300)).await;
    for m in email.sent() {
        println!("email to {}: {} | {}", m.to, m.subject, m.html);
    }
    for m in push.sent() {
        println!("push to {}: {} | {}", m.device_token, m.title, m.body);
    }
    println!(
        "notif_1 is {:?}",
        store.snapshot("notif_1").map(|n| n.status)
    );
    workers.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
