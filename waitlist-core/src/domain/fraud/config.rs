//! Thresholds and weights of the fraud checks.

use std::time::Duration;

use super::Decision;

/// Thresholds, windows and weights of the fraud checks (defaults in brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct FraudConfig {
    /// Referrals by one referrer allowed within [`velocity_window`](Self::velocity_window) \[10\].
    pub velocity_max_referrals: u64,
    /// \[1 h\]
    pub velocity_window: Duration,
    /// Other users allowed on one IP within [`duplicate_window`](Self::duplicate_window) \[3\].
    pub max_users_per_ip: u64,
    /// Other users allowed on one device within the window \[1\].
    pub max_users_per_device: u64,
    /// \[24 h\]
    pub duplicate_window: Duration,
    /// Email verification sooner than this after signup looks automated \[3 s\].
    pub min_verification_time: Duration,
    /// Lower-case user-agent fragments of bots.
    pub bot_user_agents: Vec<String>,
    /// Lower-case local-part fragments of throw-away addresses.
    pub suspicious_local_parts: Vec<String>,
    /// A local part with at least this many consecutive digits is suspicious \[6\].
    pub suspicious_digit_run: usize,
    /// Domains treated as disposable besides the shipped list.
    pub extra_disposable_domains: Vec<String>,
    /// Weight of each check, in `[0, 1]`.
    pub weights: CheckWeights,
    /// Risk at or above which the decision is review \[0.5\].
    pub review_threshold: f64,
    /// Risk at or above which the decision is block \[0.8\].
    pub block_threshold: f64,
}

/// The weight of each check in the risk score.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckWeights {
    /// \[1.0\]: self-referral alone blocks.
    pub self_referral: f64,
    /// \[0.6\]
    pub velocity: f64,
    /// \[0.9\]: scaled down for merely suspicious patterns.
    pub fake_email: f64,
    /// \[0.9\]: scaled down for timing alone.
    pub bot: f64,
    /// \[0.5\]
    pub duplicate_ip: f64,
    /// \[0.7\]
    pub duplicate_device: f64,
}

impl Default for CheckWeights {
    fn default() -> Self {
        Self {
            self_referral: 1.0,
            velocity: 0.6,
            fake_email: 0.9,
            bot: 0.9,
            duplicate_ip: 0.5,
            duplicate_device: 0.7,
        }
    }
}

impl Default for FraudConfig {
    fn default() -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            velocity_max_referrals: 10,
            velocity_window: Duration::from_secs(3600),
            max_users_per_ip: 3,
            max_users_per_device: 1,
            duplicate_window: Duration::from_secs(24 * 3600),
            min_verification_time: Duration::from_secs(3),
            bot_user_agents: strings(&[
                "bot",
                "crawler",
                "spider",
                "headless",
                "phantomjs",
                "selenium",
                "puppeteer",
                "playwright",
                "curl/",
                "wget/",
                "python-requests",
                "python-urllib",
                "go-http-client",
                "scrapy",
                "httpclient",
            ]),
            suspicious_local_parts: strings(&["test", "fake", "asdf", "qwerty", "spam", "noreply"]),
            suspicious_digit_run: 6,
            extra_disposable_domains: Vec::new(),
            weights: CheckWeights::default(),
            review_threshold: 0.5,
            block_threshold: 0.8,
        }
    }
}

impl FraudConfig {
    /// The decision for a risk score.
    pub fn decide(&self, risk: f64) -> Decision {
        if risk >= self.block_threshold {
            Decision::Block
        } else if risk >= self.review_threshold {
            Decision::Review
        } else {
            Decision::Allow
        }
    }
}
