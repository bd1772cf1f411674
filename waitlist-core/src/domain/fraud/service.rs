//! Fraud detection against the stores.

use std::sync::Arc;

use super::checks::{bot, fake_email, over_limit, self_referral, Fragments};
use super::email::normalise;
use super::{combine, CheckKind, CheckResult, Decision, FraudConfig, FraudReport};
use crate::domain::{Clock, DomainError, DomainStores, SystemClock};
use crate::store::{FraudSignal, ReferralStatus, SignalKind, User};

/// What checking a referral did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferralCheck {
    /// The report.
    pub report: FraudReport,
    /// The referrer.
    pub referrer_id: String,
    /// The referral was verified (counted) before being blocked now: the
    /// referrer's position must be refreshed.
    pub uncounted: bool,
}

/// Runs the fraud checks for users and referrals and blocks fraudulent
/// referrals.
#[derive(Debug)]
pub struct FraudService {
    stores: DomainStores,
    config: FraudConfig,
    /// `config.bot_user_agents`, to search a user agent for all at once.
    bots: Fragments,
    /// `config.suspicious_local_parts` likewise.
    local_parts: Fragments,
    clock: Arc<dyn Clock>,
}

impl FraudService {
    /// A service with `config` over `stores` (users, referrals and fraud
    /// signals).
    pub fn new(stores: &DomainStores, config: FraudConfig) -> Self {
        Self {
            stores: stores.clone(),
            bots: Fragments::new(&config.bot_user_agents, true),
            local_parts: Fragments::new(&config.suspicious_local_parts, false),
            config,
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` to block referrals.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &FraudConfig {
        &self.config
    }

    /// Records the user's IP and device and checks both for duplicates.
    async fn duplicates(&self, user: &User) -> Result<[CheckResult; 2], DomainError> {
        let ip = self.duplicate(user, SignalKind::Ip).await?;
        let device = self.duplicate(user, SignalKind::Device).await?;
        Ok([ip, device])
    }

    /// Records the user's IP or device (`kind`) and checks it for duplicates.
    async fn duplicate(&self, user: &User, kind: SignalKind) -> Result<CheckResult, DomainError> {
        use CheckKind::{DuplicateDevice, DuplicateIp};
        let (c, w) = (&self.config, &self.config.weights);
        let (check, weight, limit) = match kind {
            SignalKind::Device => (DuplicateDevice, w.duplicate_device, c.max_users_per_device),
            _ => (DuplicateIp, w.duplicate_ip, c.max_users_per_ip),
        };
        let (value, what) = match kind {
            SignalKind::Device => (&user.device_fingerprint, "other users on this device"),
            _ => (&user.signup_ip, "other users on this IP"),
        };
        let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
        let Some(value) = value else {
            return Ok(CheckResult::pass(check, "no value recorded"));
        };
        let signal = FraudSignal {
            campaign_id: user.campaign_id.clone(),
            kind,
            value: value.to_owned(),
            subject_id: user.id.clone(),
            at: user.created_at,
        };
        let others = self
            .stores
            .signals
            .record_signal(signal, self.config.duplicate_window)
            .await?;
        Ok(over_limit(check, weight, others, limit, what))
    }

    fn report(
        &self,
        user: &User,
        referral_id: Option<String>,
        checks: Vec<CheckResult>,
    ) -> FraudReport {
        let risk_score = combine(&checks);
        FraudReport {
            campaign_id: user.campaign_id.clone(),
            user_id: user.id.clone(),
            referral_id,
            checks,
            risk_score,
            decision: self.config.decide(risk_score),
        }
    }

    /// Checks a user on their own: fake email, bot, duplicate IP and device.
    /// Recording is idempotent: checking a user twice counts them once.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown user; store errors.
    pub async fn check_user(
        &self,
        campaign_id: &str,
        user_id: &str,
    ) -> Result<FraudReport, DomainError> {
        let user = self.stores.existing_user(campaign_id, user_id).await?;
        let mut checks = vec![
            fake_email(
                &user.email,
                &normalise(&user.email),
                &self.config,
                &self.local_parts,
            ),
            bot(&user, &self.config, &self.bots),
        ];
        checks.extend(self.duplicates(&user).await?);
        Ok(self.report(&user, None, checks))
    }

    /// Checks a referral with all six checks (the referred user's own checks
    /// included) and blocks it when the decision is [`Decision::Block`].
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown referral or user; store errors.
    pub async fn check_referral(
        &self,
        campaign_id: &str,
        referral_id: &str,
    ) -> Result<ReferralCheck, DomainError> {
        let stores = &self.stores;
        let referral = stores.existing_referral(campaign_id, referral_id).await?;
        let referrer = stores
            .existing_user(campaign_id, &referral.referrer_id)
            .await?;
        let referred = stores
            .existing_user(campaign_id, &referral.referred_id)
            .await?;
        let c = &self.config;
        let velocity_signal = FraudSignal {
            campaign_id: campaign_id.to_owned(),
            kind: SignalKind::Referrer,
            value: referral.referrer_id.clone(),
            subject_id: referral.id.clone(),
            at: referral.created_at,
        };
        let earlier = stores
            .signals
            .record_signal(velocity_signal, c.velocity_window)
            .await?;
        let referred_email = normalise(&referred.email);
        let mut checks = vec![
            self_referral(&referrer, &referred, &referred_email, c),
            over_limit(
                CheckKind::Velocity,
                c.weights.velocity,
                earlier + 1,
                c.velocity_max_referrals,
                "referrals by this referrer",
            ),
            fake_email(&referred.email, &referred_email, c, &self.local_parts),
            bot(&referred, c, &self.bots),
        ];
        checks.extend(self.duplicates(&referred).await?);
        let report = self.report(&referred, Some(referral.id.clone()), checks);
        let mut uncounted = false;
        if report.decision == Decision::Block {
            let previous = stores
                .referrals
                .set_referral_status(
                    campaign_id,
                    referral_id,
                    ReferralStatus::Blocked,
                    self.clock.now(),
                )
                .await?;
            uncounted = previous == ReferralStatus::Verified;
            tracing::warn!(
                campaign_id, referral_id, risk = report.risk_score,
                reasons = ?report.flagged().map(|c| c.reason.as_str()).collect::<Vec<_>>(),
                "referral blocked as fraudulent"
            );
        }
        Ok(ReferralCheck {
            report,
            referrer_id: referral.referrer_id,
            uncounted,
        })
    }
}
