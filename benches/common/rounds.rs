//! Per-round rates of a publish-and-consume comparison with a raw client.

use std::time::Duration;

use super::median;

/// Messages per second of each round: publish and consume, for the raw
/// client and the SDK.
#[derive(Debug)]
pub(crate) struct Rounds {
    n: usize,
    /// Per round: raw publish, raw consume, SDK publish, SDK consume.
    rates: Vec<[f64; 4]>,
}

impl Rounds {
    /// Rounds of `n` messages each.
    pub(crate) fn of(n: usize) -> Self {
        Self {
            n,
            rates: Vec::new(),
        }
    }

    /// One round: the (publish, consume) times of the raw client and of the
    /// SDK.
    pub(crate) fn push(&mut self, raw: (Duration, Duration), sdk: (Duration, Duration)) {
        let rate = |d: Duration| self.n as f64 / d.as_secs_f64();
        let round = [rate(raw.0), rate(raw.1), rate(sdk.0), rate(sdk.1)];
        self.rates.push(round);
    }

    /// Prints the median publish and consume rates against the raw client
    /// `raw`, and the two table rows `rows` (what each compares) with their
    /// targets (`targets`, both a ratio of at least 0.95).
    pub(crate) fn report(self, raw: &str, rows: [&str; 2], targets: [&str; 2]) {
        let at = |i: usize| median(self.rates.iter().map(|r| r[i]).collect());
        // Publish: columns 0 (raw) and 2 (SDK); consume: 1 and 3.
        for (k, (what, target)) in rows.into_iter().zip(targets).enumerate() {
            let (r, s) = (at(k), at(k + 2));
            println!(
                "  {what}: raw {raw} {r:.0}/s, waitlist {s:.0}/s, ratio {:.3}",
                s / r
            );
            super::throughput_row(what, s, r, target, 0.95);
        }
    }
}
