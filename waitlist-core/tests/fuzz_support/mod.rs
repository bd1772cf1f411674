//! What every property-based fuzz target shares (see RELIABILITY.md): the
//! case count and a cheap generator for the mutation bursts. Included with
//! `#[path]` by waitlist-core's fuzz tests and by the transport crates'
//! codec `fuzz` modules.
#![allow(dead_code, unreachable_pub)]

use proptest::test_runner::Config;

/// `default` cases per property, or `PROPTEST_CASES` (what
/// `scripts/fuzz.sh` sets).
pub(crate) fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config::with_cases(cases)
}

/// A small deterministic generator for the mutation bursts (xorshift64*):
/// one proptest case, many cheap inputs.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator seeded by `seed` (any value; zero is avoided).
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Up to `max` random bytes.
    pub(crate) fn bytes(&mut self, max: usize) -> Vec<u8> {
        (0..self.below(max + 1))
            .map(|_| self.next() as u8)
            .collect()
    }

    /// One random edit of `items` with `item`: replace, insert, remove,
    /// truncate or swap (push when too short to swap).
    pub(crate) fn edit<T>(&mut self, items: &mut Vec<T>, item: T) {
        let len = items.len();
        match self.below(5) {
            0 if len > 0 => items[self.below(len)] = item,
            1 => items.insert(self.below(len + 1), item),
            2 if len > 0 => drop(items.remove(self.below(len))),
            3 => items.truncate(self.below(len + 1)),
            _ if len > 1 => items.swap(self.below(len), self.below(len)),
            _ => items.push(item),
        }
    }
}
