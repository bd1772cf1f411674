//! An order-statistics B+-tree over user slots: rank, insert and remove in
//! O(log n), built in O(n) from sorted input.
//!
//! Leaves hold `(key, slot)` pairs in order; every inner node keeps the item
//! count below each child. A slot's leaf is kept in `leaf_of`, so the rank
//! of a slot is a walk up from its leaf summing the counts of the children
//! to the left: with 64-wide nodes that is three or four small, contiguous
//! nodes for a million users instead of a pointer chase through a binary
//! tree. Nodes live in `Vec`s (indices instead of pointers, no `unsafe`).
//!
//! Keys compare by [`Key`]; two items with equal keys are ordered by the
//! `tie` function the caller passes (the user ids), only when needed.

use std::cmp::Ordering;

const NIL: u32 = u32::MAX;
/// Items per leaf and children per inner node.
const CAP: usize = 64;
/// How full a bulk build leaves each node, so that the first inserts after
/// a build do not all split.
const FILL: usize = CAP * 3 / 4;
/// Below this a node tries to merge with a sibling.
const MIN: usize = CAP / 4;

/// The ranking key without the user id: `(score, original_position)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) score: i64,
    pub(crate) original: u64,
}

#[derive(Debug, Clone)]
struct Leaf {
    len: usize,
    parent: u32,
    keys: [Key; CAP],
    slots: [u32; CAP],
}

#[derive(Debug, Clone)]
struct Inner {
    len: usize,
    parent: u32,
    children: [u32; CAP],
    counts: [u32; CAP],
    /// `seps[i]` (for `i ≥ 1`) is a lower bound of child `i` and above
    /// every item of child `i - 1`; `seps[0]` is unused.
    seps: [Key; CAP],
    sep_slots: [u32; CAP],
}

impl Leaf {
    fn new(parent: u32) -> Self {
        Self {
            len: 0,
            parent,
            keys: [Key::default(); CAP],
            slots: [NIL; CAP],
        }
    }
}

impl Inner {
    fn new(parent: u32) -> Self {
        Self {
            len: 0,
            parent,
            children: [NIL; CAP],
            counts: [0; CAP],
            seps: [Key::default(); CAP],
            sep_slots: [NIL; CAP],
        }
    }

    fn index_of(&self, child: u32) -> usize {
        self.children[..self.len]
            .iter()
            .position(|&c| c == child)
            .unwrap_or(0)
    }

    fn count_before(&self, i: usize) -> u64 {
        self.counts[..i].iter().map(|&c| u64::from(c)).sum()
    }

    fn remove_at(&mut self, i: usize) {
        let len = self.len;
        self.children.copy_within(i + 1..len, i);
        self.counts.copy_within(i + 1..len, i);
        self.seps.copy_within(i + 1..len, i);
        self.sep_slots.copy_within(i + 1..len, i);
        self.len -= 1;
    }
}

/// A set of slots ordered by `(key, tie)`, with O(log n) rank, insert and
/// remove.
#[derive(Debug, Clone)]
pub(crate) struct RankTree {
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    root: u32,
    /// 0: the root is a leaf.
    height: usize,
    /// The leaf of each slot (`NIL` when the slot is not in the tree).
    leaf_of: Vec<u32>,
    len: usize,
}

fn compare(a: (Key, u32), b: (Key, u32), tie: &mut impl FnMut(u32, u32) -> Ordering) -> Ordering {
    a.0.cmp(&b.0).then_with(|| {
        if a.1 == b.1 {
            Ordering::Equal
        } else {
            tie(a.1, b.1)
        }
    })
}

