//! Per-key scheduling: parallel across keys, one at a time per key, in order.

use std::collections::{HashMap, VecDeque};

/// Decides when an item of a partition key may run.
///
/// An item whose key is idle runs at once; an item whose key is busy waits
/// behind the earlier ones of that key. When the running item of a key
/// completes, the next waiting item of that key (if any) is handed out.
/// Thus two items of one key never run at the same time and each key's items
/// run in submission order, while different keys run in parallel.
#[derive(Debug)]
pub struct PerKeyScheduler<T> {
    /// Busy keys, with the items waiting behind the running one.
    waiting: HashMap<String, VecDeque<T>>,
    queued: usize,
}

impl<T> Default for PerKeyScheduler<T> {
    fn default() -> Self {
        Self {
            waiting: HashMap::new(),
            queued: 0,
        }
    }
}

impl<T> PerKeyScheduler<T> {
    /// An empty scheduler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Submits an item of `key`: returns it back if it may run now (the key
    /// becomes busy), or keeps it until [`complete`](Self::complete) of the
    /// items before it.
    pub fn submit(&mut self, key: &str, item: T) -> Option<T> {
        match self.waiting.get_mut(key) {
            Some(queue) => {
                queue.push_back(item);
                self.queued += 1;
                None
            }
            None => {
                self.waiting.insert(key.to_owned(), VecDeque::new());
                Some(item)
            }
        }
    }

    /// Marks the running item of `key` complete and returns the next item of
    /// that key to run, if one waits (the key stays busy); otherwise the key
    /// becomes idle.
    pub fn complete(&mut self, key: &str) -> Option<T> {
        let queue = self.waiting.get_mut(key)?;
        match queue.pop_front() {
            Some(next) => {
                self.queued -= 1;
                Some(next)
            }
            None => {
                self.waiting.remove(key);
                None
            }
        }
    }

    /// Drops every waiting item and marks all keys idle.
    pub fn clear(&mut self) {
        self.waiting.clear();
        self.queued = 0;
    }

    /// Keys with an item running.
    pub fn busy_keys(&self) -> usize {
        self.waiting.len()
    }

    /// Items waiting behind a running item of their key.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Whether `key` has an item running.
    pub fn is_busy(&self, key: &str) -> bool {
        self.waiting.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn second_item_of_a_key_waits_for_the_first() {
        let mut s = PerKeyScheduler::new();
        assert_eq!(s.submit("a", 1), Some(1));
        assert_eq!(s.submit("a", 2), None);
        assert_eq!(s.submit("b", 3), Some(3));
        assert_eq!(s.complete("a"), Some(2));
        assert_eq!(s.complete("a"), None);
        assert!(!s.is_busy("a"));
        assert!(s.is_busy("b"));
    }

    proptest! {
        /// Random submissions over a few keys, completed in random order:
        /// never two running items of one key, and each key's items run in
        /// submission order; everything submitted runs exactly once.
        #[test]
        fn never_two_of_one_key_and_order_kept(
            keys in proptest::collection::vec(0u8..6, 1..200),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..400),
        ) {
            let mut s = PerKeyScheduler::new();
            let mut running: Vec<(String, usize)> = Vec::new();
            let mut started: HashMap<String, Vec<usize>> = HashMap::new();
            let mut picks = picks.into_iter();
            let mut start = |running: &mut Vec<(String, usize)>, key: &str, seq: usize| {
                assert!(running.iter().all(|(k, _)| k != key), "two items of {key} running");
                running.push((key.to_owned(), seq));
                started.entry(key.to_owned()).or_default().push(seq);
            };
            for (seq, k) in keys.iter().enumerate() {
                let key = format!("k{k}");
                if let Some(item) = s.submit(&key, seq) {
                    start(&mut running, &key, item);
                }
                // Sometimes complete a random running item between submissions.
                if let Some(ix) = picks.next() {
                    if !running.is_empty() && ix.index(3) == 0 {
                        let (key, _) = running.remove(ix.index(running.len()));
                        if let Some(next) = s.complete(&key) {
                            start(&mut running, &key, next);
                        }
                    }
                }
            }
            // Drain in random order.
            let mut guard = 0;
            while !running.is_empty() {
                let i = picks.next().map_or(0, |ix| ix.index(running.len()));
                let (key, _) = running.remove(i);
                if let Some(next) = s.complete(&key) {
                    start(&mut running, &key, next);
                }
                guard += 1;
                prop_assert!(guard < 10_000);
            }
            prop_assert_eq!(s.busy_keys(), 0);
            prop_assert_eq!(s.queued(), 0);
            let mut total = 0;
            for (key, seqs) in &started {
                let expected: Vec<usize> = keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| &format!("k{k}") == key)
                    .map(|(i, _)| i)
                    .collect();
                prop_assert_eq!(seqs, &expected);
                total += seqs.len();
            }
            prop_assert_eq!(total, keys.len());
        }
    }
}
