//! The SMTP email provider against the real local SMTP server that
//! `scripts/services.sh` starts (aiosmtpd, storing what it receives in a
//! Maildir), alone and behind the email notification worker on the memory
//! transport.
//!
//! Without the server the tests print SKIPPED, unless
//! `WAITLIST_REQUIRE_BROKERS=1`, where they fail.

mod domain_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use domain_support::notifications::{notification_event, settled, store_with_templates};
use waitlist::conformance::wait_for;
use waitlist::events::{Channel, NotificationEvent};
use waitlist::notifications::{
    ChannelSender, Notification, NotificationService, NotificationStatus,
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

/// A message to `to` with `subject` and an HTML body only.
fn message(to: &str, subject: &str, html: &str) -> EmailMessage {
    EmailMessage {
        to: to.into(),
        subject: subject.into(),
        html: html.into(),
        ..Default::default()
    }
}

/// The stored message carrying `message_id`, waiting a little for it.
async fn stored(message_id: &str) -> String {
    let what = format!("message {message_id} in {:?}", maildir());
    wait_for(&what, Duration::from_secs(10), || {
        let found = std::fs::read_dir(maildir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
            .find(|text| text.contains(message_id));
        std::future::ready(found.ok_or_else(String::new))
    })
    .await
}

#[tokio::test]
async fn smtp_provider_delivers_to_the_local_server() {
    let Some(smtp) = smtp("smtp_provider_delivers_to_the_local_server").await else {
        return;
    };
    let welcome = EmailMessage {
        text: Some("You are number 42".into()),
        ..message(
            "ada@example.com",
            "Welcome aboard",
            "<p>You are number 42</p>",
        )
    };
    let receipt = smtp.send_email(&welcome).await.expect("accepted");
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
        .send_email(&message("not an address", "x", "x"))
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
    let store = store_with_templates(&[(
        "tmpl_welcome",
        "Welcome {{user_name}}",
        "<p>Hello {{user_name}}</p>",
    )]);
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
        message_id: format!("msg-{}", std::process::id()),
        ..notification_event(
            "notif_smtp",
            "user_1",
            Channel::Email,
            "tmpl_welcome",
            "John <Doe>",
        )
    };
    EventPublisher::new(Arc::new(bus.clone()))
        .publish_flat(event.topic(), &event)
        .await
        .expect("publish");
    let sent = settled(&store, "notif_smtp").await;
    assert_eq!(sent.status, NotificationStatus::Sent, "{:?}", sent.error);
    let text = stored(sent.provider_id.as_deref().expect("provider id")).await;
    assert!(text.contains("Subject: Welcome John <Doe>"), "{text}");
    assert!(text.contains("<p>Hello John &lt;Doe&gt;</p>"), "{text}");
    workers.shutdown(Duration::from_secs(5)).await;
}
