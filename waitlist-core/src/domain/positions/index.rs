//! The incremental position index of one campaign.

use std::borrow::Borrow;
use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use super::ranking::score;
use super::tree::{Key, RankTree};
use crate::store::{PositionChange, Standing};

/// One user, at the slot the index gave them; the id is `ids[start..end]`.
#[derive(Debug, Clone)]
struct User {
    start: usize,
    end: usize,
    original: u64,
    verified: u64,
}

/// The positions of one campaign, kept up to date in O(log n) per change.
///
/// Built from the source of truth with [`PositionIndex::build`] (a full
/// recalculation); then [`PositionIndex::set_verified_referrals`] moves one
/// user in O(log n) and returns the move, and [`PositionIndex::position`]
/// answers in O(log n). The ranking is the one documented in
/// [`super::ranking`].
///
/// Each user id is stored once, in one string of every id (no allocation
/// per user); a hash table (foldhash, seeded per index) maps ids to slots, and an order-statistics B+-tree keeps the
/// slots in ranking order with the count below each node, so a position is
/// a hash lookup and a walk up three or four nodes.
#[derive(Clone)]
pub struct PositionIndex {
    ids: String,
    users: Vec<User>,
    slots: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    tree: RankTree,
    points: i64,
}

impl std::fmt::Debug for PositionIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PositionIndex")
            .field("users", &self.users.len())
            .field("points_per_referral", &self.points)
            .finish_non_exhaustive()
    }
}

impl PositionIndex {
    /// Builds the index from every user's standing, owned or borrowed
    /// (O(n log n): one sort). A user id listed twice keeps its last
    /// standing.
    pub fn build<S: Borrow<Standing>>(
        points_per_referral: i64,
        standings: impl IntoIterator<Item = S>,
    ) -> Self {
        let standings = standings.into_iter();
        let capacity = standings.size_hint().0;
        let mut index = Self {
            ids: String::new(),
            users: Vec::with_capacity(capacity),
            slots: HashTable::with_capacity(capacity),
            hasher: hashbrown::DefaultHashBuilder::default(),
            tree: RankTree::from_sorted(&[], 0),
            points: points_per_referral,
        };
        for s in standings {
            let s = s.borrow();
            let slot = index.slot_or_add(&s.user_id);
            let user = &mut index.users[slot as usize];
            user.original = s.original_position;
            user.verified = s.verified_referrals;
        }
        let mut items: Vec<(Key, u32)> = index
            .users
            .iter()
            .zip(0u32..)
            .map(|(u, slot)| (index.key(u), slot))
            .collect();
        let (users, ids) = (&index.users, &index.ids);
        items.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| id_of(ids, users, a.1).cmp(id_of(ids, users, b.1)))
        });
        index.tree = RankTree::from_sorted(&items, index.users.len());
        index
    }

    fn key(&self, user: &User) -> Key {
        Key {
            score: score(user.original, user.verified, self.points),
            original: user.original,
        }
    }

    fn slot(&self, user_id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(user_id);
        self.slots
            .find(hash, |&slot| id_of(&self.ids, &self.users, slot) == user_id)
            .copied()
    }

    /// The slot of `user_id`, given the next free slot (with standing
    /// zero, not in the tree) when the id is new.
    fn slot_or_add(&mut self, user_id: &str) -> u32 {
        let hash = self.hasher.hash_one(user_id);
        let (ids, users, hasher) = (&self.ids, &self.users, &self.hasher);
        match self.slots.entry(
            hash,
            |&slot| id_of(ids, users, slot) == user_id,
            |&slot| hasher.hash_one(id_of(ids, users, slot)),
        ) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let slot = self.users.len() as u32;
                e.insert(slot);
                let start = self.ids.len();
                self.ids.push_str(user_id);
                self.users.push(User {
                    start,
                    end: self.ids.len(),
                    original: 0,
                    verified: 0,
                });
                slot
            }
        }
    }

    /// Inserts `slot` into the tree; returns its position.
    fn rank_in(&mut self, slot: u32) -> u64 {
        let key = self.key(&self.users[slot as usize]);
        let (ids, users) = (&self.ids, &self.users);
        self.tree.insert(key, slot, |a, b| {
            id_of(ids, users, a).cmp(id_of(ids, users, b))
        }) + 1
    }

    /// Points per referral the index ranks with.
    pub fn points_per_referral(&self) -> i64 {
        self.points
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether the campaign has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user's position (1 = first), in O(log n).
    pub fn position(&self, user_id: &str) -> Option<u64> {
        let slot = self.slot(user_id)?;
        Some(self.tree.rank(slot)? + 1)
    }

    /// The user's verified referrals as the index knows them.
    pub fn verified_referrals(&self, user_id: &str) -> Option<u64> {
        let slot = self.slot(user_id)?;
        Some(self.users[slot as usize].verified)
    }

    /// Sets the user's verified-referral count (an absolute value, so
    /// applying it twice changes nothing) and returns the move, `old == new`
    /// when the rank did not change; `None` for an unknown user. The users
    /// in [`PositionChange::shifted_range`] moved by one the other way.
    /// O(log n).
    pub fn set_verified_referrals(&mut self, user_id: &str, count: u64) -> Option<PositionChange> {
        let slot = self.slot(user_id)?;
        let (old_position, new_position) = if self.users[slot as usize].verified == count {
            let position = self.tree.rank(slot)? + 1;
            (position, position)
        } else {
            let old = self.tree.remove(slot)? + 1;
            self.users[slot as usize].verified = count;
            (old, self.rank_in(slot))
        };
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
        if self.slot(&standing.user_id).is_some() {
            return self.set_verified_referrals(&standing.user_id, standing.verified_referrals);
        }
        let slot = self.slot_or_add(&standing.user_id);
        let user = &mut self.users[slot as usize];
        user.original = standing.original_position;
        user.verified = standing.verified_referrals;
        let new_position = self.rank_in(slot);
        Some(PositionChange {
            old_position: self.users.len() as u64,
            new_position,
            user_id: standing.user_id,
        })
    }

    /// Every `(user_id, position)` in position order, in O(n).
    pub fn positions(&self) -> Vec<(String, u64)> {
        let mut out = Vec::with_capacity(self.users.len());
        let mut position = 0;
        self.tree.for_each(|slot| {
            position += 1;
            out.push((id_of(&self.ids, &self.users, slot).to_owned(), position));
        });
        out
    }
}

