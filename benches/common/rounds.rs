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

/// A median rate of the raw client and of the SDK, in messages per second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub(crate) raw: f64,
    pub(crate) sdk: f64,
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

    /// The median (publish, consume) pairs, printed as two lines
    /// (`publish` and `consume` name what was measured, `raw` the client).
    pub(crate) fn report(self, raw: &str, publish: &str, consume: &str) -> (Pair, Pair) {
        let at = |i: usize| median(self.rates.iter().map(|r| r[i]).collect());
        let pairs = [
            (
                publish,
                Pair {
                    raw: at(0),
                    sdk: at(2),
                },
            ),
            (
                consume,
                Pair {
                    raw: at(1),
                    sdk: at(3),
                },
            ),
        ];
        for (what, p) in pairs {
            println!(
                "  {what:<22} raw {raw} {:>9.0}/s   waitlist {:>9.0}/s   ratio {:.3}",
                p.raw,
                p.sdk,
                p.sdk / p.raw
            );
        }
        (pairs[0].1, pairs[1].1)
    }
}
