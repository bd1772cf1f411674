//! The embedded migrations and their runner.

use crate::{quote_ident, PgError, PgStore};

/// The migrations, in the order they apply: `(version, name, sql)`. Each
/// runs with `search_path` set to the store's schema and is idempotent.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "stores", include_str!("../migrations/0001_stores.sql")),
    (
        2,
        "ranking_versions",
        include_str!("../migrations/0002_ranking_versions.sql"),
    ),
    (3, "outbox", include_str!("../migrations/0003_outbox.sql")),
    (
        4,
        "user_counts",
        include_str!("../migrations/0004_user_counts.sql"),
    ),
];

/// Key of the advisory lock that serialises concurrent `migrate` calls (two
/// int4 keys: a space apart from the one-key campaign locks).
const MIGRATION_LOCK_CLASS: i32 = 0x5741_4954; // "WAIT"

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS _migrations (
    version    bigint PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);";

impl PgStore {
    /// Creates the schema and every table (idempotent; concurrent callers
    /// wait for each other). Applied migrations are recorded in the schema's
    /// `_migrations` table and not run again.
    ///
    /// # Errors
    /// When the database refuses a statement or cannot be reached.
    pub async fn migrate(&self) -> Result<(), PgError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(MIGRATION_LOCK_CLASS)
            .bind(&self.schema)
            .execute(&mut *tx)
            .await?;
        let schema = &self.quoted;
        sqlx::raw_sql(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}; {LEDGER}"
        ))
        .execute(&mut *tx)
        .await?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _migrations")
            .fetch_all(&mut *tx)
            .await?;
        for (version, name, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            tracing::info!(schema = %self.schema, version, name, "applying migration");
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO _migrations (version, name) VALUES ($1, $2)")
                .bind(version)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The SQL of every migration for `schema`, as one transaction a host
    /// can run itself (`psql -f`); running it again changes nothing.
    pub fn migration_sql(schema: &str) -> String {
        let schema = quote_ident(schema);
        let mut sql = format!(
            "BEGIN;\nCREATE SCHEMA IF NOT EXISTS {schema};\nSET LOCAL search_path TO {schema};\n{LEDGER}\n"
        );
        for (version, name, body) in MIGRATIONS {
            sql.push_str(&format!("\n-- migration {version}: {name}\n{body}\n"));
            sql.push_str(&format!(
                "INSERT INTO _migrations (version, name) VALUES ({version}, '{}') ON CONFLICT (version) DO NOTHING;\n",
                name.replace('\'', "''")
            ));
        }
        sql.push_str("COMMIT;\n");
        sql
    }
}