impl RankTree {
    /// Builds the tree from items sorted ascending (strictly, by key and
    /// tie), in O(n). `slots` is one more than the largest slot.
    pub(crate) fn from_sorted(items: &[(Key, u32)], slots: usize) -> Self {
        let mut tree = Self {
            leaves: Vec::with_capacity(items.len() / FILL + 1),
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: 0,
            height: 0,
            leaf_of: vec![NIL; slots],
            len: items.len(),
        };
        // The current level: (node, items below, smallest item).
        let mut level: Vec<(u32, u32, (Key, u32))> = Vec::new();
        for chunk in items.chunks(FILL) {
            let id = tree.leaves.len() as u32;
            let mut leaf = Leaf::new(NIL);
            for (i, &(key, slot)) in chunk.iter().enumerate() {
                leaf.keys[i] = key;
                leaf.slots[i] = slot;
                tree.leaf_of[slot as usize] = id;
            }
            leaf.len = chunk.len();
            tree.leaves.push(leaf);
            level.push((id, chunk.len() as u32, chunk[0]));
        }
        if level.is_empty() {
            tree.leaves.push(Leaf::new(NIL));
            return tree;
        }
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len() / FILL + 1);
            for chunk in level.chunks(FILL) {
                let id = tree.inners.len() as u32;
                let mut inner = Inner::new(NIL);
                for (i, &(child, count, min)) in chunk.iter().enumerate() {
                    inner.children[i] = child;
                    inner.counts[i] = count;
                    inner.seps[i] = min.0;
                    inner.sep_slots[i] = min.1;
                    tree.set_parent(child, tree.height, id);
                }
                inner.len = chunk.len();
                tree.inners.push(inner);
                let count = chunk.iter().map(|c| c.1).sum();
                next.push((id, count, chunk[0].2));
            }
            tree.height += 1;
            level = next;
        }
        tree.root = level[0].0;
        tree
    }

    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn set_parent(&mut self, node: u32, height: usize, parent: u32) {
        if height == 0 {
            self.leaves[node as usize].parent = parent;
        } else {
            self.inners[node as usize].parent = parent;
        }
    }

    fn parent(&self, node: u32, height: usize) -> u32 {
        if height == 0 {
            self.leaves[node as usize].parent
        } else {
            self.inners[node as usize].parent
        }
    }

    fn node_len(&self, node: u32, height: usize) -> usize {
        if height == 0 {
            self.leaves[node as usize].len
        } else {
            self.inners[node as usize].len
        }
    }

    /// How many items are before `slot` (its 0-based rank); `None` when the
    /// slot is not in the tree.
    pub(crate) fn rank(&self, slot: u32) -> Option<u64> {
        let leaf_id = *self.leaf_of.get(slot as usize)?;
        if leaf_id == NIL {
            return None;
        }
        let leaf = &self.leaves[leaf_id as usize];
        let pos = leaf.slots[..leaf.len].iter().position(|&s| s == slot)?;
        Some(pos as u64 + self.count_left_of(leaf_id, leaf.parent))
    }

    /// The items in the subtrees left of the path from `node` (whose parent
    /// is `parent`) up to the root.
    fn count_left_of(&self, mut node: u32, mut parent: u32) -> u64 {
        let mut rank = 0;
        while parent != NIL {
            let p = &self.inners[parent as usize];
            rank += p.count_before(p.index_of(node));
            node = parent;
            parent = p.parent;
        }
        rank
    }

    fn new_leaf(&mut self, leaf: Leaf) -> u32 {
        if let Some(id) = self.free_leaves.pop() {
            self.leaves[id as usize] = leaf;
            id
        } else {
            self.leaves.push(leaf);
            self.leaves.len() as u32 - 1
        }
    }

    fn new_inner(&mut self, inner: Inner) -> u32 {
        if let Some(id) = self.free_inners.pop() {
            self.inners[id as usize] = inner;
            id
        } else {
            self.inners.push(inner);
            self.inners.len() as u32 - 1
        }
    }

    /// Splits the full child `i` of `parent` (at `height`) in two halves.
    fn split_child(&mut self, parent: u32, i: usize, height: usize) {
        let child = self.inners[parent as usize].children[i];
        let half = CAP / 2;
        let (right, right_count, min) = if height == 0 {
            let left = &mut self.leaves[child as usize];
            let mut right = Leaf::new(parent);
            right.len = left.len - half;
            right.keys[..right.len].copy_from_slice(&left.keys[half..left.len]);
            right.slots[..right.len].copy_from_slice(&left.slots[half..left.len]);
            left.len = half;
            let min = (right.keys[0], right.slots[0]);
            let count = right.len as u32;
            let moved = right.slots;
            let moved_len = right.len;
            let id = self.new_leaf(right);
            for &s in &moved[..moved_len] {
                self.leaf_of[s as usize] = id;
            }
            (id, count, min)
        } else {
            let left = &mut self.inners[child as usize];
            let mut right = Inner::new(parent);
            right.len = left.len - half;
            let range = half..left.len;
            right.children[..right.len].copy_from_slice(&left.children[range.clone()]);
            right.counts[..right.len].copy_from_slice(&left.counts[range.clone()]);
            right.seps[..right.len].copy_from_slice(&left.seps[range.clone()]);
            right.sep_slots[..right.len].copy_from_slice(&left.sep_slots[range]);
            left.len = half;
            let min = (right.seps[0], right.sep_slots[0]);
            let count = right.counts[..right.len].iter().sum();
            let moved = right.children;
            let moved_len = right.len;
            let id = self.new_inner(right);
            for &c in &moved[..moved_len] {
                self.set_parent(c, height - 1, id);
            }
            (id, count, min)
        };
        let p = &mut self.inners[parent as usize];
        let len = p.len;
        p.children.copy_within(i + 1..len, i + 2);
        p.counts.copy_within(i + 1..len, i + 2);
        p.seps.copy_within(i + 1..len, i + 2);
        p.sep_slots.copy_within(i + 1..len, i + 2);
        p.len += 1;
        p.counts[i] -= right_count;
        p.children[i + 1] = right;
        p.counts[i + 1] = right_count;
        p.seps[i + 1] = min.0;
        p.sep_slots[i + 1] = min.1;
    }

    /// Inserts `slot` (not in the tree) with `key`; returns its 0-based rank.
    pub(crate) fn insert(
        &mut self,
        key: Key,
        slot: u32,
        mut tie: impl FnMut(u32, u32) -> Ordering,
    ) -> u64 {
        let item = (key, slot);
        if self.leaf_of.len() <= slot as usize {
            self.leaf_of.resize(slot as usize + 1, NIL);
        }
        if self.node_len(self.root, self.height) == CAP {
            let old = self.root;
            let mut root = Inner::new(NIL);
            root.len = 1;
            root.children[0] = old;
            root.counts[0] = self.len as u32;
            let id = self.new_inner(root);
            self.set_parent(old, self.height, id);
            self.root = id;
            self.height += 1;
            self.split_child(id, 0, self.height - 1);
        }
        let mut node = self.root;
        let mut height = self.height;
        let mut rank = 0u64;
        while height > 0 {
            let mut i = self.child_for(node, item, &mut tie);
            let child = self.inners[node as usize].children[i];
            if self.node_len(child, height - 1) == CAP {
                self.split_child(node, i, height - 1);
                let p = &self.inners[node as usize];
                if compare(item, (p.seps[i + 1], p.sep_slots[i + 1]), &mut tie) != Ordering::Less {
                    i += 1;
                }
            }
            let p = &mut self.inners[node as usize];
            rank += p.count_before(i);
            p.counts[i] += 1;
            node = p.children[i];
            height -= 1;
        }
        let leaf = &mut self.leaves[node as usize];
        let (mut lo, mut hi) = (0, leaf.len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if compare((leaf.keys[mid], leaf.slots[mid]), item, &mut tie) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let len = leaf.len;
        leaf.keys.copy_within(lo..len, lo + 1);
        leaf.slots.copy_within(lo..len, lo + 1);
        leaf.keys[lo] = key;
        leaf.slots[lo] = slot;
        leaf.len += 1;
        self.leaf_of[slot as usize] = node;
        self.len += 1;
        rank + lo as u64
    }

    /// The child of inner `node` whose range holds `item`.
    fn child_for(
        &self,
        node: u32,
        item: (Key, u32),
        tie: &mut impl FnMut(u32, u32) -> Ordering,
    ) -> usize {
        let p = &self.inners[node as usize];
        // The last i ≥ 1 with seps[i] ≤ item, else 0.
        let (mut lo, mut hi) = (1, p.len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if compare((p.seps[mid], p.sep_slots[mid]), item, tie) == Ordering::Greater {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo - 1
    }

    /// Removes `slot`; returns the 0-based rank it had, `None` when it was
    /// not in the tree.
    pub(crate) fn remove(&mut self, slot: u32) -> Option<u64> {
        let leaf_id = *self.leaf_of.get(slot as usize)?;
        if leaf_id == NIL {
            return None;
        }
        let leaf = &mut self.leaves[leaf_id as usize];
        let pos = leaf.slots[..leaf.len].iter().position(|&s| s == slot)?;
        let len = leaf.len;
        leaf.keys.copy_within(pos + 1..len, pos);
        leaf.slots.copy_within(pos + 1..len, pos);
        leaf.len -= 1;
        self.leaf_of[slot as usize] = NIL;
        self.len -= 1;
        let mut rank = pos as u64;
        let (mut node, mut parent) = (leaf_id, leaf.parent);
        while parent != NIL {
            let p = &mut self.inners[parent as usize];
            let i = p.index_of(node);
            rank += p.count_before(i);
            p.counts[i] -= 1;
            node = parent;
            parent = p.parent;
        }
        self.rebalance(leaf_id, 0);
        Some(rank)
    }

    /// After a removal below `node` (at `height`): drops it when empty,
    /// merges it into a sibling when small, and shortens the root.
    fn rebalance(&mut self, node: u32, height: usize) {
        if node == self.root {
            self.shorten_root();
            return;
        }
        let len = self.node_len(node, height);
        if len >= MIN {
            return;
        }
        let parent = self.parent(node, height);
        let i = self.inners[parent as usize].index_of(node);
        if len == 0 {
            self.free(node, height);
            self.inners[parent as usize].remove_at(i);
        } else {
            let p = &self.inners[parent as usize];
            let (left, right) = if i + 1 < p.len {
                (i, i + 1)
            } else if i > 0 {
                (i - 1, i)
            } else {
                return;
            };
            let (l, r) = (p.children[left], p.children[right]);
            if self.node_len(l, height) + self.node_len(r, height) > CAP {
                return;
            }
            self.merge(parent, left, l, r, height);
        }
        self.rebalance(parent, height + 1);
    }

    fn free(&mut self, node: u32, height: usize) {
        if height == 0 {
            self.leaves[node as usize].len = 0;
            self.free_leaves.push(node);
        } else {
            self.inners[node as usize].len = 0;
            self.free_inners.push(node);
        }
    }

    /// Moves everything of `r` (child `left + 1` of `parent`) into `l`
    /// (child `left`) and drops `r`.
    fn merge(&mut self, parent: u32, left: usize, l: u32, r: u32, height: usize) {
        if height == 0 {
            let right = self.leaves[r as usize].clone();
            let into = &mut self.leaves[l as usize];
            let at = into.len;
            into.keys[at..at + right.len].copy_from_slice(&right.keys[..right.len]);
            into.slots[at..at + right.len].copy_from_slice(&right.slots[..right.len]);
            into.len += right.len;
            for &s in &right.slots[..right.len] {
                self.leaf_of[s as usize] = l;
            }
        } else {
            let mut right = self.inners[r as usize].clone();
            let p = &self.inners[parent as usize];
            right.seps[0] = p.seps[left + 1];
            right.sep_slots[0] = p.sep_slots[left + 1];
            let into = &mut self.inners[l as usize];
            let (at, n) = (into.len, right.len);
            into.children[at..at + n].copy_from_slice(&right.children[..n]);
            into.counts[at..at + n].copy_from_slice(&right.counts[..n]);
            into.seps[at..at + n].copy_from_slice(&right.seps[..n]);
            into.sep_slots[at..at + n].copy_from_slice(&right.sep_slots[..n]);
            into.len += n;
            for &c in &right.children[..n] {
                self.set_parent(c, height - 1, l);
            }
        }
        self.free(r, height);
        let p = &mut self.inners[parent as usize];
        p.counts[left] += p.counts[left + 1];
        p.remove_at(left + 1);
    }

    /// Replaces an inner root with one child by that child (or an empty
    /// inner root by an empty leaf).
    fn shorten_root(&mut self) {
        while self.height > 0 {
            let root = &self.inners[self.root as usize];
            match root.len {
                0 => {
                    self.free(self.root, self.height);
                    self.root = self.new_leaf(Leaf::new(NIL));
                    self.height = 0;
                }
                1 => {
                    let child = root.children[0];
                    self.free(self.root, self.height);
                    self.height -= 1;
                    self.set_parent(child, self.height, NIL);
                    self.root = child;
                }
                _ => return,
            }
        }
    }

    /// Calls `f` with every slot in ascending order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32)) {
        self.visit(self.root, self.height, &mut f);
    }

    fn visit(&self, node: u32, height: usize, f: &mut impl FnMut(u32)) {
        if height == 0 {
            let leaf = &self.leaves[node as usize];
            leaf.slots[..leaf.len].iter().for_each(|&s| f(s));
        } else {
            let inner = &self.inners[node as usize];
            for &c in &inner.children[..inner.len] {
                self.visit(c, height - 1, f);
            }
        }
    }

    /// Checks the structure (tests): counts, parents, order, equal depth.
    #[cfg(test)]
    pub(crate) fn check(&self, mut tie: impl FnMut(u32, u32) -> Ordering) {
        let mut items = Vec::new();
        let n = self.check_node(self.root, self.height, NIL, &mut items);
        assert_eq!(n as usize, self.len);
        assert_eq!(items.len(), self.len);
        for w in items.windows(2) {
            assert_eq!(compare(w[0], w[1], &mut tie), Ordering::Less);
        }
        for (rank, &(_, slot)) in items.iter().enumerate() {
            assert_eq!(self.rank(slot), Some(rank as u64));
        }
    }

    #[cfg(test)]
    fn check_node(&self, node: u32, height: usize, parent: u32, out: &mut Vec<(Key, u32)>) -> u32 {
        assert_eq!(self.parent(node, height), parent);
        if height == 0 {
            let leaf = &self.leaves[node as usize];
            for i in 0..leaf.len {
                assert_eq!(self.leaf_of[leaf.slots[i] as usize], node);
                out.push((leaf.keys[i], leaf.slots[i]));
            }
            leaf.len as u32
        } else {
            let inner = &self.inners[node as usize];
            assert!(inner.len > 0);
            let mut total = 0;
            for i in 0..inner.len {
                let before = out.len();
                let n = self.check_node(inner.children[i], height - 1, node, out);
                assert_eq!(n, inner.counts[i]);
                if i > 0 && before < out.len() {
                    let first = out[before];
                    assert!(inner.seps[i] <= first.0);
                }
                total += n;
            }
            total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: i64) -> Key {
        Key {
            score: k,
            original: 0,
        }
    }

    fn by_slot(a: u32, b: u32) -> Ordering {
        a.cmp(&b)
    }

    #[test]
    fn rank_counts_smaller_keys_after_inserts_and_removes() {
        let items: Vec<(Key, u32)> = [10, 20, 30, 40]
            .iter()
            .enumerate()
            .map(|(i, &k)| (key(k), i as u32))
            .collect();
        let mut t = RankTree::from_sorted(&items, 4);
        assert_eq!(t.len(), 4);
        assert_eq!(t.rank(2), Some(2));
        assert_eq!(t.insert(key(25), 4, by_slot), 2);
        assert_eq!(t.rank(4), Some(2));
        assert_eq!(t.remove(4), Some(2));
        assert_eq!(t.insert(key(5), 4, by_slot), 0);
        assert_eq!(t.rank(0), Some(1));
        assert_eq!(t.rank(9), None);
        let mut slots = Vec::new();
        t.for_each(|s| slots.push(s));
        assert_eq!(slots, vec![4, 0, 1, 2, 3]);
        t.check(by_slot);
    }

    #[test]
    fn many_inserts_and_removes_split_merge_and_keep_the_order() {
        let n = 20_000u32;
        let items: Vec<(Key, u32)> = (0..n).map(|i| (key(i64::from(i) * 2), i)).collect();
        let mut t = RankTree::from_sorted(&items, n as usize);
        t.check(by_slot);
        let mut rng = fastrand::Rng::with_seed(9);
        let mut keys: Vec<i64> = (0..n).map(|i| i64::from(i) * 2).collect();
        for round in 0..40_000u32 {
            let slot = rng.u32(0..n);
            let old = keys[slot as usize];
            let old_rank = t.remove(slot).expect("present");
            let expected_old = keys
                .iter()
                .enumerate()
                .filter(|&(s, &k)| (k, s as u32) < (old, slot))
                .count() as u64;
            if round % 997 == 0 {
                assert_eq!(old_rank, expected_old);
            }
            // Cluster the moves so some leaves fill and others drain.
            let new = if round % 2 == 0 {
                rng.i64(0..1_000)
            } else {
                rng.i64(0..80_000)
            };
            keys[slot as usize] = new;
            let new_rank = t.insert(key(new), slot, by_slot);
            if round % 997 == 0 {
                let expected = keys
                    .iter()
                    .enumerate()
                    .filter(|&(s, &k)| (k, s as u32) < (new, slot))
                    .count() as u64;
                assert_eq!(new_rank, expected);
                t.check(by_slot);
            }
        }
        t.check(by_slot);
        // Remove nearly everything: the tree shrinks back to a leaf.
        for slot in 0..n - 3 {
            t.remove(slot).expect("present");
        }
        t.check(by_slot);
        assert_eq!(t.len(), 3);
        assert_eq!(t.height, 0);
        for slot in n - 3..n {
            t.remove(slot).expect("present");
        }
        assert_eq!(t.len(), 0);
        assert_eq!(t.insert(key(1), 0, by_slot), 0);
        t.check(by_slot);
    }

    #[test]
    fn an_empty_tree_takes_inserts() {
        let mut t = RankTree::from_sorted(&[], 0);
        for i in 0..500u32 {
            t.insert(key(-i64::from(i)), i, by_slot);
        }
        t.check(by_slot);
        assert_eq!(t.rank(499), Some(0));
        assert_eq!(t.rank(0), Some(499));
    }
}
