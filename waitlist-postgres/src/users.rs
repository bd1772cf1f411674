//! Campaigns and users.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::Row;
use waitlist_core::store::{
    Campaign, CampaignStore, PositionChange, RecalculatedPositions, RewardRule, Standing,
    StoreError, StoreResult, TimeRange, User, UserStore,
};

use crate::error::{is_unique_violation, store_error, to_i64, to_u64};
use crate::PgStore;

/// Two-key advisory lock class of `insert_user` (a space apart from the
/// one-key campaign locks, so signups never wait for a recalculation).
const SIGNUP_LOCK_CLASS: i32 = 0x5553_5253; // "USRS"

fn user_from_row(row: &PgRow) -> StoreResult<User> {
    let get = |e: sqlx::Error| StoreError::Other(format!("corrupt user row: {e}"));
    let position: Option<i64> = row.try_get("position").map_err(get)?;
    Ok(User {
        id: row.try_get("id").map_err(get)?,
        campaign_id: row.try_get("campaign_id").map_err(get)?,
        email: row.try_get("email").map_err(get)?,
        original_position: to_u64(
            row.try_get("original_position").map_err(get)?,
            "original position",
        )?,
        verified_referrals: to_u64(
            row.try_get("verified_referrals").map_err(get)?,
            "verified referrals",
        )?,
        position: position.map(|p| to_u64(p, "position")).transpose()?,
        verified_at: row.try_get("verified_at").map_err(get)?,
        signup_ip: row.try_get("signup_ip").map_err(get)?,
        device_fingerprint: row.try_get("device_fingerprint").map_err(get)?,
        user_agent: row.try_get("user_agent").map_err(get)?,
        honeypot: row.try_get("honeypot").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
    })
}

fn campaign_from_row(row: &PgRow) -> StoreResult<Campaign> {
    let get = |e: sqlx::Error| StoreError::Other(format!("corrupt campaign row: {e}"));
    let Json(milestones): Json<Vec<u64>> = row.try_get("milestones").map_err(get)?;
    let Json(reward_rules): Json<Vec<RewardRule>> = row.try_get("reward_rules").map_err(get)?;
    Ok(Campaign {
        id: row.try_get("id").map_err(get)?,
        account_id: row.try_get("account_id").map_err(get)?,
        points_per_referral: row.try_get("points_per_referral").map_err(get)?,
        milestones,
        reward_rules,
        owner_email: row.try_get("owner_email").map_err(get)?,
    })
}

pub(crate) fn count(value: i64) -> StoreResult<u64> {
    to_u64(value, "count")
}

impl PgStore {
    /// Whether the campaign has any user.
    async fn has_users(&self, campaign_id: &str) -> StoreResult<bool> {
        sqlx::query_scalar(
            &self.sql("SELECT EXISTS (SELECT 1 FROM {s}.users WHERE campaign_id = $1)"),
        )
        .bind(campaign_id)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)
    }

    /// Whether the user exists.
    async fn has_user(&self, campaign_id: &str, user_id: &str) -> StoreResult<bool> {
        sqlx::query_scalar(
            &self.sql("SELECT EXISTS (SELECT 1 FROM {s}.users WHERE campaign_id = $1 AND id = $2)"),
        )
        .bind(campaign_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)
    }
}

