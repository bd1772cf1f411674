//! sqlx errors as store errors, and the checked conversions of column values.

use chrono::{DateTime, NaiveDate, Utc};
use waitlist_core::store::{StoreError, StoreResult};

/// SQLSTATEs after which retrying may succeed: connection exceptions (class
/// 08), serialization failure, deadlock, too many connections, admin or
/// crash shutdown, cannot connect now, statement timeout / cancel.
fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03" | "57014"
        )
}

/// Whether `e` is transient (the database unreachable, busy or timed out).
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| transient_sqlstate(&c)),
        _ => false,
    }
}

/// `e` as a store error: transient failures are
/// [`StoreError::Unavailable`], everything else [`StoreError::Other`].
pub(crate) fn store_error(e: sqlx::Error) -> StoreError {
    if is_transient(&e) {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Other(e.to_string())
    }
}

/// Whether `e` is a unique violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The store error of a failed insert of `kind` `id`: a unique violation
/// means the id is taken.
pub(crate) fn insert_error<'a>(
    kind: &'static str,
    id: &'a str,
) -> impl FnOnce(sqlx::Error) -> StoreError + 'a {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::already_exists(kind, id)
        } else {
            store_error(e)
        }
    }
}

/// `Ok` when a statement on `kind` `id` touched a row; otherwise there is
/// no such record.
pub(crate) fn found(touched: u64, kind: &'static str, id: &str) -> StoreResult<()> {
    if touched == 0 {
        Err(StoreError::not_found(kind, id))
    } else {
        Ok(())
    }
}

/// A `u64` as a `bigint`, or an error naming `what`.
pub(crate) fn to_i64(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Other(format!("{what} {value} exceeds bigint")))
}

/// A `bigint` column as a `u64`, or an error for a negative value.
pub(crate) fn to_u64(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Other(format!("negative {what} {value}")))
}

/// A `count(*)` as a `u64`.
pub(crate) fn count(value: i64) -> StoreResult<u64> {
    to_u64(value, "count")
}

/// The earliest instant both chrono and PostgreSQL represent (4000 BC).
fn floor() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(-4000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The latest instant both chrono and PostgreSQL represent (year 200000).
fn ceiling() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(200_000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at − d`, saturating at a instant PostgreSQL stores.
pub(crate) fn minus(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_sub_signed(d))
        .map_or_else(floor, |t| t.max(floor()))
}

/// `at + d`, saturating at a instant PostgreSQL stores.
pub(crate) fn plus(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .map_or_else(ceiling, |t| t.min(ceiling()))
}

/// A duration in whole microseconds for `… * interval '1 microsecond'`,
/// at most 100 years (longer intervals overflow timestamps).
pub(crate) fn micros(d: std::time::Duration) -> i64 {
    const CENTURY: i64 = 100 * 365 * 86_400 * 1_000_000;
    i64::try_from(d.as_micros()).map_or(CENTURY, |m| m.min(CENTURY))
}
