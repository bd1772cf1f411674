//! Notification workers through the memory transport: one group per
//! channel, Handlebars rendering, retries, idempotency by `message_id`,
//! status recording, dead-lettering and metrics.

mod domain_support;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use domain_support::notifications::{notification_event, settled, store_with_templates};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use waitlist::conformance::{wait_until, WAIT};
use waitlist::events::{Channel, NotificationEvent, NotificationPriority};
use waitlist::notifications::{
    ChannelSender, MemoryNotificationStore, Notification, NotificationConfig, NotificationService,
    NotificationStatus,
};
use waitlist::prelude::*;
use waitlist::providers::{
    ProviderError, RecordingEmailProvider, RecordingPushProvider, RecordingWhatsappProvider,
};

static METRICS: OnceLock<Snapshotter> = OnceLock::new();

/// The process-wide debugging recorder (installed before any worker starts).
fn metrics() -> &'static Snapshotter {
    METRICS.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _ = recorder.install();
        snapshotter
    })
}

struct Stack {
    bus: MemoryBus,
    publisher: EventPublisher,
    store: Arc<MemoryNotificationStore>,
    email: Arc<RecordingEmailProvider>,
    whatsapp: Arc<RecordingWhatsappProvider>,
    push: Arc<RecordingPushProvider>,
    workers: waitlist::runtime::Workers,
}

/// Four attempts, 20 ms then 40 ms then 60 ms apart.
fn fast_retry() -> NotificationConfig {
    let step = Duration::from_millis(20);
    NotificationConfig {
        retry: RetryPolicy::linear(4, step).with_max_delay(Duration::from_secs(1)),
        ..NotificationConfig::default()
    }
}

async fn stack() -> Stack {
    metrics();
    let bus = MemoryBus::new();
    let store = store_with_templates(&[
        (
            "tmpl_welcome",
            "Welcome, {{user_name}}",
            "<p>Hello {{user_name}}</p>",
        ),
        ("tmpl_text", "Your turn", "{{user_name}} & friends: go!"),
    ]);
    let email = Arc::new(RecordingEmailProvider::new());
    let whatsapp = Arc::new(RecordingWhatsappProvider::new());
    let push = Arc::new(RecordingPushProvider::new());
    let workers = NotificationService::new(store.clone(), store.clone())
        .with_config(fast_retry())
        .start(
            Arc::new(bus.clone()),
            [
                ChannelSender::email(email.clone()),
                ChannelSender::Whatsapp(whatsapp.clone()),
                ChannelSender::Push(push.clone()),
            ],
        )
        .await
        .expect("start");
    Stack {
        publisher: EventPublisher::new(Arc::new(bus.clone())),
        bus,
        store,
        email,
        whatsapp,
        push,
        workers,
    }
}

/// A high-priority event to `user_123`, whose name needs escaping in HTML.
fn event(id: &str, channel: Channel, template: &str) -> NotificationEvent {
    NotificationEvent {
        priority: NotificationPriority::High,
        ..notification_event(id, "user_123", channel, template, "Tom <T>")
    }
}

impl Stack {
    fn notify(&self, id: &str, channel: Channel, recipient: &str) {
        self.store
            .insert(Notification::new(id, "user_123", channel, recipient));
    }

    async fn publish(&self, e: &NotificationEvent) {
        self.publisher
            .publish_flat(e.topic(), e)
            .await
            .expect("publish");
    }

    /// Stores notification `id` to `recipient` and publishes its event.
    async fn send(&self, id: &str, channel: Channel, recipient: &str, template: &str) {
        self.notify(id, channel, recipient);
        self.publish(&event(id, channel, template)).await;
    }

    async fn settled(&self, id: &str) -> Notification {
        settled(&self.store, id).await
    }

    /// Notification `id` once it failed, and the one dead letter its
    /// failure left on its channel.
    async fn failed(&self, id: &str) -> (Notification, Message) {
        let n = self.settled(id).await;
        assert_eq!(n.status, NotificationStatus::Failed);
        let mut dlq = self.dead_letters(n.channel).await;
        assert_eq!(dlq.len(), 1);
        (n, dlq.remove(0))
    }

    async fn shutdown(self) {
        self.workers.shutdown(Duration::from_secs(5)).await;
    }

    async fn dead_letters(&self, channel: Channel) -> Vec<Message> {
        let group = NotificationConfig::default().group(channel);
        self.bus
            .dead_letters(channel.topic(), &group)
            .await
            .expect("dlq")
            .list(10)
            .await
            .expect("list")
    }
}

#[tokio::test]
async fn email_and_push_workers_render_send_and_record_the_provider_id() {
    let s = stack().await;
    s.send("n-email", Channel::Email, "tom@example.com", "tmpl_welcome")
        .await;
    s.send("n-push", Channel::Push, "device-1", "tmpl_text")
        .await;

    let email = s.settled("n-email").await;
    assert_eq!(email.status, NotificationStatus::Sent);
    assert_eq!(email.provider_id.as_deref(), Some("recorded-1"));
    let sent = s.email.sent();
    assert_eq!(sent[0].to, "tom@example.com");
    assert_eq!(sent[0].subject, "Welcome, Tom <T>");
    assert_eq!(sent[0].html, "<p>Hello Tom &lt;T&gt;</p>");
    assert_eq!(sent[0].idempotency_key.as_deref(), Some("msg-n-email"));

    assert_eq!(
        s.settled("n-push").await.provider_id.as_deref(),
        Some("push-1")
    );
    let push = &s.push.sent()[0];
    assert_eq!(
        (push.title.as_str(), push.device_token.as_str()),
        ("Your turn", "device-1")
    );
    assert_eq!(push.data["user_name"], "Tom <T>");
    s.shutdown().await;
}

