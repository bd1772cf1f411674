//! Reading the columns of a row into the model: a column that cannot be
//! read makes the row corrupt; unit enums are stored by name.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
use waitlist_core::store::{StoreError, StoreResult};

use crate::error::to_u64;

/// The stored name of a unit enum of the model: its serde name
/// (`snake_case`, as in the events' JSON). Every enum stored by name is a
/// unit enum, so it always serialises to a string.
pub(crate) fn name_of<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// A unit enum of the model from its stored name.
pub(crate) fn parse_name<T: DeserializeOwned>(what: &str, name: &str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| StoreError::Other(format!("unknown {what} `{name}`")))
}

/// The columns of one row of a `what` (`user`, `referral`, …).
pub(crate) struct Columns<'r> {
    row: &'r PgRow,
    what: &'static str,
}

impl<'r> Columns<'r> {
    /// The columns of `row`, a `what`.
    pub(crate) fn of(row: &'r PgRow, what: &'static str) -> Self {
        Self { row, what }
    }

    /// Column `column` as a `T`.
    pub(crate) fn get<T>(&self, column: &str) -> StoreResult<T>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
    {
        self.row
            .try_get(column)
            .map_err(|e| StoreError::Other(format!("corrupt {} row: {e}", self.what)))
    }

    /// The unit enum (a `kind`, as `referral status`) stored by name in
    /// `column`.
    pub(crate) fn name<T: DeserializeOwned>(&self, column: &str, kind: &str) -> StoreResult<T> {
        parse_name(kind, &self.get::<String>(column)?)
    }

    /// The `bigint` column `column` (a `kind`, as `position`), which is
    /// never negative.
    pub(crate) fn unsigned(&self, column: &str, kind: &str) -> StoreResult<u64> {
        to_u64(self.get(column)?, kind)
    }
}
