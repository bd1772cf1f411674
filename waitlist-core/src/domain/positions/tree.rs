//! An order-statistics treap: insert, remove and rank in O(log n) expected.
//!
//! Nodes live in one `Vec` (indices instead of pointers, no `unsafe`); every
//! node keeps its subtree size, so the rank of a key is one descent.

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node<K> {
    key: K,
    prio: u32,
    left: u32,
    right: u32,
    size: u32,
}

/// A set of distinct keys with O(log n) insert, remove and rank.
#[derive(Debug, Clone)]
pub(crate) struct OrderStatTree<K> {
    nodes: Vec<Node<K>>,
    root: u32,
    rng: fastrand::Rng,
}

/// A node handle, stable while the key is in the tree.
pub(crate) type NodeId = u32;

impl<K: Ord + Clone> OrderStatTree<K> {
    /// Builds the tree from keys sorted ascending (strictly), in O(n).
    /// Handles are `0..n` in the order of `sorted`.
    pub(crate) fn from_sorted(sorted: Vec<K>, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut nodes: Vec<Node<K>> = sorted
            .into_iter()
            .map(|key| Node {
                key,
                prio: rng.u32(..),
                left: NIL,
                right: NIL,
                size: 1,
            })
            .collect();
        // Cartesian tree on (position, priority) with a stack: O(n).
        let mut stack: Vec<u32> = Vec::new();
        for i in 0..nodes.len() as u32 {
            let mut last = NIL;
            while let Some(&top) = stack.last() {
                if nodes[top as usize].prio < nodes[i as usize].prio {
                    last = top;
                    stack.pop();
                } else {
                    break;
                }
            }
            nodes[i as usize].left = last;
            if let Some(&top) = stack.last() {
                nodes[top as usize].right = i;
            }
            stack.push(i);
        }
        let root = stack.first().copied().unwrap_or(NIL);
        let mut tree = Self { nodes, root, rng };
        tree.recompute_sizes();
        tree
    }

    fn recompute_sizes(&mut self) {
        // Iterative post-order.
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![self.root];
        while let Some(t) = stack.pop() {
            if t == NIL {
                continue;
            }
            order.push(t);
            stack.push(self.nodes[t as usize].left);
            stack.push(self.nodes[t as usize].right);
        }
        for &t in order.iter().rev() {
            self.update(t);
        }
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.size(self.root) as usize
    }

    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    fn update(&mut self, t: u32) {
        let n = &self.nodes[t as usize];
        let size = 1 + self.size(n.left) + self.size(n.right);
        self.nodes[t as usize].size = size;
    }

    /// The key of `id`.
    pub(crate) fn key(&self, id: NodeId) -> Option<&K> {
        self.nodes.get(id as usize).map(|n| &n.key)
    }

    /// How many keys are smaller than `key`.
    pub(crate) fn rank(&self, key: &K) -> u64 {
        let mut t = self.root;
        let mut rank = 0u64;
        while t != NIL {
            let n = &self.nodes[t as usize];
            if n.key < *key {
                rank += u64::from(self.size(n.left)) + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        rank
    }

    /// Splits `t` into keys `< key` (or `<= key`) and the rest.
    fn split(&mut self, t: u32, key: &K, or_equal: bool) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let node_key = &self.nodes[t as usize].key;
        let goes_left = if or_equal {
            node_key <= key
        } else {
            node_key < key
        };
        if goes_left {
            let (l, r) = self.split(self.nodes[t as usize].right, key, or_equal);
            self.nodes[t as usize].right = l;
            self.update(t);
            (t, r)
        } else {
            let (l, r) = self.split(self.nodes[t as usize].left, key, or_equal);
            self.nodes[t as usize].left = r;
            self.update(t);
            (l, t)
        }
    }

    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = r;
            self.update(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            self.update(b);
            b
        }
    }

    fn attach(&mut self, id: u32) {
        let key = self.nodes[id as usize].key.clone();
        let (l, r) = self.split(self.root, &key, false);
        let left = self.merge(l, id);
        self.root = self.merge(left, r);
    }

    /// Inserts a key that is not in the tree yet; returns its handle.
    pub(crate) fn insert(&mut self, key: K) -> NodeId {
        let id = self.nodes.len() as u32;
        self.nodes.push(Node {
            key,
            prio: self.rng.u32(..),
            left: NIL,
            right: NIL,
            size: 1,
        });
        self.attach(id);
        id
    }

    /// Changes the key of `id` (which must be in the tree) to `key`.
    pub(crate) fn rekey(&mut self, id: NodeId, key: K) {
        let Some(old) = self.key(id).cloned() else {
            return;
        };
        let (l, rest) = self.split(self.root, &old, false);
        let (mid, r) = self.split(rest, &old, true);
        // `mid` is exactly `id`: keys are distinct.
        self.root = self.merge(l, r);
        let node = &mut self.nodes[mid as usize];
        node.key = key;
        node.left = NIL;
        node.right = NIL;
        node.size = 1;
        self.attach(mid);
    }

    /// Every handle in ascending key order.
    pub(crate) fn in_order(&self) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(self.len());
        let mut stack = Vec::new();
        let mut t = self.root;
        while t != NIL || !stack.is_empty() {
            while t != NIL {
                stack.push(t);
                t = self.nodes[t as usize].left;
            }
            if let Some(top) = stack.pop() {
                out.push(top);
                t = self.nodes[top as usize].right;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_counts_smaller_keys_after_inserts_and_rekeys() {
        let mut t = OrderStatTree::from_sorted(vec![10, 20, 30, 40], 7);
        assert_eq!(t.len(), 4);
        assert_eq!(t.rank(&30), 2);
        let id = t.insert(25);
        assert_eq!(t.rank(&25), 2);
        t.rekey(id, 5);
        assert_eq!(t.rank(&5), 0);
        assert_eq!(t.rank(&10), 1);
        let keys: Vec<i32> = t
            .in_order()
            .iter()
            .filter_map(|&i| t.key(i).copied())
            .collect();
        assert_eq!(keys, vec![5, 10, 20, 30, 40]);
    }
}
