//! Notification stores, events and waits shared by the notification tests.

use std::sync::Arc;
use std::time::Duration;

use waitlist::events::{Channel, NotificationEvent, NotificationPriority};
use waitlist::notifications::{
    MemoryNotificationStore, Notification, NotificationStatus, NotificationTemplate,
};

/// A store holding `templates`, each `(id, subject, body)`.
pub fn store_with_templates(templates: &[(&str, &str, &str)]) -> Arc<MemoryNotificationStore> {
    let store = Arc::new(MemoryNotificationStore::new());
    for &(id, subject, body) in templates {
        store.insert_template(NotificationTemplate::new(id, Some(subject), body));
    }
    store
}

/// The normal-priority event sending notification `id` (message
/// `msg-<id>`) to `user` over `channel`, rendering `template` with
/// `user_name`.
pub fn notification_event(
    id: &str,
    user: &str,
    channel: Channel,
    template: &str,
    user_name: &str,
) -> NotificationEvent {
    let payload = serde_json::json!({ "user_name": user_name });
    NotificationEvent {
        notification_id: id.into(),
        message_id: format!("msg-{id}"),
        target_user_id: user.into(),
        channel,
        template_id: template.into(),
        payload: payload.as_object().cloned().unwrap_or_default(),
        priority: NotificationPriority::Normal,
        metadata: Default::default(),
    }
}

/// Notification `id` once it is no longer pending (waiting up to 10 s).
pub async fn settled(store: &MemoryNotificationStore, id: &str) -> Notification {
    let what = format!("{id} no longer pending");
    waitlist::conformance::wait_for(&what, Duration::from_secs(10), || async {
        let n = store.snapshot(id).expect("exists");
        if n.status == NotificationStatus::Pending {
            Err(format!("{n:?}"))
        } else {
            Ok(n)
        }
    })
    .await
}
