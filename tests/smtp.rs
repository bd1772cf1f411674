//! The SMTP email provider against the real local SMTP server that
//! `scripts/services.sh` starts (aiosmtpd, storing what it receives in a
//! Maildir), alone and behind the email notification worker on the memory
//! transport.
//!
//! Without the server the tests print SKIPPED, unless
//! `WAITLIST_REQUIRE_BROKERS=1`, where they fail.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use waitlist::events::{Channel, NotificationEvent, NotificationPriority};
use waitlist::notifications::{
    ChannelSender, MemoryNotificationStore, Notification, NotificationService, NotificationStatus,
    NotificationTemplate,
};
use waitlist::prelude::*;
use waitlist::providers::{EmailMessage, EmailProvider, SmtpConfig, SmtpEmailProvider};

fn port() -> u16 {
    std::env::var("SMTP_TEST_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(2525)
}

fn maildir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/services/smtp/Maildir/new")
}

/// The provider if the server is up; `None` (after printing SKIPPED) if it
/// is not and brokers are optional.
async fn smtp(test: &str) -> Option<SmtpEmailProvider> {
    let addr = format!("127.0.0.1:{}", port());
    let up = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if !up {
        if std::env::var("WAITLIST_REQUIRE_BROKERS").as_deref() == Ok("1") {
            panic!("SMTP server not reachable on {addr} (run scripts/services.sh up)");
        }
        println!("SKIPPED {test}: no SMTP server on {addr} (run scripts/services.sh up)");
        return None;
    }
    let config = SmtpConfig {
        from: "Waitlist <noreply@waitlist.test>".into(),
        ..SmtpConfig::plain("127.0.0.1", port())
    };
    Some(SmtpEmailProvider::new(config).expect("valid config"))
}

/// The stored message carrying `message_id`, waiting a little for it.
async fn stored(message_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(entries) = std::fs::read_dir(maildir()) {
            for entry in entries.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                if text.contains(message_id) {
                    return text;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "message {message_id} not in {:?}",
            maildir()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn smtp_provider_delivers_to_the_local_server() {
    let Some(smtp) = smtp("smtp_provider_delivers_to_the_local_server").await else {
        return;
    };
    let receipt = smtp
        .send_email(&EmailMessage {
            to: "ada@example.com".into(),
            subject: "Welcome aboard".into(),
            html: "<p>You are number 42</p>".into(),
            text: Some("You are number 42".into()),
            ..Default::default()
        })
        .await
        .expect("accepted");
    let id = receipt.provider_id.expect("message id");
    let text = stored(&id).await;
    assert!(text.contains("To: ada@example.com"), "{text}");
    assert!(text.contains("Subject: Welcome aboard"), "{text}");
    assert!(text.contains("<p>You are number 42</p>"), "{text}");
    assert!(text.contains("noreply@waitlist.test"), "{text}");
}

#[tokio::test]
async fn invalid_recipient_is_a_permanent_failure() {
    let Some(smtp) = smtp("invalid_recipient_is_a_permanent_failure").await else {
        return;
    };
    let err = smtp
        .send_email(&EmailMessage {
            to: "not an address".into(),
            subject: "x".into(),
            html: "x".into(),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn email_notification_is_rendered_sent_over_smtp_and_recorded() {
    let Some(smtp) = smtp("email_notification_is_rendered_sent_over_smtp_and_recorded").await
    else {
        return;
    };
    let bus = MemoryBus::new();
    let store = Arc::new(MemoryNotificationStore::new());
    store.insert_template(NotificationTemplate::new(
        "tmpl_welcome",
        Some("Welcome {{user_name}}"),
        "<p>Hello {{user_name}}</p>",
    ));
    store.insert(Notification::new(
        "notif_smtp",
        "user_1",
        Channel::Email,
        "john@example.com",
    ));
    let workers = NotificationService::new(store.clone(), store.clone())
        .start(
            Arc::new(bus.clone()),
            [ChannelSender::email(Arc::new(smtp))],
        )
        .await
        .expect("start");
    let event = NotificationEvent {
        notification_id: "notif_smtp".into(),
        message_id: format!("msg-{}", std::process::id()),
        target_user_id: "user_1".into(),
        channel: Channel::Email,
        template_id: "tmpl_welcome".into(),
        payload: serde_json::json!({"user_name": "John <Doe>"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        priority: NotificationPriority::Normal,
        metadata: Default::default(),
    };
    EventPublisher::new(Arc::new(bus.clone()))
        .publish_flat(event.topic(), &event)
        .await
        .expect("publish");
    let deadline = Instant::now() + Duration::from_secs(10);
    let sent = loop {
        let n = store.snapshot("notif_smtp").expect("exists");
        if n.status != NotificationStatus::Pending {
            break n;
        }
        assert!(Instant::now() < deadline, "notification still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(sent.status, NotificationStatus::Sent, "{:?}", sent.error);
    let text = stored(sent.provider_id.as_deref().expect("provider id")).await;
    assert!(text.contains("Subject: Welcome John <Doe>"), "{text}");
    assert!(text.contains("<p>Hello John &lt;Doe&gt;</p>"), "{text}");
    workers.shutdown(Duration::from_secs(5)).await;
}
