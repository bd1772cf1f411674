//! Positions: full recalculation and one incremental referral update on a
//! 1,000,000-user campaign, against a naive re-sort baseline in the same run.
//!
//! `cargo bench --bench positions` runs the full size; without `--bench`
//! (as `cargo test --all-targets` runs it) it does a 10,000-user smoke run.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use waitlist::domain::positions::{rank_all, PositionIndex};
use waitlist::store::Standing;

use common::{Lcg, Row};

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn main() {
    let full_run = std::env::args().any(|a| a == "--bench");
    let n: usize = if full_run { 1_000_000 } else { 10_000 };
    let updates: usize = if full_run { 100_000 } else { 1_000 };
    let naive_updates: usize = if full_run { 3 } else { 2 };
    let points = 2;
    let mut rng = Lcg(42);
    let mut standings: Vec<Standing> = (0..n)
        .map(|i| Standing::new(format!("user-{i:07}"), i as u64 + 1, rng.next() % 4))
        .collect();
    println!("positions bench: {n} users, {points} points per referral");

    let (mut index, full) = time(|| {
        // Borrowed, as `rank_all` takes them: the index copies the ids it
        // keeps into one string of its own.
        let index = PositionIndex::build(points, &standings);
        black_box(index.positions().len());
        index
    });
    let (naive, naive_full) = time(|| rank_all(&standings, points));
    assert_eq!(index.positions(), naive, "index and baseline agree");
    println!(
        "  full recalculation:        index {:>9.1} ms   naive sort {:>9.1} ms   ratio {:.2}x",
        full.as_secs_f64() * 1e3,
        naive_full.as_secs_f64() * 1e3,
        naive_full.as_secs_f64() / full.as_secs_f64()
    );

    let (_, incremental) = time(|| {
        for _ in 0..updates {
            let i = (rng.next() as usize) % n;
            let s = &mut standings[i];
            s.verified_referrals += 1;
            black_box(index.set_verified_referrals(&s.user_id, s.verified_referrals));
        }
    });
    let per_update = incremental / updates as u32;
    let (_, naive_incremental) = time(|| {
        for _ in 0..naive_updates {
            let i = (rng.next() as usize) % n;
            standings[i].verified_referrals += 1;
            black_box(rank_all(&standings, points));
            let s = &standings[i];
            index.set_verified_referrals(&s.user_id, s.verified_referrals);
        }
    });
    let naive_per_update = naive_incremental / naive_updates as u32;
    println!(
        "  one verified referral:     index {:>9.3} µs   naive re-sort {:>9.1} ms   ratio {:.0}x  ({updates} index updates, {naive_updates} re-sorts)",
        per_update.as_secs_f64() * 1e6,
        naive_per_update.as_secs_f64() * 1e3,
        naive_per_update.as_secs_f64() / per_update.as_secs_f64().max(1e-12)
    );
    let (_, lookups) = time(|| {
        for _ in 0..updates {
            let i = (rng.next() as usize) % n;
            black_box(index.position(&standings[i].user_id));
        }
    });
    let per_lookup = lookups / updates as u32;
    println!(
        "  position lookup:           index {:>9.3} µs",
        per_lookup.as_secs_f64() * 1e6
    );
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
    let us = |d: Duration| format!("{:.2} µs", d.as_secs_f64() * 1e6);
    Row {
        what: &format!("positions: full recalculation, {n} users (vs naive sort)"),
        sdk: ms(full),
        baseline: ms(naive_full),
        ratio: Some(full.as_secs_f64() / naive_full.as_secs_f64()),
        target: "≤ 150 ms and ≤ naive",
        met: full_run.then_some(full <= Duration::from_millis(150) && full <= naive_full),
    }
    .print();
    Row {
        what: "positions: one verified referral, incremental (vs naive re-sort)",
        sdk: us(per_update),
        baseline: ms(naive_per_update),
        ratio: Some(per_update.as_secs_f64() / naive_per_update.as_secs_f64()),
        target: "≤ 3 µs",
        met: full_run.then_some(per_update <= Duration::from_micros(3)),
    }
    .print();
    Row {
        what: "positions: one position lookup",
        sdk: us(per_lookup),
        baseline: "—".into(),
        ratio: None,
        target: "≤ 1 µs",
        met: full_run.then_some(per_lookup <= Duration::from_micros(1)),
    }
    .print();
    assert_eq!(
        index.positions(),
        rank_all(&standings, points),
        "still equal after updates"
    );
}
