//! In-memory implementations of every store trait.

mod records;
mod signals;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use signals::MemoryFraudSignals;

use super::model::*;
use super::traits::*;
use super::StoreError;
use crate::sync::lock;

/// How many of `records` fall in `range` by the instant `at` reads of each
/// (a record without one is not counted).
fn count_in<'a, T: 'a>(
    records: impl Iterator<Item = &'a T>,
    range: TimeRange,
    at: impl Fn(&T) -> Option<DateTime<Utc>>,
) -> u64 {
    records
        .filter(|r| at(r).is_some_and(|t| range.contains(t)))
        .count() as u64
}

/// Values by campaign then id: looked up by `&str`s without building a key.
#[derive(Debug)]
struct ByCampaign<V>(HashMap<String, HashMap<String, V>>);

impl<V> Default for ByCampaign<V> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<V> ByCampaign<V> {
    fn get(&self, campaign_id: &str, id: &str) -> Option<&V> {
        self.0.get(campaign_id).and_then(|m| m.get(id))
    }

    fn get_mut(&mut self, campaign_id: &str, id: &str) -> Option<&mut V> {
        self.0.get_mut(campaign_id).and_then(|m| m.get_mut(id))
    }

    fn contains(&self, campaign_id: &str, id: &str) -> bool {
        self.get(campaign_id, id).is_some()
    }

    fn insert(&mut self, campaign_id: &str, id: String, value: V) {
        self.campaign(campaign_id).insert(id, value);
    }

