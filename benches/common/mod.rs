//! Helpers shared by the comparison benches.

// Each bench uses a different subset.
#![allow(dead_code)]

use waitlist::events::UserSignedUp;
use waitlist::prelude::*;

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
