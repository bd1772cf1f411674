//! The partition key comes from the event kind, whatever publishes it.

use waitlist_core::events::{Envelope, UserCreated, UserSignedUp};
use waitlist_core::{headers, Message};

#[test]
fn webhook_events_are_keyed_by_account_and_domain_events_by_campaign() {
    let created = UserCreated {
        user_id: "ada".into(),
        email: "ada@example.com".into(),
        position: 3,
    };
    let m = Message::from_envelope("webhook-events", &Envelope::new("acme", "launch", created))
        .expect("encode");
    assert_eq!(
        m.key.as_deref(),
        Some("acme"),
        "webhook events keep their order per account"
    );
    assert_eq!(
        m.headers.get(headers::EVENT_TYPE).map(String::as_str),
        Some("user.created")
    );

    let signed_up = UserSignedUp {
        user_id: "ada".into(),
        campaign_id: "launch".into(),
        email: "ada@example.com".into(),
    };
    let env = Envelope::for_account("acme", signed_up);
    assert_eq!(
        env.campaign_id, "launch",
        "the campaign comes from the payload"
    );
    let m = Message::from_envelope("domain-events", &env).expect("encode");
    assert_eq!(m.key.as_deref(), Some("launch"));
    assert_eq!(m.id, env.id);
}
