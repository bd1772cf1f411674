//! A Redis restart: the same `RedisStore` answers Unavailable while the
//! server is down and works again once it is back, without a new connect.
//!
//! Its own test binary, since it stops the local server (127.0.0.1:6379)
//! with `redis-cli shutdown nosave` and starts it again as
//! scripts/services.d/06-redis.sh does. Skipped when `REDIS_URL` names
//! another server.

mod support;

use std::process::Command;
use std::time::Duration;

use waitlist_core::conformance::eventually;
use waitlist_core::runtime::{Claim, IdempotencyStore};
use waitlist_core::waitroom::{QueueStore, Session, SessionStore, WaitroomError};

const LOCAL: &str = "redis://127.0.0.1:6379";

fn ping() -> bool {
    Command::new("redis-cli")
        .arg("ping")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "PONG")
}

fn start_server() {
    let status = Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1 -::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ])
        .status()
        .expect("run redis-server");
    assert!(status.success(), "redis-server failed to start: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_recovers_after_a_redis_restart() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| LOCAL.to_owned());
    if url.trim_end_matches('/') != LOCAL {
        eprintln!("SKIPPED store_recovers_after_a_redis_restart: REDIS_URL is {url}, not the local server");
        return;
    }
    let Some(store) = support::store("restart").await else {
        return;
    };
    let session = Session::new("user-1", "e");
    store.insert(session.clone()).await.expect("insert");
    assert_eq!(store.enqueue("e", &session.id).await, Ok(1));

    // redis-cli may report the connection the shutdown drops; whether the
    // server stopped is what the ping below checks.
    let _shutdown = Command::new("redis-cli")
        .args(["shutdown", "nosave"])
        .status();
    eventually("redis to stop", support::WAIT, || async { !ping() }).await;

    // Down: transient errors, no panic.
    match store.queued("e").await {
        Err(WaitroomError::Unavailable(_)) => {}
        other => {
            start_server();
            panic!("expected Unavailable while redis is down, got {other:?}");
        }
    }
    assert!(store
        .claim("k", Duration::from_secs(30))
        .await
        .is_err_and(|e| e.is_transient()));

    start_server();
    eventually("redis to answer again", support::WAIT, || async { ping() }).await;

    // The same store, no new connect: it reconnects on its own. The
    // restarted server kept nothing (`--save ""`), scripts included.
    eventually("the store to reconnect", support::WAIT, || async {
        store.queued("e").await.is_ok()
    })
    .await;
    assert_eq!(
        store.get(&session.id).await,
        Err(WaitroomError::SessionNotFound(session.id.clone()))
    );
    store
        .insert(session.clone())
        .await
        .expect("insert after restart");
    assert_eq!(store.get(&session.id).await, Ok(session.clone()));
    assert_eq!(store.enqueue("e", &session.id).await, Ok(1));
    assert_eq!(store.admit_next("e", 1).await, Ok(Some(session.id.clone())));
    assert_eq!(
        store.claim("k", Duration::from_secs(30)).await.ok(),
        Some(Claim::Acquired)
    );
    support::cleanup(&store).await;
}
