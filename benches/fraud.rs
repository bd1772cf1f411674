//! Fraud checks per second: referral checks (all six) and user checks
//! (four) against the in-memory stores.
//!
//! `cargo bench --bench fraud` runs the full size; without `--bench` (as
//! `cargo test --all-targets` runs it) it does a small smoke run.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{per_second, Row};

use waitlist::domain::{Clock, DomainStores, FraudConfig, FraudService, SystemClock};
use waitlist::store::{MemoryStore, Referral, ReferralStore, User, UserStore};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full_run = std::env::args().any(|a| a == "--bench");
    let n: usize = if full_run { 200_000 } else { 2_000 };
    let store = Arc::new(MemoryStore::new());
    let now = SystemClock.now();
    let domains = ["example.com", "mail.test", "mailinator.com", "corp.example"];
    for i in 0..n {
        let mut u = User::new(
            "c",
            format!("u{i}"),
            format!("user{}@{}", i % 997, domains[i % 4]),
            now,
        );
        u.signup_ip = Some(format!("10.{}.{}.{}", i % 7, (i / 7) % 250, i % 250));
        u.device_fingerprint = Some(format!("dev-{}", i % (n / 2).max(1)));
        u.user_agent = Some(if i % 50 == 0 {
            "python-requests/2.31".into()
        } else {
            "Mozilla/5.0 Firefox/128.0".into()
        });
        store.insert_user(u).await.ok();
        if i > 0 {
            let r = Referral::new(
                "c",
                format!("r{i}"),
                format!("u{}", i % 1000),
                format!("u{i}"),
                now,
            );
            store.insert_referral(r).await.ok();
        }
    }
    let fraud = FraudService::new(
        &DomainStores::from_one(store.clone()),
        FraudConfig::default(),
    );
    println!("fraud bench: {n} users");

    let start = Instant::now();
    let mut blocked = 0usize;
    for i in 1..n {
        if let Ok(check) = fraud.check_referral("c", &format!("r{i}")).await {
            blocked += usize::from(check.report.decision == waitlist::domain::Decision::Block);
        }
    }
    let elapsed = start.elapsed();
    let referral_rate = (n - 1) as f64 / elapsed.as_secs_f64();
    println!(
        "  referral checks (6 checks each): {:>10.0} /s  ({} in {:.1} ms, {blocked} blocked)",
        referral_rate,
        n - 1,
        elapsed.as_secs_f64() * 1e3
    );

    let start = Instant::now();
    for i in 0..n {
        let _ = fraud.check_user("c", &format!("u{i}")).await;
    }
    let elapsed = start.elapsed();
    println!(
        "  user checks (4 checks each):     {:>10.0} /s  ({n} in {:.1} ms)",
        n as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3
    );
    Row {
        what: "fraud detection: referral checks (six each), one core",
        sdk: per_second(referral_rate),
        baseline: "—".into(),
        ratio: None,
        target: "≥ 300,000/s",
        met: full_run.then_some(referral_rate >= 300_000.0),
    }
    .print();
    println!(
        "  signal memory: {} values, {} observations held",
        store.signals().tracked_values(),
        store.signals().tracked_observations()
    );
}