#[async_trait]
impl CampaignStore for PgStore {
    async fn campaign(&self, campaign_id: &str) -> StoreResult<Option<Campaign>> {
        let row = sqlx::query(&self.sql("SELECT * FROM {s}.campaigns WHERE id = $1"))
            .bind(campaign_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(campaign_from_row).transpose()
    }

    async fn save_campaign(&self, campaign: Campaign) -> StoreResult<()> {
        sqlx::query(&self.sql(
            "INSERT INTO {s}.campaigns
                 (id, account_id, points_per_referral, milestones, reward_rules, owner_email)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET
                 account_id = EXCLUDED.account_id,
                 points_per_referral = EXCLUDED.points_per_referral,
                 milestones = EXCLUDED.milestones,
                 reward_rules = EXCLUDED.reward_rules,
                 owner_email = EXCLUDED.owner_email",
        ))
        .bind(&campaign.id)
        .bind(&campaign.account_id)
        .bind(campaign.points_per_referral)
        .bind(Json(&campaign.milestones))
        .bind(Json(&campaign.reward_rules))
        .bind(&campaign.owner_email)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn set_points_per_referral(&self, campaign_id: &str, points: i64) -> StoreResult<()> {
        let done = sqlx::query(
            &self.sql("UPDATE {s}.campaigns SET points_per_referral = $2 WHERE id = $1"),
        )
        .bind(campaign_id)
        .bind(points)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: "campaign",
                id: campaign_id.to_owned(),
            });
        }
        Ok(())
    }

    async fn claim_milestone(&self, campaign_id: &str, threshold: u64) -> StoreResult<bool> {
        let done = sqlx::query(&self.sql(
            "INSERT INTO {s}.campaign_milestones (campaign_id, threshold) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        ))
        .bind(campaign_id)
        .bind(to_i64(threshold, "milestone")?)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_milestone(&self, campaign_id: &str, threshold: u64) -> StoreResult<()> {
        sqlx::query(
            &self.sql(
                "DELETE FROM {s}.campaign_milestones WHERE campaign_id = $1 AND threshold = $2",
            ),
        )
        .bind(campaign_id)
        .bind(to_i64(threshold, "milestone")?)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl UserStore for PgStore {
    /// Takes a per-campaign advisory lock (two-key class, apart from the
    /// campaign lock) and inserts with `MAX(original_position) + 1` in the
    /// same transaction, so concurrent signups get distinct, gap-free
    /// positions.
    async fn insert_user(&self, user: User) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(SIGNUP_LOCK_CLASS)
            .bind(&user.campaign_id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let position: Option<i64> = sqlx::query_scalar(&self.sql(
            "INSERT INTO {s}.users
                 (campaign_id, id, email, original_position, verified_referrals, position,
                  verified_at, signup_ip, device_fingerprint, user_agent, honeypot, created_at)
             SELECT $1, $2, $3,
                    COALESCE((SELECT MAX(original_position) FROM {s}.users WHERE campaign_id = $1), 0) + 1,
                    $4, $5, $6, $7, $8, $9, $10, $11
             ON CONFLICT (campaign_id, id) DO NOTHING
             RETURNING original_position",
        ))
        .bind(&user.campaign_id)
        .bind(&user.id)
        .bind(&user.email)
        .bind(to_i64(user.verified_referrals, "verified referrals")?)
        .bind(user.position.map(|p| to_i64(p, "position")).transpose()?)
        .bind(user.verified_at)
        .bind(&user.signup_ip)
        .bind(&user.device_fingerprint)
        .bind(&user.user_agent)
        .bind(&user.honeypot)
        .bind(user.created_at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::AlreadyExists {
                    kind: "user",
                    id: user.id.clone(),
                }
            } else {
                store_error(e)
            }
        })?;
        let Some(position) = position else {
            tx.rollback().await.map_err(store_error)?;
            return Err(StoreError::AlreadyExists {
                kind: "user",
                id: user.id,
            });
        };
        tx.commit().await.map_err(store_error)?;
        to_u64(position, "original position")
    }

    async fn user(&self, campaign_id: &str, user_id: &str) -> StoreResult<Option<User>> {
        let row = self.row_by_id("users", campaign_id, user_id).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// One primary-key read of `campaign_user_counts`, which triggers on
    /// `users` keep (migration 4).
    async fn count_users(&self, campaign_id: &str) -> StoreResult<u64> {
        let n: Option<i64> = sqlx::query_scalar(
            &self.sql("SELECT users FROM {s}.campaign_user_counts WHERE campaign_id = $1"),
        )
        .bind(campaign_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        count(n.unwrap_or(0))
    }

    async fn standings(&self, campaign_id: &str) -> StoreResult<Vec<Standing>> {
        let rows = sqlx::query(&self.sql(
            "SELECT id, original_position, verified_referrals, position
             FROM {s}.users WHERE campaign_id = $1 ORDER BY original_position, id",
        ))
        .bind(campaign_id)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let get = |e: sqlx::Error| StoreError::Other(format!("corrupt user row: {e}"));
                let position: Option<i64> = row.try_get("position").map_err(get)?;
                Ok(Standing {
                    user_id: row.try_get("id").map_err(get)?,
                    original_position: to_u64(
                        row.try_get("original_position").map_err(get)?,
                        "original position",
                    )?,
                    verified_referrals: to_u64(
                        row.try_get("verified_referrals").map_err(get)?,
                        "verified referrals",
                    )?,
                    position: position.map(|p| to_u64(p, "position")).transpose()?,
                })
            })
            .collect()
    }

    async fn set_email_verified(
        &self,
        campaign_id: &str,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(&self.sql(
            "UPDATE {s}.users SET verified_at = $3
             WHERE campaign_id = $1 AND id = $2 AND verified_at IS NULL",
        ))
        .bind(campaign_id)
        .bind(user_id)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        if self.has_user(campaign_id, user_id).await? {
            Ok(false)
        } else {
            Err(StoreError::NotFound {
                kind: "user",
                id: user_id.to_owned(),
            })
        }
    }

    async fn set_verified_referrals(
        &self,
        campaign_id: &str,
        user_id: &str,
        count: u64,
    ) -> StoreResult<()> {
        let done = sqlx::query(&self.sql(
            "UPDATE {s}.users SET verified_referrals = $3 WHERE campaign_id = $1 AND id = $2",
        ))
        .bind(campaign_id)
        .bind(user_id)
        .bind(to_i64(count, "verified referrals")?)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                kind: "user",
                id: user_id.to_owned(),
            });
        }
        Ok(())
    }

    /// One `UPDATE … FROM UNNEST($ids, $positions)`; unknown ids are skipped.
    async fn save_positions(
        &self,
        campaign_id: &str,
        positions: &[(String, u64)],
    ) -> StoreResult<()> {
        if positions.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = positions.iter().map(|(id, _)| id.as_str()).collect();
        let ranks = positions
            .iter()
            .map(|(_, p)| to_i64(*p, "position"))
            .collect::<StoreResult<Vec<i64>>>()?;
        sqlx::query(&self.sql(
            "UPDATE {s}.users AS u SET position = v.position
             FROM UNNEST($2::text[], $3::bigint[]) AS v(id, position)
             WHERE u.campaign_id = $1 AND u.id = v.id",
        ))
        .bind(campaign_id)
        .bind(ids)
        .bind(ranks)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    /// One statement: `ROW_NUMBER() OVER (ORDER BY score, original_position,
    /// id)` in an `UPDATE` of the rows whose position changes.
    async fn recalculate_positions(
        &self,
        campaign_id: &str,
        points_per_referral: i64,
    ) -> StoreResult<RecalculatedPositions> {
        self.recalculate_in_sql(campaign_id, points_per_referral)
            .await
    }

    /// One `UPDATE` over the mover and the shifted range.
    async fn apply_position_change(
        &self,
        campaign_id: &str,
        change: &PositionChange,
    ) -> StoreResult<()> {
        let range = change.shifted_range();
        let up = change.new_position < change.old_position;
        let done = sqlx::query(&self.sql(
            "UPDATE {s}.users SET position = CASE
                 WHEN id = $2 THEN $3
                 WHEN $6 THEN position + 1
                 ELSE position - 1 END
             WHERE campaign_id = $1 AND (id = $2 OR position BETWEEN $4 AND $5)",
        ))
        .bind(campaign_id)
        .bind(&change.user_id)
        .bind(to_i64(change.new_position, "position")?)
        .bind(to_i64(*range.start(), "position")?)
        .bind(to_i64(*range.end(), "position")?)
        .bind(up)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        if done.rows_affected() == 0 && !self.has_users(campaign_id).await? {
            return Err(StoreError::NotFound {
                kind: "campaign",
                id: campaign_id.to_owned(),
            });
        }
        Ok(())
    }

    async fn count_signups(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        self.count_in(
            "SELECT count(*) FROM {s}.users
             WHERE campaign_id = $1 AND created_at >= $2 AND created_at < $3",
            campaign_id,
            range,
        )
        .await
    }

    async fn count_verifications(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        self.count_in(
            "SELECT count(*) FROM {s}.users
             WHERE campaign_id = $1 AND verified_at >= $2 AND verified_at < $3",
            campaign_id,
            range,
        )
        .await
    }

    async fn ranking_version(&self, campaign_id: &str) -> StoreResult<u64> {
        let version: Option<i64> = sqlx::query_scalar(
            &self.sql("SELECT version FROM {s}.ranking_versions WHERE campaign_id = $1"),
        )
        .bind(campaign_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        version.map_or(Ok(0), |v| to_u64(v, "ranking version"))
    }

    /// One upsert: `INSERT … ON CONFLICT DO UPDATE SET version = version + 1
    /// RETURNING version`.
    async fn bump_ranking_version(&self, campaign_id: &str) -> StoreResult<u64> {
        let version: i64 = sqlx::query_scalar(&self.sql(
            "INSERT INTO {s}.ranking_versions AS r (campaign_id, version) VALUES ($1, 1)
             ON CONFLICT (campaign_id) DO UPDATE SET version = r.version + 1
             RETURNING version",
        ))
        .bind(campaign_id)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        to_u64(version, "ranking version")
    }
}
