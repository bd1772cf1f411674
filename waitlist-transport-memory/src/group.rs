//! One consumer group's queues on the bus.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;
use waitlist_core::sync::lock;
use waitlist_core::{headers, Message};

/// A message held by a group.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Shared with the delivery of attempt 1 (no copy); a redelivery copies
    /// it to set its attempt header.
    pub(crate) message: Arc<Message>,
    /// Attempt of the next delivery.
    pub(crate) attempt: u32,
    pub(crate) seq: u64,
}

#[derive(Debug, Default)]
struct KeyQueue {
    entries: VecDeque<Entry>,
    locked: bool,
}

#[derive(Debug)]
enum Delayed {
    /// Goes back to the ready queue when due.
    Entry(Entry),
    /// The key's head entry becomes deliverable when due.
    Unlock(String),
}

#[derive(Debug, Default)]
pub(crate) struct GroupState {
    seq: u64,
    ready: VecDeque<Entry>,
    keyed: HashMap<String, KeyQueue>,
    ready_keys: VecDeque<String>,
    delayed: BinaryHeap<Reverse<(Instant, u64)>>,
    delayed_items: HashMap<u64, Delayed>,
    pub(crate) dead: VecDeque<Message>,
    /// Messages held: queued, delayed and in flight (not dead letters).
    pub(crate) len: usize,
    pub(crate) peak_len: usize,
    /// Set when this (backlog) group was handed over to a real group:
    /// publishers must pick their targets again.
    pub(crate) detached: bool,
}

/// What settling a delivery freed (see [`GroupState::finish`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freed {
    /// Another entry became deliverable.
    pub(crate) deliverable: bool,
    /// Waiting publishers should look for space.
    pub(crate) space: bool,
}

/// A consumer group of a topic.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) topic: String,
    pub(crate) name: String,
    pub(crate) per_key: bool,
    pub(crate) partitions: u32,
    pub(crate) capacity: usize,
    state: Mutex<GroupState>,
    /// Signalled when a message may have become deliverable.
    pub(crate) available: Notify,
    /// Signalled when space may have become free.
    pub(crate) space: Notify,
}

