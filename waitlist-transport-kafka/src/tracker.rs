//! What a member has fetched, handed out and finished, per partition.
//!
//! The committed position of a partition is the lowest offset still
//! unfinished (or one past the highest fetched when all are finished), so a
//! crash never skips unfinished work while later offsets finish first.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};

use tokio::time::Instant;
use waitlist_core::Message;

/// A topic partition.
pub(crate) type Tp = (String, i32);

/// A fetched record waiting to be handed out (or handed out again).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) message: Message,
    pub(crate) tp: Tp,
    pub(crate) offset: i64,
    pub(crate) attempt: u32,
}

#[derive(Debug, Default)]
struct Partition {
    unfinished: BTreeSet<i64>,
    next: i64,
    committed: i64,
    dirty: bool,
}

impl Partition {
    fn position(&self) -> i64 {
        self.unfinished.first().copied().unwrap_or(self.next)
    }
}

/// The member's fetch state.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub(crate) ready: VecDeque<Pending>,
    held: BinaryHeap<Reverse<(Instant, u64)>>,
    held_items: HashMap<u64, Pending>,
    seq: u64,
    partitions: HashMap<Tp, Partition>,
    /// Deliveries handed out and not settled.
    pub(crate) outstanding: usize,
    /// The member received its first assignment.
    pub(crate) joined: bool,
    pub(crate) closed: bool,
}

impl Tracker {
    /// A record was fetched; it is handed out now or at `not_before`.
    pub(crate) fn fetched(&mut self, p: Pending, not_before: Option<Instant>) {
        let part = self.partitions.entry(p.tp.clone()).or_default();
        part.unfinished.insert(p.offset);
        part.next = part.next.max(p.offset + 1);
        match not_before {
            Some(at) if at > Instant::now() => {
                self.seq += 1;
                self.held.push(Reverse((at, self.seq)));
                self.held_items.insert(self.seq, p);
            }
            _ => self.ready.push_back(p),
        }
    }

    /// Moves due held records to `ready`; the next due time, if any.
    pub(crate) fn promote(&mut self, now: Instant) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.held.peek().copied() {
            if at > now {
                return Some(at);
            }
            self.held.pop();
            if let Some(p) = self.held_items.remove(&id) {
                self.ready.push_back(p);
            }
        }
        None
    }

    /// Records fetched and not yet handed out.
    pub(crate) fn buffered(&self) -> usize {
        self.ready.len() + self.held_items.len()
    }

    /// The record at `offset` is finished (acked, retried or dead-lettered).
    pub(crate) fn finished(&mut self, tp: &Tp, offset: i64) {
        if let Some(part) = self.partitions.get_mut(tp) {
            if part.unfinished.remove(&offset) {
                part.dirty = true;
            }
        }
    }

    /// Positions to commit: partitions whose position moved forward.
    pub(crate) fn take_commits(&mut self) -> Vec<(Tp, i64)> {
        let mut out = Vec::new();
        for (tp, part) in &mut self.partitions {
            if !part.dirty {
                continue;
            }
            part.dirty = false;
            let pos = part.position();
            if pos > part.committed {
                part.committed = pos;
                out.push((tp.clone(), pos));
            }
        }
        out
    }

    /// Partitions taken away: their positions (to commit now), and their
    /// records not yet handed out are dropped (the next owner fetches them
    /// again from the committed position).
    pub(crate) fn revoke(&mut self, tps: &[Tp]) -> Vec<(Tp, i64)> {
        let mut out = Vec::new();
        for tp in tps {
            if let Some(part) = self.partitions.remove(tp) {
                if part.next > 0 {
                    out.push((tp.clone(), part.position()));
                }
            }
        }
        self.ready.retain(|p| !tps.contains(&p.tp));
        self.held_items.retain(|_, p| !tps.contains(&p.tp));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(offset: i64) -> Pending {
        Pending {
            message: Message::default(),
            tp: ("t".into(), 0),
            offset,
            attempt: 1,
        }
    }

    #[test]
    fn commit_stops_below_the_lowest_unfinished_offset() {
        let mut t = Tracker::default();
        for o in 0..5 {
            t.fetched(p(o), None);
        }
        let tp = ("t".to_owned(), 0);
        t.finished(&tp, 0);
        t.finished(&tp, 2);
        t.finished(&tp, 3);
        assert_eq!(
            t.take_commits(),
            vec![(tp.clone(), 1)],
            "offset 1 is unfinished"
        );
        t.finished(&tp, 1);
        assert_eq!(t.take_commits(), vec![(tp.clone(), 4)]);
        t.finished(&tp, 4);
        assert_eq!(
            t.take_commits(),
            vec![(tp, 5)],
            "all done: one past the highest"
        );
    }

    #[test]
    fn held_records_wait_for_their_time() {
        let mut t = Tracker::default();
        let later = Instant::now() + std::time::Duration::from_secs(60);
        t.fetched(p(0), Some(later));
        t.fetched(p(1), None);
        assert_eq!(t.ready.len(), 1);
        assert_eq!(t.promote(Instant::now()), Some(later));
        assert_eq!(t.promote(later), None);
        assert_eq!(t.ready.len(), 2);
    }

    #[test]
    fn revoked_partitions_drop_their_buffered_records() {
        let mut t = Tracker::default();
        t.fetched(p(0), None);
        t.fetched(p(1), None);
        let tp = ("t".to_owned(), 0);
        t.finished(&tp, 0);
        assert_eq!(t.revoke(&[tp]), vec![(("t".to_owned(), 0), 1)]);
        assert_eq!(t.buffered(), 0);
    }
}
