//! The incremental position index of one campaign.

use std::collections::HashMap;
use std::sync::Arc;

use super::ranking::RankKey;
use super::tree::{NodeId, OrderStatTree};
use crate::store::{PositionChange, Standing};

#[derive(Debug, Clone)]
struct Entry {
    node: NodeId,
    original: u64,
    verified: u64,
}

/// The positions of one campaign, kept up to date in O(log n) per change.
///
/// Built from the source of truth with [`PositionIndex::build`] (a full
/// recalculation); then [`PositionIndex::set_verified_referrals`] moves one
/// user in O(log n) expected and returns the move, and
/// [`PositionIndex::position`] answers in O(log n). The ranking is the one
/// documented in [`super::ranking`].
#[derive(Debug, Clone)]
pub struct PositionIndex {
    tree: OrderStatTree<RankKey>,
    users: HashMap<Arc<str>, Entry>,
    points: i64,
}

impl PositionIndex {
    /// Builds the index from every user's standing (O(n log n)). A user id
    /// listed twice keeps its last standing.
    pub fn build(points_per_referral: i64, standings: impl IntoIterator<Item = Standing>) -> Self {
        let mut latest: HashMap<Arc<str>, (u64, u64)> = HashMap::new();
        for s in standings {
            latest.insert(
                Arc::from(s.user_id.as_str()),
                (s.original_position, s.verified_referrals),
            );
        }
        let mut keys: Vec<RankKey> = latest
            .iter()
            .map(|(id, &(original, verified))| {
                RankKey::new(Arc::clone(id), original, verified, points_per_referral)
            })
            .collect();
        keys.sort_unstable();
        let mut users = HashMap::with_capacity(keys.len());
        for (node, key) in keys.iter().enumerate() {
            let (original, verified) = latest.get(&key.user_id).copied().unwrap_or_default();
            users.insert(
                Arc::clone(&key.user_id),
                Entry {
                    node: node as NodeId,
                    original,
                    verified,
                },
            );
        }
        Self {
            tree: OrderStatTree::from_sorted(keys, 0x5eed_1dea),
            users,
            points: points_per_referral,
        }
    }

    /// Points per referral the index ranks with.
    pub fn points_per_referral(&self) -> i64 {
        self.points
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the campaign has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user's position (1 = first), in O(log n).
    pub fn position(&self, user_id: &str) -> Option<u64> {
        let entry = self.users.get(user_id)?;
        let key = self.tree.key(entry.node)?;
        Some(self.tree.rank(key) + 1)
    }

    /// The user's verified referrals as the index knows them.
    pub fn verified_referrals(&self, user_id: &str) -> Option<u64> {
        self.users.get(user_id).map(|e| e.verified)
    }

    /// Sets the user's verified-referral count (an absolute value, so
    /// applying it twice changes nothing) and returns the move, `old == new`
    /// when the rank did not change; `None` for an unknown user. The users
    /// in [`PositionChange::shifted_range`] moved by one the other way.
    /// O(log n) expected.
    pub fn set_verified_referrals(&mut self, user_id: &str, count: u64) -> Option<PositionChange> {
        let old_position = self.position(user_id)?;
        let entry = self.users.get_mut(user_id)?;
        if entry.verified != count {
            entry.verified = count;
            let (node, original) = (entry.node, entry.original);
            let id = self.tree.key(node).map(|k| Arc::clone(&k.user_id))?;
            self.tree
                .rekey(node, RankKey::new(id, original, count, self.points));
        }
        let new_position = self.position(user_id)?;
        Some(PositionChange {
            user_id: user_id.to_owned(),
            old_position,
            new_position,
        })
    }

    /// Adds a user (or updates their standing when known) and returns the
    /// move; a new user's `old_position` is `len + 1` (they came from
    /// behind everyone), so the users in the shifted range moved down by one.
    pub fn insert(&mut self, standing: Standing) -> Option<PositionChange> {
        if self.users.contains_key(standing.user_id.as_str()) {
            return self.set_verified_referrals(&standing.user_id, standing.verified_referrals);
        }
        let id: Arc<str> = Arc::from(standing.user_id.as_str());
        let key = RankKey::new(
            Arc::clone(&id),
            standing.original_position,
            standing.verified_referrals,
            self.points,
        );
        let node = self.tree.insert(key);
        self.users.insert(
            id,
            Entry {
                node,
                original: standing.original_position,
                verified: standing.verified_referrals,
            },
        );
        Some(PositionChange {
            old_position: self.users.len() as u64,
            new_position: self.position(&standing.user_id)?,
            user_id: standing.user_id,
        })
    }

    /// Every `(user_id, position)` in position order, in O(n).
    pub fn positions(&self) -> Vec<(String, u64)> {
        self.tree
            .in_order()
            .into_iter()
            .filter_map(|node| self.tree.key(node))
            .zip(1u64..)
            .map(|(k, p)| (k.user_id.to_string(), p))
            .collect()
    }
}