/// The id of `slot`.
fn id_of<'a>(ids: &'a str, users: &[User], slot: u32) -> &'a str {
    let user = &users[slot as usize];
    &ids[user.start..user.end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_listed_twice_keeps_the_last_standing() {
        let index = PositionIndex::build(
            1,
            vec![
                Standing::new("a", 1, 0),
                Standing::new("b", 2, 0),
                Standing::new("a", 3, 0),
            ],
        );
        assert_eq!(index.len(), 2);
        assert_eq!(index.position("b"), Some(1));
        assert_eq!(index.position("a"), Some(2));
        assert_eq!(index.position("nobody"), None);
    }

    #[test]
    fn an_empty_index_takes_signups_and_referrals() {
        let mut index = PositionIndex::build(2, Vec::<Standing>::new());
        assert!(index.is_empty());
        for i in 0..300u64 {
            let change = index
                .insert(Standing::new(format!("u{i}"), i + 1, 0))
                .expect("inserted");
            assert_eq!(change.old_position, i + 1);
            assert_eq!(change.new_position, i + 1);
        }
        let change = index.set_verified_referrals("u299", 200).expect("known");
        assert_eq!((change.old_position, change.new_position), (300, 1));
        assert_eq!(index.position("u0"), Some(2));
        let same = index.set_verified_referrals("u299", 200).expect("known");
        assert_eq!((same.old_position, same.new_position), (1, 1));
        assert_eq!(index.verified_referrals("u299"), Some(200));
    }
}
