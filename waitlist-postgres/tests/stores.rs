//! The store conformance suite on PostgreSQL (and on MemoryStore, the
//! reference), migrations, idempotency keys and error mapping.

mod support;

use std::sync::Arc;
use std::time::Duration;

use waitlist_core::conformance::stores;
use waitlist_core::runtime::{Claim, IdempotencyStore};
use waitlist_core::store::{MemoryStore, StoreError, User, UserStore};
use waitlist_postgres::{PgStore, MIGRATIONS};

use support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_suite() {
    stores::all(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_store_passes_the_suite() {
    let Some(db) = TestDb::new("pg_store_passes_the_suite").await else {
        return;
    };
    stores::all(Arc::new(db.store.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn races_on_pg_have_one_winner_and_distinct_positions() {
    let Some(db) = TestDb::new("races_on_pg").await else {
        return;
    };
    let store = Arc::new(db.store.clone());
    stores::concurrent_delivery_claims_have_one_winner(Arc::clone(&store), 50).await;
    stores::concurrent_milestone_claims_have_one_winner(Arc::clone(&store), 50).await;
    stores::concurrent_signups_get_distinct_positions(Arc::clone(&store), 20).await;
    // The same races from two processes' worth of pools.
    let other = Arc::new(db.second_instance().await);
    let mine = Arc::clone(&store);
    let signups = |s: Arc<PgStore>, from: usize| async move {
        let mut got = Vec::new();
        for i in from..from + 10 {
            let user = User::new("two-pools", format!("u{i}"), "x@example.com", stores::at(0));
            got.push(s.insert_user(user).await.expect("insert"));
        }
        got
    };
    let (a, b) = tokio::join!(signups(mine, 0), signups(other, 10));
    let mut all: Vec<u64> = a.into_iter().chain(b).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=20).collect::<Vec<u64>>());
}

/// How many migrations the ledger of `schema` records.
async fn recorded_migrations(db: &TestDb, schema: &str) -> usize {
    let sql = format!("SELECT count(*) FROM \"{schema}\"._migrations");
    let n: i64 = sqlx::query_scalar(&sql)
        .fetch_one(db.store.pool())
        .await
        .expect("ledger");
    usize::try_from(n).expect("a count")
}

#[tokio::test]
async fn migrations_run_twice_and_are_recorded_once() {
    let Some(db) = TestDb::new("migrations_run_twice").await else {
        return;
    };
    db.store.migrate().await.expect("second migrate");
    let (a, b) = tokio::join!(db.store.migrate(), db.store.migrate());
    a.expect("concurrent migrate");
    b.expect("concurrent migrate");
    assert_eq!(recorded_migrations(&db, &db.schema).await, MIGRATIONS.len());
}

#[tokio::test]
async fn migration_sql_is_what_migrate_applies_and_can_run_twice() {
    let Some(db) = TestDb::new("migration_sql").await else {
        return;
    };
    // A second schema set up by running the SQL as a host would, twice.
    let Some(host) = TestDb::new("migration_sql host").await else {
        return;
    };
    let sql = PgStore::migration_sql(&host.schema);
    assert!(sql.contains(&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", host.schema)));
    for _ in 0..2 {
        sqlx::raw_sql(&sql)
            .execute(db.store.pool())
            .await
            .expect("migration SQL runs");
    }
    let user = User::new("c", "ada", "ada@example.com", stores::at(0));
    assert_eq!(host.store.insert_user(user).await, Ok(1));
    // migrate() after the script: nothing left to apply, nothing fails.
    host.store.migrate().await.expect("migrate after script");
    assert_eq!(
        recorded_migrations(&db, &host.schema).await,
        MIGRATIONS.len()
    );
}

/// Runs `sql` on the store's pool with the schema as search path.
async fn in_schema(db: &TestDb, sql: &str) {
    sqlx::raw_sql(&format!(
        "BEGIN; SET LOCAL search_path TO \"{}\"; {sql}; COMMIT;",
        db.schema
    ))
    .execute(db.store.pool())
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn user_counts_follow_bulk_loads_deletes_and_truncation() {
    let Some(db) = TestDb::new("user_counts").await else {
        return;
    };
    let s = &db.store;
    let ada = User::new("c1", "ada", "ada@example.com", stores::at(0));
    s.insert_user(ada).await.expect("insert");
    // A host's own bulk load, in two campaigns at once.
    in_schema(
        &db,
        "INSERT INTO users (campaign_id, id, email, original_position, created_at)
         SELECT 'c' || (1 + i % 2), 'u' || i, 'u@example.com', 2 + i, now()
         FROM generate_series(1, 9) AS i",
    )
    .await;
    assert_eq!(s.count_users("c1").await, Ok(5));
    assert_eq!(s.count_users("c2").await, Ok(5));
    in_schema(
        &db,
        "DELETE FROM users WHERE campaign_id = 'c2' AND id <> 'u1'",
    )
    .await;
    assert_eq!(s.count_users("c2").await, Ok(1));
    in_schema(&db, "TRUNCATE users").await;
    assert_eq!(s.count_users("c1").await, Ok(0));
    assert_eq!(s.count_users("c3").await, Ok(0));
}

#[tokio::test]
async fn the_user_count_migration_counts_the_users_already_there() {
    let Some(db) = TestDb::new("user_count_backfill").await else {
        return;
    };
    // Back to before migration 4: no counts, no triggers, not recorded.
    in_schema(
        &db,
        "DROP TABLE campaign_user_counts;
         DROP TRIGGER users_count_inserted ON users;
         DROP TRIGGER users_count_deleted ON users;
         DROP TRIGGER users_count_truncated ON users;
         DELETE FROM _migrations WHERE version = 4;
         INSERT INTO users (campaign_id, id, email, original_position, created_at)
         SELECT 'c', 'u' || i, 'u@example.com', i, now() FROM generate_series(1, 7) AS i",
    )
    .await;
    db.store.migrate().await.expect("migrate");
    assert_eq!(db.store.count_users("c").await, Ok(7));
    let user = User::new("c", "ada", "ada@example.com", stores::at(0));
    assert_eq!(db.store.insert_user(user).await, Ok(8));
    assert_eq!(db.store.count_users("c").await, Ok(8));
}

#[tokio::test]
async fn idempotency_keys_claim_complete_release() {
    let Some(db) = TestDb::new("idempotency_keys").await else {
        return;
    };
    let s = &db.store;
    let lease = Duration::from_secs(30);
    assert_eq!(s.claim("g/1", lease).await.ok(), Some(Claim::Acquired));
    assert_eq!(s.claim("g/1", lease).await.ok(), Some(Claim::InProgress));
    s.complete("g/1", Duration::from_secs(3600))
        .await
        .expect("complete");
    assert_eq!(s.claim("g/1", lease).await.ok(), Some(Claim::Done));
    s.release("g/1").await.expect("release");
    assert_eq!(s.claim("g/1", lease).await.ok(), Some(Claim::Acquired));

    // An expired claim (zero lease) or an expired done mark is taken again.
    assert_eq!(
        s.claim("g/2", Duration::ZERO).await.ok(),
        Some(Claim::Acquired)
    );
    assert_eq!(s.claim("g/2", lease).await.ok(), Some(Claim::Acquired));
    s.complete("g/3", Duration::ZERO).await.expect("complete");
    assert_eq!(s.claim("g/3", lease).await.ok(), Some(Claim::Acquired));
    assert!(s.purge_expired_keys().await.is_ok());

    // Concurrent claims of one key: one acquires.
    let claims = futures_join_all(s, "g/race", 20).await;
    let acquired = claims.iter().filter(|c| **c == Claim::Acquired).count();
    assert_eq!(acquired, 1, "{claims:?}");
}

async fn futures_join_all(s: &PgStore, key: &'static str, n: usize) -> Vec<Claim> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.claim(key, Duration::from_secs(30)).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task").expect("claim"));
    }
    out
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let Some(db) = TestDb::new("an_unreachable_database_is_unavailable").await else {
        return;
    };
    let closed = db.second_instance().await;
    closed.pool().close().await;
    let err = closed.count_users("c").await.expect_err("closed pool");
    assert!(
        matches!(err, StoreError::Unavailable(_)),
        "a closed pool is Unavailable, got {err:?}"
    );
    assert!(err.is_transient());
    let err = closed
        .claim("k", Duration::from_secs(1))
        .await
        .expect_err("closed");
    assert!(err.is_transient(), "{err:?}");

    let malformed = PgStore::connect("not a database url").await;
    assert!(malformed.is_err());
    // A query on a schema without tables is a permanent failure, not a panic.
    let bare = db
        .second_instance()
        .await
        .with_schema("no_such_schema_here");
    let err = bare.count_users("c").await.expect_err("no table");
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
}

#[tokio::test]
async fn from_env_connects_to_database_url() {
    if std::env::var("DATABASE_URL").is_err() {
        let missing = PgStore::from_env().await;
        assert!(
            matches!(missing, Err(waitlist_postgres::PgError::MissingUrl)),
            "without DATABASE_URL: MissingUrl, got {missing:?}"
        );
        return;
    }
    let store = match PgStore::from_env().await {
        Ok(store) => store,
        Err(e) => {
            support::missing_database("from_env_connects_to_database_url", &e);
            return;
        }
    };
    assert_eq!(store.schema(), waitlist_postgres::DEFAULT_SCHEMA);
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(store.pool())
        .await
        .expect("query");
    assert_eq!(one, 1);
}
