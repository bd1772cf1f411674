//! The README's "Redis stores" example, run against the server at
//! `REDIS_URL` (the doctest is `no_run`): the same code, with a key prefix
//! of its own whose keys are deleted afterwards.

use std::sync::Arc;
use std::time::Duration;

use waitlist::conformance::Harness;
use waitlist::redis::RedisStore;
use waitlist::runtime::{Claim, IdempotencyStore};
use waitlist::waitroom::{CheckoutTokenSigner, SessionStatus, WaitroomService};

#[tokio::test]
async fn readme_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    let prefix = format!("waitlist-test:readme:{}:", uuid_like());
    let store = match RedisStore::from_env().await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("redis not reachable: {error}");
            Harness::missing_broker("readme_example_runs");
            return Ok(());
        }
    };
    // As in the README, with this test's prefix instead of "shop:".
    let store = store
        .with_prefix(prefix.clone())
        .with_session_ttl(Duration::from_secs(6 * 3600));
    let signer = CheckoutTokenSigner::new(b"a key of at least thirty-two bytes".to_vec())?;
    let waitroom = WaitroomService::builder(Arc::new(store.clone()), signer)
        .checkout_slots(100)
        .build();
    let joined = waitroom.join("user-1", "concert-2024").await?;
    assert_eq!(joined.position, 1);
    assert_eq!(joined.session.status, SessionStatus::Admitted);

    let lease = Duration::from_secs(30);
    assert_eq!(
        store.claim("email-workers/msg-1", lease).await?,
        Claim::Acquired
    );
    store
        .complete("email-workers/msg-1", Duration::from_secs(3600))
        .await?;
    assert_eq!(
        store.claim("email-workers/msg-1", lease).await?,
        Claim::Done
    );

    // Clean up this test's keys.
    let mut conn = store.connection();
    let keys: Vec<String> = waitlist::redis::redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await?;
    assert!(!keys.is_empty());
    waitlist::redis::redis::cmd("DEL")
        .arg(&keys)
        .query_async::<()>(&mut conn)
        .await?;
    Ok(())
}

/// A process- and time-unique suffix (the facade has no uuid dependency).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}
