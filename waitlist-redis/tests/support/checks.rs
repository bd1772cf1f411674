//! The behaviour of the stores, written once over the traits: the memory
//! stores and the Redis store must pass the same checks.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use waitlist_core::runtime::{Claim, IdempotencyStore};
use waitlist_core::waitroom::{
    QueueStore, Session, SessionStatus, SessionStore, WaitroomError, WaitroomService,
};

use super::{signer, WAIT};
use waitlist_core::conformance::eventually;

const EVENT: &str = "concert-2024";

/// Positions are FIFO, enqueuing twice keeps the position, removal closes
/// the gap, and the count follows.
pub async fn queue_is_fifo<S: QueueStore + ?Sized>(s: &S) {
    assert_eq!(s.queued(EVENT).await, Ok(0));
    assert_eq!(s.position(EVENT, "a").await, Ok(None));
    for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
        assert_eq!(s.enqueue(EVENT, id).await, Ok(i as u64 + 1), "enqueue {id}");
    }
    assert_eq!(s.enqueue(EVENT, "b").await, Ok(2), "enqueue twice");
    assert_eq!(s.queued(EVENT).await, Ok(4));
    assert_eq!(s.position(EVENT, "c").await, Ok(Some(3)));
    assert_eq!(s.remove(EVENT, "b").await, Ok(true));
    assert_eq!(s.remove(EVENT, "b").await, Ok(false), "removed twice");
    assert_eq!(s.remove("other-event", "a").await, Ok(false));
    assert_eq!(s.position(EVENT, "b").await, Ok(None));
    assert_eq!(s.position(EVENT, "c").await, Ok(Some(2)));
    assert_eq!(s.position(EVENT, "d").await, Ok(Some(3)));
    assert_eq!(s.queued(EVENT).await, Ok(3));
    // A session enqueued after a removal goes to the back.
    assert_eq!(s.enqueue(EVENT, "b").await, Ok(4));
    // Queues of different events are apart.
    assert_eq!(s.enqueue("other-event", "z").await, Ok(1));
    assert_eq!(s.queued(EVENT).await, Ok(4));
}

/// Admission takes the head while a slot is free; freeing a slot lets the
/// next one in.
pub async fn admission_respects_slots<S: QueueStore + ?Sized>(s: &S) {
    assert_eq!(s.admit_next(EVENT, 2).await, Ok(None), "empty queue");
    for id in ["a", "b", "c"] {
        s.enqueue(EVENT, id).await.expect("enqueue");
    }
    assert_eq!(s.admit_next(EVENT, 2).await, Ok(Some("a".into())));
    assert_eq!(s.admit_next(EVENT, 2).await, Ok(Some("b".into())));
    assert_eq!(s.admit_next(EVENT, 2).await, Ok(None), "slots full");
    assert_eq!(
        s.position(EVENT, "a").await,
        Ok(None),
        "admitted leaves queue"
    );
    assert_eq!(s.position(EVENT, "c").await, Ok(Some(1)));
    assert_eq!(s.queued(EVENT).await, Ok(1));
    assert_eq!(
        s.processing(EVENT).await,
        Ok(vec!["a".to_owned(), "b".to_owned()])
    );
    assert_eq!(s.remove_from_processing(EVENT, "a").await, Ok(true));
    assert_eq!(
        s.remove_from_processing(EVENT, "a").await,
        Ok(false),
        "twice"
    );
    assert_eq!(s.remove_from_processing(EVENT, "x").await, Ok(false));
    assert_eq!(s.admit_next(EVENT, 2).await, Ok(Some("c".into())));
    assert_eq!(s.admit_next(EVENT, 3).await, Ok(None), "queue drained");
    assert_eq!(s.queued(EVENT).await, Ok(0));
    assert_eq!(
        s.processing(EVENT).await,
        Ok(vec!["b".to_owned(), "c".to_owned()])
    );
}

/// 50 callers, alternating between `a` and `b` (two views of one store),
/// race for 5 slots: exactly the 5 first sessions are admitted.
pub async fn concurrent_admission_never_exceeds_slots(
    a: Arc<dyn QueueStore>,
    b: Arc<dyn QueueStore>,
) {
    const SESSIONS: usize = 50;
    const SLOTS: usize = 5;
    for i in 0..SESSIONS {
        a.enqueue(EVENT, &format!("s{i:02}"))
            .await
            .expect("enqueue");
    }
    let callers: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { store.admit_next(EVENT, SLOTS).await })
        })
        .collect();
    let mut admitted = Vec::new();
    for caller in futures::future::join_all(callers).await {
        if let Some(id) = caller.expect("task").expect("admit_next") {
            admitted.push(id);
        }
    }
    admitted.sort();
    let first: Vec<String> = (0..SLOTS).map(|i| format!("s{i:02}")).collect();
    assert_eq!(admitted, first, "exactly the first {SLOTS} admitted");
    assert_eq!(b.processing(EVENT).await, Ok(first));
    assert_eq!(a.queued(EVENT).await, Ok(SESSIONS - SLOTS));
    assert_eq!(b.position(EVENT, "s05").await, Ok(Some(1)));
}

