//! PostgreSQL stores of the `waitlist` SDK (sqlx).
//!
//! [`PgStore`] implements every store trait of `waitlist_core::store`
//! ([`CampaignStore`](waitlist_core::store::CampaignStore),
//! [`UserStore`](waitlist_core::store::UserStore), referrals, rewards, the
//! email log, analytics and fraud signals) and the runtime's
//! [`IdempotencyStore`](waitlist_core::runtime::IdempotencyStore);
//! [`PgCampaignLock`] is the campaign lock of the position workers,
//! `pg_advisory_xact_lock(hashtext(campaign_id))` held by a transaction.
//!
//! Every table lives in one schema (default `waitlist`, see
//! [`PgStore::with_schema`]); every query names it, so the store works on a
//! pool the host shares with its own code. [`PgStore::migrate`] creates the
//! schema and tables; [`PgStore::migration_sql`] gives the same SQL for a
//! host that runs its migrations itself.
//!
//! Race-sensitive writes are single statements (`INSERT … ON CONFLICT DO
//! NOTHING`, `UPDATE … WHERE status = … RETURNING`), so several processes can
//! share one database.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod columns;
mod error;
mod idempotency;
mod lock;
mod migrate;
pub mod outbox;
mod positions;
mod records;
mod users;

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Encode, Postgres, Type};
use waitlist_core::store::{StoreResult, TimeRange};

pub use lock::PgCampaignLock;
pub use migrate::MIGRATIONS;
pub use outbox::{Backlog, Outbox, OutboxRelay, RelayStats, RunningRelay};
/// The sqlx this crate is built on: hosts use it for their own queries in
/// the transactions they stage outbox messages in (one version, so
/// `&mut *tx` fits).
pub use sqlx;

/// The default schema of the store's tables.
pub const DEFAULT_SCHEMA: &str = "waitlist";

/// Why connecting or migrating failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// `DATABASE_URL` is not set.
    #[error("DATABASE_URL is not set")]
    MissingUrl,
    /// The database refused or failed.
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
}

/// Every store trait on PostgreSQL; cheap to clone (it shares the pool).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    schema: String,
    /// The schema as a quoted identifier, ready to put in SQL.
    quoted: String,
    /// Idempotency claims so far (every 1024th purges expired keys).
    claims: Arc<AtomicU64>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool.size())
            .finish()
    }
}

/// `name` as a PostgreSQL quoted identifier (`"` doubled inside).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl PgStore {
    /// Connects a pool of 10 connections to `url`
    /// (`postgres://user@host:port/db`).
    ///
    /// # Errors
    /// When the URL is malformed or the database cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, PgError> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Connects to `DATABASE_URL`.
    ///
    /// # Errors
    /// [`PgError::MissingUrl`] when it is unset; otherwise as
    /// [`connect`](Self::connect).
    pub async fn from_env() -> Result<Self, PgError> {
        let url = std::env::var("DATABASE_URL").map_err(|_| PgError::MissingUrl)?;
        Self::connect(&url).await
    }

    /// A store on the host's pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            schema: DEFAULT_SCHEMA.to_owned(),
            quoted: quote_ident(DEFAULT_SCHEMA),
            claims: Arc::default(),
        }
    }

    /// Keeps the tables in `schema` instead of `waitlist`.
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self.quoted = quote_ident(&self.schema);
        self
    }

    /// The schema of the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A campaign lock on the same pool. Each held lock keeps one pooled
    /// connection; size the pool for the campaigns locked at once plus the
    /// store's own queries.
    pub fn campaign_lock(&self) -> PgCampaignLock {
        PgCampaignLock::new(self.pool.clone())
    }

    /// `sql` with every `{s}` replaced by the quoted schema.
    pub(crate) fn sql(&self, sql: &str) -> String {
        sql.replace("{s}", &self.quoted)
    }

    /// The record of `table` keyed by (`campaign_id`, `id`), read by
    /// `from_row`, if there is one.
    pub(crate) async fn by_id<T>(
        &self,
        table: &str,
        campaign_id: &str,
        id: &str,
        from_row: fn(&PgRow) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let sql = format!("SELECT * FROM {{s}}.{table} WHERE campaign_id = $1 AND id = $2");
        let row = sqlx::query(&self.sql(&sql))
            .bind(campaign_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(error::store_error)?;
        row.as_ref().map(from_row).transpose()
    }

    /// Runs `sql` on one campaign (`$1` = `campaign_id`, then `$2` and
    /// `$3`); returns how many rows it touched.
    pub(crate) async fn execute_in<A, B>(
        &self,
        sql: &str,
        campaign_id: &str,
        second: A,
        third: B,
    ) -> StoreResult<u64>
    where
        A: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send,
        B: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send,
    {
        sqlx::query(&self.sql(sql))
            .bind(campaign_id)
            .bind(second)
            .bind(third)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(error::store_error)
    }

    /// The `bigint` `column` (a `kind`, never negative) of campaign
    /// `campaign_id`'s row in `table`, keyed by campaign; 0 when it has none.
    pub(crate) async fn campaign_value(
        &self,
        table: &str,
        column: &str,
        campaign_id: &str,
        kind: &str,
    ) -> StoreResult<u64> {
        let sql = format!("SELECT {column} FROM {{s}}.{table} WHERE campaign_id = $1");
        let value: Option<i64> = sqlx::query_scalar(&self.sql(&sql))
            .bind(campaign_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(error::store_error)?;
        error::to_u64(value.unwrap_or(0), kind)
    }

    /// Runs `sql`, an `UPDATE` of the `kind` record (`$1` = `campaign_id`,
    /// `$2` = `id`, `$3` = `value`); [`StoreError::NotFound`] when there is
    /// no such record.
    ///
    /// [`StoreError::NotFound`]: waitlist_core::store::StoreError::NotFound
    pub(crate) async fn update_one<V>(
        &self,
        kind: &'static str,
        sql: &str,
        campaign_id: &str,
        id: &str,
        value: V,
    ) -> StoreResult<()>
    where
        V: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send,
    {
        let touched = self.execute_in(sql, campaign_id, id, value).await?;
        error::found(touched, kind, id)
    }

    /// How many rows of `table` in campaign `campaign_id` have `column`
    /// in `range`.
    pub(crate) async fn count_in(
        &self,
        table: &str,
        column: &str,
        campaign_id: &str,
        range: TimeRange,
    ) -> StoreResult<u64> {
        let sql = format!(
            "SELECT count(*) FROM {{s}}.{table}
             WHERE campaign_id = $1 AND {column} >= $2 AND {column} < $3"
        );
        let n: i64 = sqlx::query_scalar(&self.sql(&sql))
            .bind(campaign_id)
            .bind(range.start)
            .bind(range.end)
            .fetch_one(&self.pool)
            .await
            .map_err(error::store_error)?;
        error::count(n)
    }
}
