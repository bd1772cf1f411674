//! The store behaviour checks on the memory stores and on `RedisStore`
//! (the real server at `REDIS_URL`), with the same expectations; then what
//! only Redis has: TTLs, two processes' view, unreadable data, errors.

mod support;

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use waitlist_core::conformance::eventually;
use waitlist_core::runtime::{Claim, IdempotencyStore, MemoryIdempotencyStore};
use waitlist_core::waitroom::{
    MemoryWaitroomStore, QueueStore, Session, SessionStore, WaitroomError,
};
use waitlist_core::Error;
use waitlist_redis::RedisStore;

use support::checks;

/// One check, run on the memory store and on a Redis store with its own
/// prefix (whose keys are deleted afterwards).
macro_rules! on_both {
    ($name:ident, $memory:expr, $check:path) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                $check(&*Arc::new($memory)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                let Some(store) = support::store(concat!(stringify!($name), "_redis")).await else {
                    return;
                };
                $check(&store).await;
                support::cleanup(&store).await;
            }
        }
    };
}

on_both!(
    queue_is_fifo,
    MemoryWaitroomStore::new(),
    checks::queue_is_fifo
);
on_both!(
    admission_respects_slots,
    MemoryWaitroomStore::new(),
    checks::admission_respects_slots
);
on_both!(
    sessions_round_trip,
    MemoryWaitroomStore::new(),
    checks::sessions_round_trip
);
on_both!(
    idempotency_claims,
    MemoryIdempotencyStore::new(),
    checks::idempotency_claims
);
on_both!(
    idempotency_expiry,
    MemoryIdempotencyStore::new(),
    checks::idempotency_expiry
);

mod concurrent_admission {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn memory() {
        let store: Arc<dyn QueueStore> = Arc::new(MemoryWaitroomStore::new());
        checks::concurrent_admission_never_exceeds_slots(store.clone(), store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn redis_one_connection() {
        let Some(store) = support::store("concurrent_admission_one").await else {
            return;
        };
        let shared: Arc<dyn QueueStore> = Arc::new(store.clone());
        checks::concurrent_admission_never_exceeds_slots(shared.clone(), shared).await;
        support::cleanup(&store).await;
    }

    /// Two stores with their own connections on the same keys: the view of
    /// two processes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn redis_two_instances() {
        let test = "concurrent_admission_two";
        let prefix = support::unique_prefix(test);
        let Some(a) = support::connect(test, &prefix).await else {
            return;
        };
        let b = support::connect(test, &prefix)
            .await
            .expect("second connection");
        checks::concurrent_admission_never_exceeds_slots(Arc::new(a.clone()), Arc::new(b)).await;
        support::cleanup(&a).await;
    }
}

mod waiting_room_flow {
    use super::*;

    #[tokio::test]
    async fn memory() {
        checks::waiting_room_flow(Arc::new(MemoryWaitroomStore::new())).await;
    }