/// Sessions: insert, get, update, and the not-found answers.
pub async fn sessions_round_trip<S: SessionStore + ?Sized>(s: &S) {
    let mut session = Session::new("user-1", EVENT);
    assert_eq!(
        s.get(&session.id).await,
        Err(WaitroomError::SessionNotFound(session.id.clone()))
    );
    assert_eq!(
        s.update(&session).await,
        Err(WaitroomError::SessionNotFound(session.id.clone())),
        "update of an unknown session"
    );
    assert_eq!(
        s.get(&session.id).await,
        Err(WaitroomError::SessionNotFound(session.id.clone())),
        "a failed update stores nothing"
    );
    s.insert(session.clone()).await.expect("insert");
    assert_eq!(s.get(&session.id).await, Ok(session.clone()));

    session.status = SessionStatus::Admitted;
    session.checkout_token = Some("token".into());
    session.admitted_at = Some(waitlist_core::chrono::Utc::now());
    s.update(&session).await.expect("update");
    assert_eq!(s.get(&session.id).await, Ok(session.clone()));

    // Insert replaces a session with the same id.
    session.status = SessionStatus::Completed;
    s.insert(session.clone()).await.expect("insert again");
    assert_eq!(
        s.get(&session.id).await.map(|s| s.status),
        Ok(SessionStatus::Completed)
    );

    let other = Session::new("user-2", EVENT);
    s.insert(other.clone()).await.expect("insert other");
    assert_eq!(s.get(&other.id).await, Ok(other));
    assert_eq!(s.get(&session.id).await, Ok(session));
}

fn claim_of(r: waitlist_core::Result<Claim>) -> Claim {
    r.unwrap_or_else(|e| panic!("claim failed: {e}"))
}

/// Claim, complete and release, as the runtime's idempotency layer uses them.
pub async fn idempotency_claims<S: IdempotencyStore + ?Sized>(s: &S) {
    let lease = Duration::from_secs(30);
    let ttl = Duration::from_secs(30);
    assert_eq!(claim_of(s.claim("g/1", lease).await), Claim::Acquired);
    assert_eq!(claim_of(s.claim("g/1", lease).await), Claim::InProgress);
    s.complete("g/1", ttl).await.expect("complete");
    assert_eq!(claim_of(s.claim("g/1", lease).await), Claim::Done);
    assert_eq!(
        claim_of(s.claim("g/1", lease).await),
        Claim::Done,
        "stays done"
    );

    // A released claim can be taken again (the retry runs the effect).
    assert_eq!(claim_of(s.claim("g/2", lease).await), Claim::Acquired);
    s.release("g/2").await.expect("release");
    assert_eq!(claim_of(s.claim("g/2", lease).await), Claim::Acquired);
    assert_eq!(claim_of(s.claim("g/2", lease).await), Claim::InProgress);

    // Releasing a key nobody claimed is fine.
    s.release("g/never").await.expect("release unknown");
    assert_eq!(claim_of(s.claim("g/never", lease).await), Claim::Acquired);

    // Keys are apart.
    assert_eq!(claim_of(s.claim("other/1", lease).await), Claim::Acquired);
}

/// An unfinished claim expires after its lease; a done marker after its TTL.
pub async fn idempotency_expiry<S: IdempotencyStore + ?Sized>(s: &S) {
    let short = Duration::from_millis(100);
    let long = Duration::from_secs(30);
    assert_eq!(claim_of(s.claim("lease", short).await), Claim::Acquired);
    eventually("the lease to expire", WAIT, || async {
        claim_of(s.claim("lease", long).await) == Claim::Acquired
    })
    .await;
    assert_eq!(claim_of(s.claim("lease", long).await), Claim::InProgress);

    s.complete("lease", Duration::from_millis(300))
        .await
        .expect("complete");
    assert_eq!(
        claim_of(s.claim("lease", long).await),
        Claim::Done,
        "within ttl"
    );
    eventually("the done marker to expire", WAIT, || async {
        claim_of(s.claim("lease", long).await) == Claim::Acquired
    })
    .await;
}

/// The waiting room end to end on `store`: with one slot, the first user
/// is admitted with a valid token, the second waits, and finishing the
/// first checkout admits the second.
pub async fn waiting_room_flow<S>(store: Arc<S>)
where
    S: SessionStore + QueueStore + 'static,
{
    let waitroom = WaitroomService::builder(store.clone(), signer())
        .checkout_slots(1)
        .build();
    let first = waitroom.join("user-1", EVENT).await.expect("join");
    assert_eq!(first.position, 1);
    assert_eq!(first.session.status, SessionStatus::Admitted);
    let token = first.session.checkout_token.clone().expect("token");
    let claims = waitroom.verify_checkout_token(&token).expect("valid token");
    assert_eq!(claims.sid, first.session.id);
    assert_eq!(claims.eid, EVENT);
    assert_eq!(
        store.processing(EVENT).await,
        Ok(vec![first.session.id.clone()])
    );

    let second = waitroom.join("user-2", EVENT).await.expect("join");
    assert_eq!(second.position, 1, "the first left the queue when admitted");
    assert_eq!(second.session.status, SessionStatus::Queued);
    assert_eq!(waitroom.position(&second.session.id).await, Ok(Some(1)));

    waitroom
        .finish_checkout(&first.session.id, EVENT, SessionStatus::Completed)
        .await
        .expect("finish");
    let first_now = SessionStore::get(&*store, &first.session.id)
        .await
        .expect("first");
    assert_eq!(first_now.status, SessionStatus::Completed);
    let second_now = SessionStore::get(&*store, &second.session.id)
        .await
        .expect("second");
    assert_eq!(second_now.status, SessionStatus::Admitted);
    assert!(second_now.checkout_token.is_some());
    assert_eq!(
        store.processing(EVENT).await,
        Ok(vec![second.session.id.clone()])
    );
    assert_eq!(store.queued(EVENT).await, Ok(0));

    let ids: HashSet<_> = [&first.session.id, &second.session.id]
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 2);
}
