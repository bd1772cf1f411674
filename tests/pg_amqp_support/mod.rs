//! PostgreSQL and RabbitMQ for the tests that need both: where they are,
//! and connecting to them (a failure under `WAITLIST_REQUIRE_BROKERS=1`,
//! otherwise a reported skip).
#![allow(dead_code, unreachable_pub)]

use waitlist::{AmqpConfig, AmqpTransport, PgStore};

/// `DATABASE_URL`, or the local test database.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `AMQP_URL`, or the local test virtual host.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/waitlist-test".to_owned())
}

/// A store in `schema` and a transport, or `None` (after reporting the
/// skip) when either is unreachable.
///
/// # Panics
/// When one is unreachable and `WAITLIST_REQUIRE_BROKERS=1`.
pub async fn connect(schema: &str) -> Option<(PgStore, AmqpTransport)> {
    let pg = match PgStore::connect(&database_url()).await {
        Ok(pg) => pg.with_schema(schema),
        Err(e) => return missing("PostgreSQL", &e),
    };
    match AmqpTransport::connect(AmqpConfig::new(amqp_url())).await {
        Ok(t) => Some((pg, t)),
        Err(e) => missing("RabbitMQ", &e),
    }
}

fn missing<T>(what: &str, e: &dyn std::fmt::Display) -> Option<T> {
    let required = std::env::var("WAITLIST_REQUIRE_BROKERS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{what} not reachable ({e}) and WAITLIST_REQUIRE_BROKERS=1"
    );
    eprintln!("SKIPPED: {what} not reachable ({e})");
    None
}
