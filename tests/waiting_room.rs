//! The waiting room's three documented message flows, end to end through
//! the memory transport: join (QUEUE_JOINED), successful checkout
//! (CHECKOUT_COMPLETED → next user admitted with QUEUE_READY) and expired
//! checkout (CHECKOUT_EXPIRED → tickets released, next user admitted).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use waitlist::conformance::{eventually, wait_until, WAIT};
use waitlist::events::{
    topics, CheckoutCompleted, CheckoutExpired, CheckoutFailed, CheckoutFailureReason, LeaveReason,
    QueueJoined, QueueLeft, QueueReady, Ticket,
};
use waitlist::prelude::*;
use waitlist::sync::lock;
use waitlist::waitroom::{
    CheckoutConsumer, CheckoutTokenSigner, MemoryWaitroomStore, QueueStore, RecordingInventory,
    Session, SessionStatus, SessionStore, TokenError, WaitroomCheckoutHandler, WaitroomService,
};

const EVENT: &str = "concert-2024";

type Seen<E> = Arc<Mutex<Vec<(Option<String>, E)>>>;

fn seen<E: Clone>(s: &Seen<E>) -> Vec<(Option<String>, E)> {
    lock(s).clone()
}

/// The `n`-th recorded event, which must be keyed by `EVENT`.
fn keyed_by_event<E: Clone>(s: &Seen<E>, n: usize) -> E {
    let (key, event) = seen(s).swap_remove(n);
    assert_eq!(key.as_deref(), Some(EVENT));
    event
}

struct Room {
    bus: MemoryBus,
    publisher: EventPublisher,
    store: Arc<MemoryWaitroomStore>,
    inventory: Arc<RecordingInventory>,
    waitroom: WaitroomService,
    consumer: Workers,
    /// The recorders the test started.
    recorders: Workers,
}

fn signer() -> CheckoutTokenSigner {
    CheckoutTokenSigner::new(b"test key of thirty-two bytes....".to_vec()).expect("key")
}

/// A waiting room with one checkout slot, publishing through `publisher`.
fn waiting_room(store: &Arc<MemoryWaitroomStore>, publisher: EventPublisher) -> WaitroomService {
    WaitroomService::builder(store.clone(), signer())
        .publisher(publisher)
        .checkout_slots(1)
        .build()
}

async fn room() -> Room {
    let bus = MemoryBus::new();
    let publisher = EventPublisher::new(Arc::new(bus.clone()));
    let store = Arc::new(MemoryWaitroomStore::new());
    let waitroom = waiting_room(&store, publisher.clone());
    let inventory = Arc::new(RecordingInventory::new());
    let handler = WaitroomCheckoutHandler::new(waitroom.clone(), inventory.clone());
    let consumer = CheckoutConsumer::new(Arc::new(handler))
        .start(Arc::new(bus.clone()))
        .await
        .expect("start");
    Room {
        bus,
        publisher,
        store,
        inventory,
        waitroom,
        consumer,
        recorders: Workers::new(),
    }
}

fn tickets() -> Vec<Ticket> {
    vec![Ticket {
        id: "t1".into(),
        seat_no: "A1".into(),
        category: "VIP".into(),
        price: 150.0,
    }]
}

impl Room {
    /// Records every event of `E`'s topic with its partition key.
    async fn record<E: FlatEvent + Clone>(&mut self) -> Seen<E> {
        let seen: Seen<E> = Arc::default();
        let s = Arc::clone(&seen);
        let group = ConsumerGroup::new(
            E::TYPE,
            "test-recorder",
            Router::new().on_flat(handler_fn(move |e: E, ctx: Context| {
                let s = Arc::clone(&s);
                async move {
                    let key = ctx.key().map(str::to_owned);
                    lock(&s).push((key, e));
                    Outcome::Done
                }
            })),
        )
        .start(Arc::new(self.bus.clone()))
        .await
        .expect("start");
        self.recorders.push(group);
        seen
    }

    /// `user` joins the queue of `EVENT`; their session.
    async fn join(&self, user: &str) -> Session {
        self.waitroom.join(user, EVENT).await.expect("join").session
    }

    async fn publish<E: FlatEvent>(&self, topic: &str, event: &E) {
        self.publisher
            .publish_flat(topic, event)
            .await
            .expect("publish");
    }

