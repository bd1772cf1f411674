//! Position recalculation against the stores, serialised per campaign.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{CampaignLock, PositionIndex};
use crate::domain::{Clock, DomainError, DomainStores, SystemClock};
use crate::store::{PositionChange, RecalculatedPositions, ReferralStatus, Standing};
use crate::sync::lock;

/// What verifying a referral did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferralVerification {
    /// The referral counts: the referrer's new count and move.
    Counted {
        /// The referrer's verified referrals now.
        verified_referrals: u64,
        /// The referrer's move (`old == new` when the rank did not change).
        change: PositionChange,
    },
    /// The referral is blocked by fraud detection and does not count.
    Blocked,
}

/// Keeps a campaign's positions right: full recalculation in the store
/// ([`UserStore::recalculate_positions`]), and the O(log n) incremental path
/// for one verified referral.
///
/// Every operation takes the [`CampaignLock`] of its campaign. Built indexes
/// are cached per campaign (at most `max_cached` campaigns) with the
/// campaign's ranking version ([`UserStore::ranking_version`]), which every
/// operation advances under the lock before it writes. A cached index is
/// used only if no other service moved the version since, and it still
/// agrees with the store (user count, the user's stored referral count,
/// points per referral); otherwise it is rebuilt from the store's
/// standings. So several processes sharing a database stay correct.
///
/// [`UserStore::ranking_version`]: crate::store::UserStore::ranking_version
/// [`UserStore::recalculate_positions`]: crate::store::UserStore::recalculate_positions
#[derive(Debug)]
pub struct PositionService {
    stores: DomainStores,
    lock: Arc<dyn CampaignLock>,
    clock: Arc<dyn Clock>,
    /// Per campaign: the index and the ranking version it was cached at.
    cache: Mutex<HashMap<String, (PositionIndex, u64)>>,
    max_cached: usize,
}

impl PositionService {
    /// A service over `stores` (campaigns, users, referrals) and `lock`,
    /// caching up to 64 campaigns.
    pub fn new(stores: &DomainStores, lock: Arc<dyn CampaignLock>) -> Self {
        Self {
            stores: stores.clone(),
            lock,
            clock: Arc::new(SystemClock),
            cache: Mutex::default(),
            max_cached: 64,
        }
    }

    /// Uses `clock` for verification times.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Caches at most `max` campaign indexes (0 disables the cache).
    pub fn max_cached(mut self, max: usize) -> Self {
        self.max_cached = max;
        self
    }

    async fn points(&self, campaign_id: &str, fallback: i64) -> Result<i64, DomainError> {
        Ok(self
            .stores
            .campaigns
            .campaign(campaign_id)
            .await?
            .map_or(fallback, |c| c.points_per_referral))
    }

    /// Under the campaign lock, before any write: advances the campaign's
    /// ranking version and returns the cached index if no other service
    /// changed the ranking since it was cached (versions only move by one,
    /// under the lock), with the version to cache the result at. Bumping
    /// before writing means a crash halfway still invalidates every other
    /// service's cache.
    async fn checkout(
        &self,
        campaign_id: &str,
    ) -> Result<(Option<PositionIndex>, u64), DomainError> {
        let cached = lock(&self.cache).remove(campaign_id);
        let version = self.stores.users.bump_ranking_version(campaign_id).await?;
        let fresh = cached.and_then(|(index, at)| (at + 1 == version).then_some(index));
        Ok((fresh, version))
    }

    fn put_cached(&self, campaign_id: &str, index: PositionIndex, version: u64) {
        let mut cache = lock(&self.cache);
        if self.max_cached == 0 {
            return;
        }
        if cache.len() >= self.max_cached {
            if let Some(victim) = cache.keys().next().cloned() {
                cache.remove(&victim);
            }
        }
        cache.insert(campaign_id.to_owned(), (index, version));
    }

