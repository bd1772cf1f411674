//! Helpers shared by the comparison benches.

// Each bench uses a different subset.
#![allow(dead_code)]

use waitlist::events::UserSignedUp;
use waitlist::prelude::*;

mod rounds;
#[allow(unused_imports)] // only the broker benches compare rounds
pub(crate) use rounds::Rounds;

/// `name` from the environment as a number, or `default`.
pub(crate) fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `v` (upper median for an even count).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Whether the bench runs for real (`cargo bench` passes `--bench`) rather
/// than as a quick check under `cargo test --all-targets`.
pub(crate) fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `n` enveloped `user.signed_up` events on `topic`, keyed over 64 campaigns.
pub(crate) fn signed_up_messages(topic: &str, n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let campaign = format!("campaign-{:04}", i % 64);
            let data = UserSignedUp {
                user_id: format!("user-{i:08}"),
                campaign_id: campaign.clone(),
                email: format!("user{i}@example.com"),
            };
            Message::from_envelope(topic, &Envelope::new("account-0001", campaign, data))
                .expect("encode")
        })
        .collect()
}

/// A group of 10 workers (at most 100 in flight) on `topic` that decodes
/// each `user.signed_up` envelope; the returned `Notify` fires when the
/// `n`th one is handled.
pub(crate) fn counting_group(
    topic: &str,
    group: &str,
    n: usize,
) -> (ConsumerGroup, std::sync::Arc<tokio::sync::Notify>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let handled = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(tokio::sync::Notify::new());
    let f = Arc::clone(&finished);
    let router = Router::new().on(handler_fn(
        move |e: Envelope<UserSignedUp>, _ctx: Context| {
            let (h, f) = (Arc::clone(&handled), Arc::clone(&f));
            async move {
                std::hint::black_box(&e);
                if h.fetch_add(1, Ordering::Relaxed) + 1 == n {
                    f.notify_one();
                }
                Outcome::Done
            }
        },
    ));
    let group = ConsumerGroup::new(topic, group, router)
        .workers(10)
        .max_in_flight(100);
    (group, finished)
}

/// Time for a [`counting_group`] on `queue` to handle `n` messages already
/// waiting on `topic` (group start included).
pub(crate) async fn sdk_consume(
    queue: std::sync::Arc<dyn Queue>,
    topic: &str,
    group: &str,
    n: usize,
) -> std::time::Duration {
    let (group, finished) = counting_group(topic, group, n);
    let started = std::time::Instant::now();
    let running = group.start(queue).await.expect("start");
    finished.notified().await;
    let elapsed = started.elapsed();
    running.shutdown(std::time::Duration::from_secs(10)).await;
    elapsed
}

/// How many messages and rounds a bench runs: `quick` messages in one round
/// under `cargo test`, otherwise `$count_var` (default `full`) messages in
/// `BENCH_ROUNDS` (default `rounds`) rounds.
pub(crate) fn sizes(count_var: &str, quick: usize, full: usize, rounds: usize) -> (usize, usize) {
    if full_run() {
        (
            env_usize(count_var, full),
            env_usize("BENCH_ROUNDS", rounds),
        )
    } else {
        (quick, 1)
    }
}

/// A multi-threaded tokio runtime for a bench's `main`.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Reports a broker the bench cannot reach: a failure when
/// `WAITLIST_REQUIRE_BROKERS=1`, otherwise a `SKIPPED` line.
pub(crate) fn unreachable(bench: &str, what: &str, address: &str) {
    let required = std::env::var("WAITLIST_REQUIRE_BROKERS").is_ok_and(|v| v == "1");
    assert!(!required, "{what} not reachable at {address}");
    eprintln!("SKIPPED {bench} bench: {what} not reachable at {address}");
}

/// A row of the table `scripts/bench.sh` prints, as one machine-readable
/// line: `BENCH|what|sdk|baseline|ratio|target|met`.
pub(crate) struct Row<'a> {
    /// What is measured.
    pub(crate) what: &'a str,
    /// The SDK's figure, with its unit.
    pub(crate) sdk: String,
    /// The baseline's figure in the same run ("—" when there is none).
    pub(crate) baseline: String,
    /// SDK / baseline (or the figure the target is stated in).
    pub(crate) ratio: Option<f64>,
    /// The target, as the issue states it.
    pub(crate) target: &'a str,
    /// Whether the target is met in this run (`None`: this run is not the
    /// size the target is stated for).
    pub(crate) met: Option<bool>,
}

impl Row<'_> {
    /// Prints the row.
    pub(crate) fn print(&self) {
        let ratio = self
            .ratio
            .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}"));
        println!(
            "BENCH|{}|{}|{}|{ratio}|{}|{}",
            self.what,
            self.sdk,
            self.baseline,
            self.target,
            match self.met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "n/a (smaller run)",
            }
        );
    }
}

/// Prints the row of a throughput compared with its baseline in the same
/// run, met when SDK / baseline ≥ `at_least` (judged only in a full run,
/// not at the smoke size of `cargo test`).
pub(crate) fn throughput_row(what: &str, sdk: f64, baseline: f64, target: &str, at_least: f64) {
    Row {
        what,
        sdk: per_second(sdk),
        baseline: per_second(baseline),
        ratio: Some(sdk / baseline),
        target,
        met: full_run().then_some(sdk / baseline >= at_least),
    }
    .print();
}

/// A small deterministic generator for bench data (no extra dependency).
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    /// The next 31-bit value.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A throughput as `12,345/s`.
pub(crate) fn per_second(v: f64) -> String {
    let n = v.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out + "/s"
}