impl Group {
    pub(crate) fn new(
        topic: &str,
        name: &str,
        per_key: bool,
        partitions: u32,
        capacity: usize,
    ) -> Self {
        Self {
            topic: topic.to_owned(),
            name: name.to_owned(),
            per_key,
            partitions: partitions.max(1),
            capacity: capacity.max(1),
            state: Mutex::new(GroupState::default()),
            available: Notify::new(),
            space: Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, GroupState> {
        // The state stays consistent across a panicking holder: recover it.
        lock(&self.state)
    }

    /// How much room a full group makes before waiting publishers are
    /// woken (they also look again every few milliseconds).
    pub(crate) fn space_chunk(&self) -> usize {
        (self.capacity / 8).max(1)
    }

    /// Partition of `key` (stable FNV-1a hash).
    pub(crate) fn partition_of(&self, key: Option<&str>) -> i32 {
        let Some(key) = key else { return 0 };
        let mut h: u32 = 0x811c_9dc5;
        for b in key.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        i32::try_from(h % self.partitions).unwrap_or(0)
    }
}

impl GroupState {
    /// Adds a new message (attempt 1); the caller checked the capacity.
    pub(crate) fn push_new(&mut self, group: &Group, message: Message) {
        self.add_fresh(group, message);
    }

    /// Counts and enqueues `message` as a first delivery.
    fn add_fresh(&mut self, group: &Group, message: Message) {
        self.len += 1;
        self.peak_len = self.peak_len.max(self.len);
        let seq = self.next_seq();
        self.enqueue(
            group,
            Entry {
                message: Arc::new(message),
                attempt: 1,
                seq,
            },
        );
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn enqueue(&mut self, group: &Group, entry: Entry) {
        let key = match (group.per_key, entry.message.key.as_deref()) {
            (true, Some(key)) => key,
            _ => return self.ready.push_back(entry),
        };
        // One allocation of the key at most: a queue that exists already is
        // found by the borrowed key.
        let q = match self.keyed.get_mut(key) {
            Some(q) => q,
            None => self.keyed.entry(key.to_owned()).or_default(),
        };
        let first = !q.locked && q.entries.is_empty();
        q.entries.push_back(entry);
        if first {
            let key = q.entries.back().and_then(|e| e.message.key.clone());
            self.ready_keys.extend(key);
        }
    }

    /// Moves due delayed items back; returns the next due time, if any.
    pub(crate) fn promote_due(&mut self, now: Instant) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.delayed.peek().copied() {
            if at > now {
                return Some(at);
            }
            self.delayed.pop();
            match self.delayed_items.remove(&id) {
                Some(Delayed::Entry(entry)) => self.ready.push_back(entry),
                Some(Delayed::Unlock(key)) => {
                    self.unlock(&key);
                }
                None => {}
            }
        }
        None
    }

    /// Takes the next deliverable entry (locking its key in per-key mode).
    pub(crate) fn take_next(&mut self) -> Option<Entry> {
        let key_seq = self
            .ready_keys
            .front()
            .and_then(|k| self.keyed.get(k))
            .and_then(|q| q.entries.front())
            .map(|e| e.seq);
        let plain_seq = self.ready.front().map(|e| e.seq);
        match (key_seq, plain_seq) {
            (Some(k), Some(p)) if p < k => self.ready.pop_front(),
            (Some(_), _) => {
                let key = self.ready_keys.pop_front()?;
                let q = self.keyed.get_mut(&key)?;
                q.locked = true;
                q.entries.pop_front()
            }
            (None, Some(_)) => self.ready.pop_front(),
            (None, None) => None,
        }
    }

    /// Unlocks `key`; true when that made one of its entries deliverable.
    fn unlock(&mut self, key: &str) -> bool {
        let Some(q) = self.keyed.get_mut(key) else {
            return false;
        };
        q.locked = false;
        if q.entries.is_empty() {
            self.keyed.remove(key);
            false
        } else {
            self.ready_keys.push_back(key.to_owned());
            true
        }
    }

    fn keyed_entry(group: &Group, entry: &Entry) -> Option<String> {
        // (The key is owned: a redelivery moves the entry into its queue.)
        if group.per_key {
            entry.message.key.clone()
        } else {
            None
        }
    }

    /// The delivery of `entry` is settled for good (ack or dead letter).
    /// Says what the settle frees: a deliverable entry of its key, and
    /// whether waiting publishers should look for space (when the group
    /// drops to `capacity − capacity/8`, so that a publisher waiting on a
    /// full group wakes once per chunk, not once per message).
    pub(crate) fn finish(&mut self, group: &Group, entry: &Entry) -> Freed {
        self.len = self.len.saturating_sub(1);
        let deliverable = match entry.message.key.as_deref() {
            Some(key) if group.per_key => self.unlock(key),
            _ => false,
        };
        Freed {
            deliverable,
            space: self.len == group.capacity - group.space_chunk(),
        }
    }

    /// The delivery of `entry` failed: deliver again after `delay`.
    pub(crate) fn redeliver(
        &mut self,
        group: &Group,
        mut entry: Entry,
        delay_until: Option<Instant>,
    ) {
        entry.attempt = entry.attempt.saturating_add(1);
        match Self::keyed_entry(group, &entry) {
            Some(key) => {
                let q = self.keyed.entry(key.clone()).or_default();
                q.entries.push_front(entry);
                q.locked = true;
                match delay_until {
                    Some(at) => self.schedule(at, Delayed::Unlock(key)),
                    None => {
                        self.unlock(&key);
                    }
                }
            }
            None => match delay_until {
                Some(at) => self.schedule(at, Delayed::Entry(entry)),
                None => self.ready.push_front(entry),
            },
        }
    }

    fn schedule(&mut self, at: Instant, item: Delayed) {
        let id = self.next_seq();
        self.delayed.push(Reverse((at, id)));
        self.delayed_items.insert(id, item);
    }

    /// Moves up to `limit` dead letters back as new deliveries (attempt 1),
    /// as far as the group's capacity allows.
    pub(crate) fn replay(&mut self, group: &Group, limit: usize) -> usize {
        let mut moved = 0;
        while moved < limit && self.len < group.capacity {
            let Some(mut message) = self.dead.pop_front() else {
                break;
            };
            message.headers.remove(headers::ATTEMPT);
            self.add_fresh(group, message);
            moved += 1;
        }
        moved
    }

    /// Takes every queued (not delayed, not in flight) entry, for handing a
    /// backlog over to another group.
    pub(crate) fn drain_queued(&mut self) -> Vec<Message> {
        let mut all: Vec<Entry> = self.ready.drain(..).collect();
        for (_, q) in self.keyed.drain() {
            all.extend(q.entries);
        }
        self.ready_keys.clear();
        all.sort_by_key(|e| e.seq);
        self.len = 0;
        self.detached = true;
        all.into_iter()
            .map(|e| Arc::unwrap_or_clone(e.message))
            .collect()
    }
}