#[tokio::test]
async fn second_event_with_the_same_message_id_sends_nothing() {
    let s = stack().await;
    s.notify("n1", Channel::Email, "tom@example.com");
    s.notify("n2", Channel::Email, "tom@example.com");
    let first = event("n1", Channel::Email, "tmpl_welcome");
    s.publish(&first).await;
    s.settled("n1").await;
    // Same message_id, even on another notification: a duplicate.
    let again = NotificationEvent {
        notification_id: "n2".into(),
        ..first.clone()
    };
    s.publish(&first).await;
    s.publish(&again).await;
    let group = NotificationConfig::default().group(Channel::Email);
    wait_until("both duplicates handled", WAIT, || {
        s.bus.group_len(Channel::Email.topic(), &group) == Some(0)
    })
    .await;
    // The handler skips a message id it has sent (the dedupe of document 003).
    let stats = s.workers.group(&group).expect("email group").stats();
    assert_eq!((stats.done, stats.skipped), (1, 2), "{stats:?}");
    assert_eq!(s.email.sent().len(), 1);
    assert_eq!(
        s.store.snapshot("n2").map(|n| n.status),
        Some(NotificationStatus::Pending)
    );
    s.shutdown().await;
}

#[tokio::test]
async fn transient_failures_are_retried_until_sent() {
    let s = stack().await;
    s.email.fail_next([
        ProviderError::Transient("timeout".into()),
        ProviderError::Transient("rate limited".into()),
    ]);
    let started = Instant::now();
    s.send("n1", Channel::Email, "tom@example.com", "tmpl_welcome")
        .await;
    let n = s.settled("n1").await;
    assert_eq!(n.status, NotificationStatus::Sent);
    assert_eq!(s.email.sent().len(), 1);
    // 20 ms then 40 ms between the three attempts.
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert!(s.dead_letters(Channel::Email).await.is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn exhausted_retries_record_failed_and_dead_letter_with_the_reason() {
    let s = stack().await;
    s.email
        .fail_next((0..4).map(|i| ProviderError::Transient(format!("timeout {i}"))));
    s.send("n1", Channel::Email, "tom@example.com", "tmpl_welcome")
        .await;
    let (n, dead) = s.failed("n1").await;
    assert!(
        n.error.as_deref().unwrap_or_default().contains("timeout 3"),
        "{n:?}"
    );
    let reason = &dead.headers["waitlist-dead-letter-reason"];
    assert!(
        reason.contains("after 4 attempt(s)") && reason.contains("timeout 3"),
        "{reason}"
    );
    assert!(s.email.sent().is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn permanent_failure_is_dead_lettered_without_retrying() {
    let s = stack().await;
    s.push
        .fail_next([ProviderError::Permanent("unregistered token".into())]);
    s.send("n1", Channel::Push, "stale-token", "tmpl_text")
        .await;
    let (_, dead) = s.failed("n1").await;
    assert_eq!(dead.headers["waitlist-dead-letter-attempts"], "1");
    assert!(dead.headers["waitlist-dead-letter-reason"].contains("unregistered token"));
    s.shutdown().await;
}

#[tokio::test]
async fn missing_template_fails_the_notification_into_the_dead_letter_queue() {
    let s = stack().await;
    s.send("n1", Channel::Email, "tom@example.com", "tmpl_nope")
        .await;
    let (n, _) = s.failed("n1").await;
    assert!(n.error.unwrap_or_default().contains("tmpl_nope"));
    s.shutdown().await;
}

/// The only test using WhatsApp, so its metrics are its own.
#[tokio::test]
async fn whatsapp_worker_sends_plain_text_and_metrics_count_by_channel_and_status() {
    let s = stack().await;
    s.send("ok", Channel::Whatsapp, "+15551234567", "tmpl_text")
        .await;
    assert_eq!(s.settled("ok").await.provider_id.as_deref(), Some("wa-1"));
    assert_eq!(s.whatsapp.sent()[0].body, "Tom <T> & friends: go!");
    assert_eq!(s.whatsapp.sent()[0].to, "+15551234567");
    s.whatsapp
        .fail_next([ProviderError::Permanent("blocked".into())]);
    s.send("bad", Channel::Whatsapp, "+1556", "tmpl_text").await;
    s.settled("bad").await;

    let mut success = 0;
    let mut failed = 0;
    let mut timings = 0;
    for (key, _, _, value) in metrics().snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        if !labels.contains(&("channel".into(), "whatsapp".into())) {
            continue;
        }
        match (key.name(), value) {
            ("notifications_sent_total", DebugValue::Counter(n)) => {
                if labels.contains(&("status".into(), "success".into())) {
                    success += n;
                } else if labels.contains(&("status".into(), "failed".into())) {
                    failed += n;
                }
            }
            ("notification_send_duration_ms", DebugValue::Histogram(v)) => timings += v.len(),
            _ => {}
        }
    }
    assert_eq!((success, failed), (1, 1));
    assert_eq!(timings, 2);
    s.shutdown().await;
}

#[test]
fn default_retry_is_three_retries_after_two_four_and_six_seconds() {
    let retry = NotificationConfig::default().retry;
    assert_eq!(retry.max_attempts, 4);
    let delays: Vec<u64> = (1..=3).map(|a| retry.delay(a).as_secs()).collect();
    assert_eq!(delays, vec![2, 4, 6]);
    assert!(!retry.should_retry(4));
}