    /// Builds the index from the stores under the lock already held, and
    /// writes the positions that differ from the stored ones.
    async fn rebuild(&self, campaign_id: &str, points: i64) -> Result<PositionIndex, DomainError> {
        let standings = self.stores.users.standings(campaign_id).await?;
        let stored: HashMap<String, Option<u64>> = standings
            .iter()
            .map(|s| (s.user_id.clone(), s.position))
            .collect();
        let index = PositionIndex::build(points, standings);
        let writes: Vec<(String, u64)> = index
            .positions()
            .into_iter()
            .filter(|(user_id, position)| stored.get(user_id).copied().flatten() != Some(*position))
            .collect();
        if !writes.is_empty() {
            self.stores
                .users
                .save_positions(campaign_id, &writes)
                .await?;
        }
        Ok(index)
    }

    /// Recalculates every position of the campaign in the store, with
    /// [`UserStore::recalculate_positions`] (on PostgreSQL one statement;
    /// idempotent: a second run changes nothing). With `points`, first sets
    /// the campaign's points per referral.
    ///
    /// Like every operation it advances the ranking version first. The
    /// cached index survives only if it was current, ranks with the same
    /// points and the recalculation changed nothing; otherwise the next
    /// incremental update rebuilds it from the store.
    ///
    /// # Errors
    /// Store and lock errors.
    ///
    /// [`UserStore::recalculate_positions`]: crate::store::UserStore::recalculate_positions
    pub async fn recalculate(
        &self,
        campaign_id: &str,
        points: Option<i64>,
    ) -> Result<RecalculatedPositions, DomainError> {
        let _guard = self.lock.lock(campaign_id).await?;
        let (cached, version) = self.checkout(campaign_id).await?;
        let points = match points {
            Some(p) => {
                if self.stores.campaigns.campaign(campaign_id).await?.is_some() {
                    self.stores
                        .campaigns
                        .set_points_per_referral(campaign_id, p)
                        .await?;
                }
                p
            }
            None => self.points(campaign_id, 1).await?,
        };
        let done = self
            .stores
            .users
            .recalculate_positions(campaign_id, points)
            .await?;
        let still_right = cached.filter(|index| {
            done.changed == 0
                && index.points_per_referral() == points
                && index.len() as u64 == done.users
        });
        if let Some(index) = still_right {
            self.put_cached(campaign_id, index, version);
        }
        Ok(done)
    }

    /// The cached index if it agrees with the store, else a rebuilt one.
    async fn index_for(
        &self,
        cached: Option<PositionIndex>,
        campaign_id: &str,
        points: i64,
        user_id: &str,
        stored_referrals: u64,
    ) -> Result<PositionIndex, DomainError> {
        if let Some(index) = cached {
            let users = self.stores.users.count_users(campaign_id).await?;
            if index.points_per_referral() == points
                && index.len() as u64 == users
                && index.verified_referrals(user_id) == Some(stored_referrals)
            {
                return Ok(index);
            }
        }
        self.rebuild(campaign_id, points).await
    }

    /// Recounts the user's verified referrals from the referral store and
    /// moves them, in O(log n) on a cached index (plus the store's shift of
    /// the users they pass). Returns the count and the move.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown user; store and lock errors.
    pub async fn refresh_user(
        &self,
        campaign_id: &str,
        user_id: &str,
        fallback_points: i64,
    ) -> Result<(u64, PositionChange), DomainError> {
        let _guard = self.lock.lock(campaign_id).await?;
        self.refresh_locked(campaign_id, user_id, fallback_points)
            .await
    }

