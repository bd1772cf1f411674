//! Shared setup of the Redis store tests: a store on the test server with
//! a key prefix of its own, and polling helpers.

#![allow(dead_code, unreachable_pub)]

pub mod checks;

use std::time::Duration;

use waitlist_core::conformance::Harness;
use waitlist_core::waitroom::CheckoutTokenSigner;
use waitlist_redis::RedisStore;

/// How long the polling helpers wait before they fail.
pub const WAIT: Duration = Duration::from_secs(10);

/// A key prefix no other test uses.
pub fn unique_prefix(test: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("waitlist-test:{test}:{}:", &id[..12])
}

/// A store on `REDIS_URL` (default `redis://127.0.0.1:6379`) with `prefix`,
/// or `None` after reporting the test skipped (failing instead under
/// `WAITLIST_REQUIRE_BROKERS=1`) when Redis cannot be reached.
pub async fn connect(test: &str, prefix: &str) -> Option<RedisStore> {
    match RedisStore::from_env().await {
        Ok(store) => Some(store.with_prefix(prefix)),
        Err(error) => {
            eprintln!("{test}: redis not reachable: {error}");
            Harness::missing_broker(test);
            None
        }
    }
}

/// A store with a fresh prefix, or `None` when Redis cannot be reached.
pub async fn store(test: &str) -> Option<RedisStore> {
    connect(test, &unique_prefix(test)).await
}

/// Deletes every key of `store`'s prefix.
pub async fn cleanup(store: &RedisStore) {
    let mut conn = store.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", store.prefix()))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await
            .expect("DEL");
    }
}

/// The keys of `store`'s prefix that exist now.
pub async fn keys(store: &RedisStore) -> Vec<String> {
    let mut conn = store.connection();
    redis::cmd("KEYS")
        .arg(format!("{}*", store.prefix()))
        .query_async(&mut conn)
        .await
        .expect("KEYS")
}

/// The checkout token signer of the waiting-room tests.
pub fn signer() -> CheckoutTokenSigner {
    CheckoutTokenSigner::new(b"test key of thirty-two bytes....".to_vec()).expect("key")
}
