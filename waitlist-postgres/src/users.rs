//! Campaigns and users.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use waitlist_core::store::{
    Campaign, CampaignStore, PositionChange, RecalculatedPositions, RewardRule, Standing,
    StoreError, StoreResult, TimeRange, User, UserStore,
};

use crate::columns::Columns;
use crate::error::{found, insert_error, store_error, to_i64, to_u64};
use crate::PgStore;

/// Two-key advisory lock class of `insert_user` (a space apart from the
/// one-key campaign locks, so signups never wait for a recalculation).
const SIGNUP_LOCK_CLASS: i32 = 0x5553_5253; // "USRS"

fn campaign_from_row(row: &PgRow) -> StoreResult<Campaign> {
    let col = Columns::of(row, "campaign");
    let Json(milestones): Json<Vec<u64>> = col.get("milestones")?;
    let Json(reward_rules): Json<Vec<RewardRule>> = col.get("reward_rules")?;
    Ok(Campaign {
        id: col.get("id")?,
        account_id: col.get("account_id")?,
        points_per_referral: col.get("points_per_referral")?,
        milestones,
        reward_rules,
        owner_email: col.get("owner_email")?,
    })
}

/// The ranking inputs of a `users` row (the columns a [`User`] shares with
/// its [`Standing`]).
fn standing_from_row(row: &PgRow) -> StoreResult<Standing> {
    let col = Columns::of(row, "user");
    let position: Option<i64> = col.get("position")?;
    Ok(Standing {
        user_id: col.get("id")?,
        original_position: col.unsigned("original_position", "original position")?,
        verified_referrals: col.unsigned("verified_referrals", "verified referrals")?,
        position: position.map(|p| to_u64(p, "position")).transpose()?,
    })
}

fn user_from_row(row: &PgRow) -> StoreResult<User> {
    let Standing {
        user_id,
        original_position,
        verified_referrals,
        position,
    } = standing_from_row(row)?;
    let col = Columns::of(row, "user");
    Ok(User {
        id: user_id,
        campaign_id: col.get("campaign_id")?,
        email: col.get("email")?,
        original_position,
        verified_referrals,
        position,
        verified_at: col.get("verified_at")?,
        signup_ip: col.get("signup_ip")?,
        device_fingerprint: col.get("device_fingerprint")?,
        user_agent: col.get("user_agent")?,
        honeypot: col.get("honeypot")?,
        created_at: col.get("created_at")?,
    })
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
        found(done.rows_affected(), "campaign", campaign_id)
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
        .map_err(insert_error("user", &user.id))?;
        let Some(position) = position else {
            tx.rollback().await.map_err(store_error)?;
            return Err(StoreError::already_exists("user", user.id));
        };
        tx.commit().await.map_err(store_error)?;
        to_u64(position, "original position")
    }

    async fn user(&self, campaign_id: &str, user_id: &str) -> StoreResult<Option<User>> {
        self.by_id("users", campaign_id, user_id, user_from_row)
            .await
    }

    /// One primary-key read of `campaign_user_counts`, which triggers on
    /// `users` keep (migration 4).
    async fn count_users(&self, campaign_id: &str) -> StoreResult<u64> {
        self.campaign_value("campaign_user_counts", "users", campaign_id, "count")
            .await
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
        rows.iter().map(standing_from_row).collect()
    }

    async fn set_email_verified(
        &self,
        campaign_id: &str,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let touched = self
            .execute_in(
                "UPDATE {s}.users SET verified_at = $3
                 WHERE campaign_id = $1 AND id = $2 AND verified_at IS NULL",
                campaign_id,
                user_id,
                at,
            )
            .await?;
        if touched == 1 {
            return Ok(true);
        }
        if self.has_user(campaign_id, user_id).await? {
            Ok(false)
        } else {
            Err(StoreError::not_found("user", user_id))
        }
    }

    async fn set_verified_referrals(
        &self,
        campaign_id: &str,
        user_id: &str,
        count: u64,
    ) -> StoreResult<()> {
        self.update_one(
            "user",
            "UPDATE {s}.users SET verified_referrals = $3 WHERE campaign_id = $1 AND id = $2",
            campaign_id,
            user_id,
            to_i64(count, "verified referrals")?,
        )
        .await
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
        self.execute_in(
            "UPDATE {s}.users AS u SET position = v.position
             FROM UNNEST($2::text[], $3::bigint[]) AS v(id, position)
             WHERE u.campaign_id = $1 AND u.id = v.id",
            campaign_id,
            ids,
            ranks,
        )
        .await?;
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
            return Err(StoreError::not_found("campaign", campaign_id));
        }
        Ok(())
    }

    async fn count_signups(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        self.count_in("users", "created_at", campaign_id, range)
            .await
    }

    async fn count_verifications(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        self.count_in("users", "verified_at", campaign_id, range)
            .await
    }

    async fn ranking_version(&self, campaign_id: &str) -> StoreResult<u64> {
        self.campaign_value(
            "ranking_versions",
            "version",
            campaign_id,
            "ranking version",
        )
        .await
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