    async fn refresh_locked(
        &self,
        campaign_id: &str,
        user_id: &str,
        fallback_points: i64,
    ) -> Result<(u64, PositionChange), DomainError> {
        let user = self.stores.existing_user(campaign_id, user_id).await?;
        let points = self.points(campaign_id, fallback_points).await?;
        let (cached, version) = self.checkout(campaign_id).await?;
        let mut index = self
            .index_for(
                cached,
                campaign_id,
                points,
                user_id,
                user.verified_referrals,
            )
            .await?;
        let count = self
            .stores
            .referrals
            .count_verified(campaign_id, user_id)
            .await?;
        if count != user.verified_referrals {
            self.stores
                .users
                .set_verified_referrals(campaign_id, user_id, count)
                .await?;
        }
        let change = index
            .set_verified_referrals(user_id, count)
            .ok_or_else(|| DomainError::not_found("user", user_id))?;
        if change.old_position != change.new_position {
            self.stores
                .users
                .apply_position_change(campaign_id, &change)
                .await?;
        } else if user.position != Some(change.new_position) {
            let write = [(user_id.to_owned(), change.new_position)];
            self.stores
                .users
                .save_positions(campaign_id, &write)
                .await?;
        }
        self.put_cached(campaign_id, index, version);
        Ok((count, change))
    }

    /// Handles a verified referral: marks it verified (a blocked referral
    /// stays blocked and is not counted), recounts the referrer's verified
    /// referrals and moves them. Idempotent: verifying twice counts once.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown referral or referrer; store
    /// and lock errors.
    pub async fn verify_referral(
        &self,
        campaign_id: &str,
        referral_id: &str,
        fallback_points: i64,
    ) -> Result<ReferralVerification, DomainError> {
        let _guard = self.lock.lock(campaign_id).await?;
        let referral = self
            .stores
            .existing_referral(campaign_id, referral_id)
            .await?;
        let previous = self
            .stores
            .referrals
            .set_referral_status(
                campaign_id,
                referral_id,
                ReferralStatus::Verified,
                self.clock.now(),
            )
            .await?;
        if previous == ReferralStatus::Blocked {
            return Ok(ReferralVerification::Blocked);
        }
        let (verified_referrals, change) = self
            .refresh_locked(campaign_id, &referral.referrer_id, fallback_points)
            .await?;
        Ok(ReferralVerification::Counted {
            verified_referrals,
            change,
        })
    }

    /// Ranks a user who just signed up; returns their move (they enter from
    /// behind everyone; users they pass shift down by one).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown user; store and lock errors.
    pub async fn add_user(
        &self,
        campaign_id: &str,
        user_id: &str,
    ) -> Result<PositionChange, DomainError> {
        let _guard = self.lock.lock(campaign_id).await?;
        let user = self.stores.existing_user(campaign_id, user_id).await?;
        let points = self.points(campaign_id, 1).await?;
        let users = self.stores.users.count_users(campaign_id).await?;
        let (cached, version) = self.checkout(campaign_id).await?;
        let cached = cached.filter(|index| {
            index.points_per_referral() == points
                && index.len() as u64 + 1 == users
                && index.position(user_id).is_none()
        });
        let Some(mut index) = cached else {
            let index = self.rebuild(campaign_id, points).await?;
            let position = index
                .position(user_id)
                .ok_or_else(|| DomainError::not_found("user", user_id))?;
            self.put_cached(campaign_id, index, version);
            return Ok(PositionChange {
                user_id: user_id.to_owned(),
                old_position: users,
                new_position: position,
            });
        };
        let change = index
            .insert(Standing {
                user_id: user.id.clone(),
                original_position: user.original_position,
                verified_referrals: user.verified_referrals,
                position: user.position,
            })
            .ok_or_else(|| DomainError::not_found("user", user_id))?;
        // Write the newcomer's rank, then shift those they passed.
        let newcomer = PositionChange {
            old_position: change.old_position,
            new_position: change.new_position,
            user_id: change.user_id.clone(),
        };
        self.stores
            .users
            .apply_position_change(campaign_id, &newcomer)
            .await?;
        self.put_cached(campaign_id, index, version);
        Ok(change)
    }

    /// The user's stored position (the store is the truth several
    /// services share; in SQL an index lookup).
    ///
    /// # Errors
    /// Store errors.
    pub async fn position(
        &self,
        campaign_id: &str,
        user_id: &str,
    ) -> Result<Option<u64>, DomainError> {
        Ok(self
            .stores
            .users
            .user(campaign_id, user_id)
            .await?
            .and_then(|u| u.position))
    }
}