    async fn status(&self, session_id: &str) -> SessionStatus {
        self.store.get(session_id).await.expect("session").status
    }

    /// Waits until the sessions in checkout are exactly `sessions`.
    async fn wait_for_processing(&self, what: &str, sessions: &[&str]) {
        eventually(what, WAIT, || async {
            let processing = self.store.processing(EVENT).await;
            processing.is_ok_and(|p| p.iter().map(String::as_str).eq(sessions.iter().copied()))
        })
        .await;
    }

    async fn shutdown(self) {
        self.recorders.shutdown(Duration::from_secs(1)).await;
        self.consumer.shutdown(Duration::from_secs(1)).await;
    }
}

/// `CHECKOUT_COMPLETED` of order `o1` by `u1`.
fn completed(session_id: &str, tickets: Vec<Ticket>, amount: f64) -> CheckoutCompleted {
    CheckoutCompleted {
        order_id: "o1".into(),
        session_id: session_id.into(),
        user_id: "u1".into(),
        event_id: EVENT.into(),
        tickets,
        payment_id: "p1".into(),
        amount,
        timestamp: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn flow1_joining_publishes_queue_joined_keyed_by_event_with_positions() {
    let mut r = room().await;
    let joined = r.record::<QueueJoined>().await;
    let ready = r.record::<QueueReady>().await;
    let mut ids = Vec::new();
    for user in ["u1", "u2", "u3"] {
        ids.push(r.join(user).await);
    }
    wait_until("three QUEUE_JOINED", WAIT, || seen(&joined).len() == 3).await;
    wait_until("one QUEUE_READY", WAIT, || seen(&ready).len() == 1).await;

    let got = seen(&joined);
    let positions: Vec<i64> = got.iter().map(|(_, e)| e.position).collect();
    assert_eq!(positions, vec![1, 1, 2], "u1 was admitted before u2 joined");
    assert!(got
        .iter()
        .all(|(key, e)| key.as_deref() == Some(EVENT) && e.event_id == EVENT));
    assert_eq!(ids[0].status, SessionStatus::Admitted);
    assert_eq!(ids[1].status, SessionStatus::Queued);
    assert_eq!(r.waitroom.position(&ids[2].id).await, Ok(Some(2)));
    assert_eq!(keyed_by_event(&ready, 0).user_id, "u1");
    r.shutdown().await;
}

#[tokio::test]
async fn flow2_completed_checkout_frees_the_slot_and_admits_the_next_user() {
    let mut r = room().await;
    let ready = r.record::<QueueReady>().await;
    let first = r.join("u1").await;
    let second = r.join("u2").await;
    assert_eq!(r.store.processing(EVENT).await, Ok(vec![first.id.clone()]));

    let done = completed(&first.id, tickets(), 150.0);
    r.publish(topics::CHECKOUT_COMPLETED, &done).await;
    wait_until("QUEUE_READY for u2", WAIT, || seen(&ready).len() == 2).await;

    assert_eq!(r.status(&first.id).await, SessionStatus::Completed);
    assert_eq!(r.status(&second.id).await, SessionStatus::Admitted);
    assert_eq!(r.store.processing(EVENT).await, Ok(vec![second.id.clone()]));
    let (_, next) = &seen(&ready)[1];
    assert_eq!(next.session_id, second.id);
    assert_eq!((next.expires_at - next.admitted_at).num_minutes(), 15);
    let claims = r
        .waitroom
        .verify_checkout_token(&next.checkout_token)
        .expect("valid token");
    assert_eq!(
        (claims.sid.as_str(), claims.sub.as_str()),
        (second.id.as_str(), "u2")
    );
    let at_expiry = next.expires_at;
    assert_eq!(
        signer().verify_at(&next.checkout_token, at_expiry),
        Err(TokenError::Expired)
    );
    let forged = CheckoutTokenSigner::new(b"someone else".to_vec()).expect("key");
    let (forged_token, _) = forged.issue(&second.id, "u2", EVENT, chrono::Utc::now());
    assert_eq!(
        r.waitroom.verify_checkout_token(&forged_token),
        Err(TokenError::BadSignature)
    );
    assert!(r.inventory.released().is_empty());
    r.shutdown().await;
}

#[tokio::test]
async fn flow3_expired_checkout_releases_tickets_and_admits_the_next_user() {
    let r = room().await;
    let first = r.join("u1").await;
    let second = r.join("u2").await;
    let expired = CheckoutExpired {
        order_id: "o1".into(),
        session_id: first.id.clone(),
        user_id: "u1".into(),
        event_id: EVENT.into(),
        tickets: tickets(),
        expired_at: chrono::Utc::now(),
        timestamp: chrono::Utc::now(),
    };
    r.publish(topics::CHECKOUT_EXPIRED, &expired).await;
    r.wait_for_processing("u2 admitted", &[&second.id]).await;

    assert_eq!(r.status(&first.id).await, SessionStatus::Expired);
    assert_eq!(r.status(&second.id).await, SessionStatus::Admitted);
    let released = r.inventory.released();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].order_id, "o1");
    assert_eq!(released[0].tickets, tickets());
    r.shutdown().await;
}

