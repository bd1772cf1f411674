//! A schema of its own per test, dropped when the test ends (also on panic).

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};
use waitlist_postgres::PgStore;

/// Where the tests find PostgreSQL.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A migrated store in a fresh schema `t_<uuid>`.
#[derive(Debug)]
pub struct TestDb {
    pub store: PgStore,
    pub schema: String,
}

impl TestDb {
    /// The store, or `None` (after reporting) when PostgreSQL is unreachable.
    pub async fn new(test: &str) -> Option<Self> {
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let store = connect(test).await?.with_schema(&schema);
        let db = Self { store, schema };
        db.store.migrate().await.expect("migrate");
        Some(db)
    }

    /// Another store (its own pool) on the same schema.
    pub async fn second_instance(&self) -> PgStore {
        connect("second instance")
            .await
            .expect("database reachable")
            .with_schema(&self.schema)
    }
}

/// A store on its own pool, or `None` (after reporting) when unreachable.
pub async fn connect(test: &str) -> Option<PgStore> {
    let pool = PgPoolOptions::new()
        .max_connections(25)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&database_url())
        .await;
    match pool {
        Ok(pool) => Some(PgStore::from_pool(pool)),
        Err(e) => {
            missing_database(test, &e);
            None
        }
    }
}

/// Fails under `WAITLIST_REQUIRE_BROKERS=1`, otherwise reports the skip.
pub fn missing_database(test: &str, e: &dyn std::fmt::Display) {
    let required = std::env::var("WAITLIST_REQUIRE_BROKERS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: PostgreSQL not reachable ({e}) and WAITLIST_REQUIRE_BROKERS=1"
    );
    eprintln!(
        "SKIPPED {test}: PostgreSQL not reachable ({e}); set WAITLIST_REQUIRE_BROKERS=1 to fail instead"
    );
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let schema = self.schema.replace('"', "\"\"");
        // Drop may run on a runtime thread: do the async work on a thread
        // with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&database_url())
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                conn.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop schema {}: {dropped:?}", self.schema);
        }
    }
}

/// How long the tests wait for a condition.
pub const WAIT: Duration = Duration::from_secs(10);
