//! The full position recalculation in one statement.

use sqlx::Row;
use waitlist_core::store::{RecalculatedPositions, StoreError, StoreResult};

use crate::error::{count, store_error};
use crate::PgStore;

/// Ranks the campaign with `ROW_NUMBER()` over the order of
/// `waitlist_core::domain::positions::rank_all` and updates only the rows
/// whose position differs; returns how many users were ranked and updated.
///
/// The score is `original_position − verified_referrals × $2`, saturating
/// like `ranking::score`: exact `bigint` arithmetic when the row is inside
/// the bounds `$3` (referrals) and `$4` (original position) of
/// [`exact_bounds`], otherwise `numeric` clamped to `bigint` after the
/// product and after the difference. User ids compare byte-wise
/// (`COLLATE "C"`, as Rust's `str` does).
const RECALCULATE: &str = r#"
WITH ranked AS (
    SELECT id, position,
           ROW_NUMBER() OVER (ORDER BY
               CASE WHEN verified_referrals <= $3 AND original_position <= $4
                    THEN original_position - verified_referrals * $2
                    ELSE LEAST(GREATEST(
                             original_position::numeric - LEAST(GREATEST(
                                 verified_referrals::numeric * $2,
                                 -9223372036854775808), 9223372036854775807),
                             -9223372036854775808), 9223372036854775807)::bigint
               END,
               original_position,
               id COLLATE "C") AS rank
    FROM {s}.users
    WHERE campaign_id = $1
), changed AS (
    UPDATE {s}.users AS u SET position = r.rank
    FROM ranked AS r
    WHERE u.campaign_id = $1 AND u.id = r.id AND r.position IS DISTINCT FROM r.rank
    RETURNING 1
)
SELECT (SELECT count(*) FROM ranked) AS users, (SELECT count(*) FROM changed) AS changed
"#;

/// The largest verified-referral count and original position (both never
/// negative) for which `original − verified × points` cannot overflow a
/// `bigint`.
fn exact_bounds(points: i64) -> (i64, i64) {
    let half = i64::MAX / 2;
    match points {
        0 => (i64::MAX, i64::MAX),
        // 0 ≤ verified × points ≤ MAX, so original − product ≥ −MAX.
        p if p > 0 => (i64::MAX / p, i64::MAX),
        // original + verified × |points| ≤ MAX/2 + MAX/2.
        p => (
            i64::try_from(half.unsigned_abs() / p.unsigned_abs()).unwrap_or(0),
            half,
        ),
    }
}

impl PgStore {
    /// [`UserStore::recalculate_positions`] in one statement.
    ///
    /// [`UserStore::recalculate_positions`]: waitlist_core::store::UserStore::recalculate_positions
    pub(crate) async fn recalculate_in_sql(
        &self,
        campaign_id: &str,
        points_per_referral: i64,
    ) -> StoreResult<RecalculatedPositions> {
        let (max_referrals, max_original) = exact_bounds(points_per_referral);
        let row = sqlx::query(&self.sql(RECALCULATE))
            .bind(campaign_id)
            .bind(points_per_referral)
            .bind(max_referrals)
            .bind(max_original)
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        let get = |e: sqlx::Error| StoreError::Other(format!("recalculation result: {e}"));
        Ok(RecalculatedPositions {
            users: count(row.try_get("users").map_err(get)?)?,
            changed: count(row.try_get("changed").map_err(get)?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::exact_bounds;

    /// Whether `original − verified × points` stays in `i64` for the
    /// corners of the bounds.
    fn exact_at_bounds(points: i64) -> bool {
        let (v, o) = exact_bounds(points);
        [(0, 0), (v, 0), (0, o), (v, o)].iter().all(|&(v, o)| {
            v.checked_mul(points)
                .and_then(|product| i64::checked_sub(o, product))
                .is_some()
        })
    }

    #[test]
    fn bounds_keep_bigint_arithmetic_exact() {
        for points in [0, 1, 2, 3, 7, 1 << 40, i64::MAX, -1, -2, -7, i64::MIN] {
            assert!(exact_at_bounds(points), "points {points}");
        }
        assert_eq!(exact_bounds(1), (i64::MAX, i64::MAX));
        assert_eq!(exact_bounds(i64::MIN).0, 0);
    }
}