#[tokio::test]
async fn failed_checkout_marks_the_session_failed_and_frees_the_slot() {
    let r = room().await;
    let first = r.join("u1").await;
    let failed = CheckoutFailed {
        order_id: "o1".into(),
        session_id: first.id.clone(),
        user_id: "u1".into(),
        event_id: EVENT.into(),
        reason: CheckoutFailureReason::PaymentFailed,
        error_message: "Credit card declined".into(),
        timestamp: chrono::Utc::now(),
    };
    r.publish(topics::CHECKOUT_FAILED, &failed).await;
    r.wait_for_processing("slot freed", &[]).await;
    assert_eq!(r.status(&first.id).await, SessionStatus::Failed);
    r.shutdown().await;
}

#[tokio::test]
async fn checkout_event_for_a_missing_session_is_skipped_not_retried() {
    let r = room().await;
    let done = completed("no-such-session", vec![], 0.0);
    r.publish(topics::CHECKOUT_COMPLETED, &done).await;
    let completed = &r.consumer.groups()[0];
    wait_until("skipped", WAIT, || completed.stats().skipped == 1).await;
    let stats = completed.stats();
    assert_eq!((stats.retried, stats.dead_lettered, stats.done), (0, 0, 0));
    r.shutdown().await;
}

#[tokio::test]
async fn leaving_publishes_queue_left_and_gives_up_the_place() {
    let mut r = room().await;
    let left = r.record::<QueueLeft>().await;
    r.join("u1").await; // u1 takes the one checkout slot; u2 and u3 queue
    let second = r.join("u2").await;
    let third = r.join("u3").await;
    let after = r
        .waitroom
        .leave(&second.id, LeaveReason::UserLeft)
        .await
        .expect("leave");
    assert_eq!(after.status, SessionStatus::Left);
    assert_eq!(r.waitroom.position(&third.id).await, Ok(Some(1)));
    wait_until("QUEUE_LEFT", WAIT, || seen(&left).len() == 1).await;
    let e = keyed_by_event(&left, 0);
    assert_eq!(
        (e.session_id.as_str(), e.reason),
        (second.id.as_str(), LeaveReason::UserLeft)
    );
    r.shutdown().await;
}

/// A transport whose every publish fails.
#[derive(Debug)]
struct BrokenPublisher;

#[async_trait]
impl Publisher for BrokenPublisher {
    async fn publish(&self, _messages: Vec<Message>) -> Result<()> {
        Err(Error::Unavailable("broker down".into()))
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn publish_failures_never_fail_the_users_join() {
    let store = Arc::new(MemoryWaitroomStore::new());
    let waitroom = waiting_room(&store, EventPublisher::new(Arc::new(BrokenPublisher)));
    let first = waitroom.join("u1", EVENT).await.expect("join succeeds");
    let second = waitroom.join("u2", EVENT).await.expect("join succeeds");
    assert_eq!(first.session.status, SessionStatus::Admitted);
    assert!(
        first.session.checkout_token.is_some(),
        "the token is kept for the API"
    );
    assert_eq!(second.position, 1);
    let left = waitroom
        .leave(&second.session.id, LeaveReason::Timeout)
        .await;
    assert_eq!(left.map(|s| s.status), Ok(SessionStatus::Left));
}