    /// The value, inserted as `V::default()` when missing.
    fn or_default(&mut self, campaign_id: &str, id: &str) -> &mut V
    where
        V: Default,
    {
        let m = self.campaign(campaign_id);
        if !m.contains_key(id) {
            m.insert(id.to_owned(), V::default());
        }
        m.get_mut(id)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    fn campaign(&mut self, campaign_id: &str) -> &mut HashMap<String, V> {
        if !self.0.contains_key(campaign_id) {
            self.0.insert(campaign_id.to_owned(), HashMap::new());
        }
        self.0
            .get_mut(campaign_id)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// The values of one campaign.
    fn of(&self, campaign_id: &str) -> impl Iterator<Item = &V> {
        self.0
            .get(campaign_id)
            .into_iter()
            .flat_map(HashMap::values)
    }
}

#[derive(Debug, Default)]
struct State {
    campaigns: HashMap<String, Campaign>,
    milestones: HashSet<(String, u64)>,
    users: HashMap<String, HashMap<String, User>>,
    /// Highest original position per campaign (users are never removed, so
    /// this is the maximum over the campaign's users).
    highest_position: HashMap<String, u64>,
    referrals: ByCampaign<Referral>,
    verified_by_referrer: ByCampaign<u64>,
    rewards: ByCampaign<Reward>,
    user_rewards: ByCampaign<UserReward>,
    granted: HashSet<(String, String, String)>,
    email_reservations: HashMap<String, DateTime<Utc>>,
    sent_emails: Vec<SentEmail>,
    buckets: BTreeMap<(String, u8, DateTime<Utc>), AnalyticsBucket>,
    ranking_versions: HashMap<String, u64>,
}

impl State {
    /// The users of one campaign.
    fn users_of(&self, campaign_id: &str) -> impl Iterator<Item = &User> {
        self.users
            .get(campaign_id)
            .into_iter()
            .flat_map(HashMap::values)
    }

    fn user_mut(&mut self, campaign_id: &str, user_id: &str) -> StoreResult<&mut User> {
        self.users
            .get_mut(campaign_id)
            .and_then(|m| m.get_mut(user_id))
            .ok_or_else(|| StoreError::not_found("user", user_id))
    }

    fn user_reward_mut(
        &mut self,
        campaign_id: &str,
        user_reward_id: &str,
    ) -> StoreResult<&mut UserReward> {
        self.user_rewards
            .get_mut(campaign_id, user_reward_id)
            .ok_or_else(|| StoreError::not_found("user reward", user_reward_id))
    }
}

/// Every store trait in memory, behind one mutex; cheap to share in an `Arc`.
///
/// Fraud signals live in a [`MemoryFraudSignals`] with bounded memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    signals: MemoryFraudSignals,
}

impl MemoryStore {
    /// An empty store with the default fraud-signal bounds.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose fraud signals use `signals`.
    pub fn with_signals(signals: MemoryFraudSignals) -> Self {
        Self {
            state: Mutex::default(),
            signals,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Every user of the campaign, ordered by current position then id.
    pub fn users_of(&self, campaign_id: &str) -> Vec<User> {
        let mut users: Vec<User> = self.lock().users_of(campaign_id).cloned().collect();
        users.sort_by(|a, b| (a.position, &a.id).cmp(&(b.position, &b.id)));
        users
    }

    /// Every email logged as sent, in order.
    pub fn sent_emails(&self) -> Vec<SentEmail> {
        self.lock().sent_emails.clone()
    }

    /// The fraud-signal store inside.
    pub fn signals(&self) -> &MemoryFraudSignals {
        &self.signals
    }
}

#[async_trait]
impl CampaignStore for MemoryStore {
    async fn campaign(&self, campaign_id: &str) -> StoreResult<Option<Campaign>> {
        Ok(self.lock().campaigns.get(campaign_id).cloned())
    }

    async fn save_campaign(&self, campaign: Campaign) -> StoreResult<()> {
        self.lock().campaigns.insert(campaign.id.clone(), campaign);
        Ok(())
    }

    async fn set_points_per_referral(&self, campaign_id: &str, points: i64) -> StoreResult<()> {
        match self.lock().campaigns.get_mut(campaign_id) {
            Some(c) => {
                c.points_per_referral = points;
                Ok(())
            }
            None => Err(StoreError::not_found("campaign", campaign_id)),
        }
    }

    async fn claim_milestone(&self, campaign_id: &str, threshold: u64) -> StoreResult<bool> {
        Ok(self
            .lock()
            .milestones
            .insert((campaign_id.to_owned(), threshold)))
    }

    async fn release_milestone(&self, campaign_id: &str, threshold: u64) -> StoreResult<()> {
        self.lock()
            .milestones
            .remove(&(campaign_id.to_owned(), threshold));
        Ok(())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn insert_user(&self, mut user: User) -> StoreResult<u64> {
        let mut state = self.lock();
        let state = &mut *state;
        let users = state.users.entry(user.campaign_id.clone()).or_default();
        if users.contains_key(&user.id) {
            return Err(StoreError::already_exists("user", user.id));
        }
        let highest = state
            .highest_position
            .entry(user.campaign_id.clone())
            .or_default();
        *highest = highest.saturating_add(1);
        user.original_position = *highest;
        users.insert(user.id.clone(), user);
        Ok(*highest)
    }

    async fn user(&self, campaign_id: &str, user_id: &str) -> StoreResult<Option<User>> {
        Ok(self
            .lock()
            .users
            .get(campaign_id)
            .and_then(|m| m.get(user_id))
            .cloned())
    }

    async fn count_users(&self, campaign_id: &str) -> StoreResult<u64> {
        Ok(self
            .lock()
            .users
            .get(campaign_id)
            .map_or(0, |m| m.len() as u64))
    }

    async fn standings(&self, campaign_id: &str) -> StoreResult<Vec<Standing>> {
        Ok(self
            .lock()
            .users_of(campaign_id)
            .map(|u| Standing {
                user_id: u.id.clone(),
                original_position: u.original_position,
                verified_referrals: u.verified_referrals,
                position: u.position,
            })
            .collect())
    }

    async fn set_email_verified(
        &self,
        campaign_id: &str,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        let user = state.user_mut(campaign_id, user_id)?;
        if user.verified_at.is_some() {
            return Ok(false);
        }
        user.verified_at = Some(at);
        Ok(true)
    }

    async fn set_verified_referrals(
        &self,
        campaign_id: &str,
        user_id: &str,
        count: u64,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let user = state.user_mut(campaign_id, user_id)?;
        user.verified_referrals = count;
        Ok(())
    }

    async fn save_positions(
        &self,
        campaign_id: &str,
        positions: &[(String, u64)],
    ) -> StoreResult<()> {
        let mut state = self.lock();
        if let Some(users) = state.users.get_mut(campaign_id) {
            for (id, position) in positions {
                if let Some(u) = users.get_mut(id) {
                    u.position = Some(*position);
                }
            }
        }
        Ok(())
    }

    async fn apply_position_change(
        &self,
        campaign_id: &str,
        change: &PositionChange,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let Some(users) = state.users.get_mut(campaign_id) else {
            return Err(StoreError::not_found("campaign", campaign_id));
        };
        let range = change.shifted_range();
        let up = change.new_position < change.old_position;
        for u in users.values_mut() {
            if u.id == change.user_id {
                u.position = Some(change.new_position);
            } else if let Some(p) = u.position.filter(|p| range.contains(p)) {
                u.position = Some(if up { p + 1 } else { p - 1 });
            }
        }
        Ok(())
    }

    async fn count_signups(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        let state = self.lock();
        Ok(count_in(state.users_of(campaign_id), range, |u| {
            Some(u.created_at)
        }))
    }

    async fn count_verifications(&self, campaign_id: &str, range: TimeRange) -> StoreResult<u64> {
        let state = self.lock();
        Ok(count_in(state.users_of(campaign_id), range, |u| {
            u.verified_at
        }))
    }

    async fn ranking_version(&self, campaign_id: &str) -> StoreResult<u64> {
        Ok(self
            .lock()
            .ranking_versions
            .get(campaign_id)
            .copied()
            .unwrap_or(0))
    }

    async fn bump_ranking_version(&self, campaign_id: &str) -> StoreResult<u64> {
        let mut state = self.lock();
        let version = state
            .ranking_versions
            .entry(campaign_id.to_owned())
            .or_insert(0);
        *version += 1;
        Ok(*version)
    }
}

#[async_trait]
impl FraudSignalStore for MemoryStore {
    async fn record_signal(
        &self,
        signal: FraudSignal,
        window: std::time::Duration,
    ) -> StoreResult<u64> {
        self.signals.record_signal(signal, window).await
    }
}