    #[tokio::test]
    async fn redis() {
        let Some(store) = support::store("waiting_room_flow").await else {
            return;
        };
        checks::waiting_room_flow(Arc::new(store.clone())).await;
        support::cleanup(&store).await;
    }
}

async fn pttl(store: &RedisStore, key: &str) -> i64 {
    let mut conn = store.connection();
    conn.pttl(key).await.expect("PTTL")
}

#[tokio::test]
async fn redis_sessions_expire_after_their_ttl() {
    let Some(store) = support::store("sessions_ttl").await else {
        return;
    };
    // The default TTL is a day.
    let session = Session::new("user-1", "e");
    store.insert(session.clone()).await.expect("insert");
    let ttl = pttl(&store, &store.session_key(&session.id)).await;
    assert!(
        ttl > 23 * 3600 * 1000 && ttl <= 24 * 3600 * 1000,
        "default session PTTL {ttl}"
    );

    // A configured TTL; an update starts it again.
    let store = store.with_session_ttl(Duration::from_secs(60));
    store.update(&session).await.expect("update");
    let ttl = pttl(&store, &store.session_key(&session.id)).await;
    assert!(ttl > 0 && ttl <= 60_000, "PTTL after update {ttl}");

    // A short TTL: the key goes away and the session is not found.
    let short = store.clone().with_session_ttl(Duration::from_millis(200));
    let brief = Session::new("user-2", "e");
    short.insert(brief.clone()).await.expect("insert");
    let ttl = pttl(&short, &short.session_key(&brief.id)).await;
    assert!(ttl > 0 && ttl <= 200, "short PTTL {ttl}");
    eventually("the session key to expire", support::WAIT, || async {
        short.get(&brief.id).await == Err(WaitroomError::SessionNotFound(brief.id.clone()))
    })
    .await;
    assert_eq!(
        pttl(&short, &short.session_key(&brief.id)).await,
        -2,
        "key gone"
    );
    support::cleanup(&store).await;
}

#[tokio::test]
async fn redis_idempotency_keys_carry_lease_and_ttl() {
    let Some(store) = support::store("idempotency_ttl").await else {
        return;
    };
    let key = store.idempotency_key("g/1");
    store
        .claim("g/1", Duration::from_secs(30))
        .await
        .expect("claim");
    let lease = pttl(&store, &key).await;
    assert!(lease > 0 && lease <= 30_000, "lease PTTL {lease}");
    store
        .complete("g/1", Duration::from_secs(600))
        .await
        .expect("complete");
    let ttl = pttl(&store, &key).await;
    assert!(ttl > 30_000 && ttl <= 600_000, "done PTTL {ttl}");

    // Release drops only an unfinished claim: a done marker stays.
    store.release("g/1").await.expect("release");
    assert_eq!(
        store.claim("g/1", Duration::from_secs(30)).await.ok(),
        Some(Claim::Done)
    );
    support::cleanup(&store).await;
}

#[tokio::test]
async fn redis_keys_start_with_the_prefix() {
    let Some(store) = support::store("prefix").await else {
        return;
    };
    let session = Session::new("user-1", "e");
    store.insert(session.clone()).await.expect("insert");
    store.enqueue("e", &session.id).await.expect("enqueue");
    store.admit_next("e", 1).await.expect("admit");
    store
        .claim("k", Duration::from_secs(30))
        .await
        .expect("claim");
    let mut keys = support::keys(&store).await;
    keys.sort();
    let p = store.prefix();
    assert_eq!(
        keys,
        vec![
            format!("{p}idempotency:k"),
            format!("{p}processing:e"),
            format!("{p}queue-seq:e"),
            format!("{p}session:{}", session.id),
        ],
        "the queue key is gone once empty"
    );
    support::cleanup(&store).await;
    assert!(support::keys(&store).await.is_empty());
}

#[tokio::test]
async fn redis_unreadable_data_is_an_error_not_a_panic() {
    let Some(store) = support::store("bad_data").await else {
        return;
    };
    let mut conn = store.connection();
    let () = conn
        .set(store.session_key("broken"), "not json")
        .await
        .expect("SET");
    match store.get("broken").await {
        Err(WaitroomError::Unavailable(message)) => {
            assert!(message.contains("not a valid session"), "{message}");
        }
        other => panic!("expected an unreadable session error, got {other:?}"),
    }

    let () = conn
        .set(store.idempotency_key("odd"), "something else")
        .await
        .expect("SET");
    match store.claim("odd", Duration::from_secs(1)).await {
        Err(e @ Error::Rejected(_)) => {
            assert!(!e.is_transient());
            assert!(e.to_string().contains("neither a claim"), "{e}");
        }
        other => panic!("expected a rejected claim, got {other:?}"),
    }

    // A key of the wrong type: the server refuses, the store reports it.
    let () = conn
        .hset(store.idempotency_key("hash"), "field", "value")
        .await
        .expect("HSET");
    match store.claim("hash", Duration::from_secs(1)).await {
        Err(e @ Error::Rejected(_)) => assert!(e.to_string().contains("WRONGTYPE"), "{e}"),
        other => panic!("expected a rejected claim, got {other:?}"),
    }
    let () = conn
        .set(store.queue_key("e"), "a string, not a sorted set")
        .await
        .expect("SET");
    match store.enqueue("e", "s").await {
        Err(WaitroomError::Unavailable(message)) => {
            assert!(message.contains("WRONGTYPE"), "{message}");
        }
        other => panic!("expected a refused enqueue, got {other:?}"),
    }
    support::cleanup(&store).await;
}

#[tokio::test]
async fn unreachable_redis_is_unavailable() {
    // Nothing listens on port 1.
    let error = RedisStore::connect("redis://127.0.0.1:1")
        .await
        .expect_err("no server");
    assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
    assert!(error.is_transient());

    let error = RedisStore::connect("not a url").await.expect_err("bad url");
    assert!(matches!(error, Error::Config(_)), "{error:?}");
}
