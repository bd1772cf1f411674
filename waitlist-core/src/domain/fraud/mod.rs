//! Fraud detection: the six checks of the jobs document, a risk score and a
//! decision.
//!
//! | Check | Flags |
//! |---|---|
//! | [`CheckKind::SelfReferral`] | same user, same normalised email, or referrer and referred sharing an IP or a device |
//! | [`CheckKind::Velocity`] | more than N referrals by one referrer within a window |
//! | [`CheckKind::FakeEmail`] | bad syntax, a disposable domain (shipped list), suspicious patterns |
//! | [`CheckKind::Bot`] | bot user agent, filled honeypot, verification faster than a human |
//! | [`CheckKind::DuplicateIp`] | more than N other users from one IP in a campaign within a window |
//! | [`CheckKind::DuplicateDevice`] | more than N other users on one device in a campaign within a window |
//!
//! Each flagged check contributes its configured weight × severity; the risk
//! score is `1 − Π(1 − contribution)` in `[0, 1]`, and the decision is
//! [`Decision::Block`] at or above [`FraudConfig::block_threshold`],
//! [`Decision::Review`] at or above [`FraudConfig::review_threshold`],
//! [`Decision::Allow`] otherwise. A blocked referral is marked
//! [`ReferralStatus::Blocked`](crate::store::ReferralStatus::Blocked) and
//! never counts toward positions. Windows live in a
//! [`FraudSignalStore`](crate::store::FraudSignalStore), whose in-memory
//! implementation has bounded memory.

mod checks;
mod config;
pub mod email;
mod service;

pub use config::FraudConfig;
pub use service::FraudService;

use serde::{Deserialize, Serialize};

/// One of the six checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Referring oneself.
    SelfReferral,
    /// Too many referrals too quickly.
    Velocity,
    /// Invalid, disposable or suspicious email address.
    FakeEmail,
    /// Automated signup.
    Bot,
    /// Many users from one IP address.
    DuplicateIp,
    /// Many users from one device.
    DuplicateDevice,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which check.
    pub check: CheckKind,
    /// Whether it found something.
    pub flagged: bool,
    /// Its contribution to the risk score, in `[0, 1]` (0 when not flagged).
    pub score: f64,
    /// Why (also when not flagged, e.g. "3 referrals in window, limit 10").
    pub reason: String,
}

impl CheckResult {
    pub(crate) fn pass(check: CheckKind, reason: impl Into<String>) -> Self {
        Self {
            check,
            flagged: false,
            score: 0.0,
            reason: reason.into(),
        }
    }

    pub(crate) fn flag(check: CheckKind, score: f64, reason: impl Into<String>) -> Self {
        Self {
            check,
            flagged: true,
            score: score.clamp(0.0, 1.0),
            reason: reason.into(),
        }
    }
}

/// What to do with the user or referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Nothing suspicious enough.
    Allow,
    /// Suspicious: a human should look (still counts meanwhile).
    Review,
    /// Fraud: blocked, never counts.
    Block,
}

/// The full result of a fraud detection run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FraudReport {
    /// The campaign.
    pub campaign_id: String,
    /// The user checked (the referred user for a referral).
    pub user_id: String,
    /// The referral checked, if any.
    pub referral_id: Option<String>,
    /// Every check that ran, flagged or not.
    pub checks: Vec<CheckResult>,
    /// Combined risk in `[0, 1]`.
    pub risk_score: f64,
    /// The decision.
    pub decision: Decision,
}

impl FraudReport {
    /// The flagged checks.
    pub fn flagged(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.flagged)
    }

    /// The result of `check`, if it ran.
    pub fn check(&self, check: CheckKind) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == check)
    }
}

/// Combines check results: `1 − Π(1 − score)`.
pub fn combine(checks: &[CheckResult]) -> f64 {
    let keep: f64 = checks
        .iter()
        .map(|c| 1.0 - c.score.clamp(0.0, 1.0))
        .product();
    (1.0 - keep).clamp(0.0, 1.0)
}
