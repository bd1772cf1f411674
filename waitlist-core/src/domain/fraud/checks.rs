//! The checks that need no window: self-referral, fake email and bot.

use super::email::{is_disposable_domain, longest_digit_run, normalise, syntax_error};
use super::{CheckKind, CheckResult, FraudConfig};
use crate::store::User;

fn same(a: &Option<String>, b: &Option<String>) -> Option<String> {
    match (a.as_deref().map(str::trim), b.as_deref().map(str::trim)) {
        (Some(a), Some(b)) if !a.is_empty() && a == b => Some(a.to_owned()),
        _ => None,
    }
}

/// Self-referral: the same user, the same normalised email, or a shared IP
/// or device between referrer and referred (`referred_email` is the referred
/// user's email normalised, computed once for this check and
/// [`fake_email`]).
pub(crate) fn self_referral(
    referrer: &User,
    referred: &User,
    referred_email: &str,
    config: &FraudConfig,
) -> CheckResult {
    let k = CheckKind::SelfReferral;
    let w = config.weights.self_referral;
    if referrer.id == referred.id {
        return CheckResult::flag(k, w, "referrer and referred are the same user");
    }
    if normalise(&referrer.email) == referred_email {
        return CheckResult::flag(k, w, "referrer and referred share a normalised email");
    }
    if let Some(ip) = same(&referrer.signup_ip, &referred.signup_ip) {
        return CheckResult::flag(k, w, format!("referrer and referred share IP {ip}"));
    }
    if same(&referrer.device_fingerprint, &referred.device_fingerprint).is_some() {
        return CheckResult::flag(k, w, "referrer and referred share a device fingerprint");
    }
    CheckResult::pass(k, "distinct users, emails, IPs and devices")
}

/// Fake email: syntax, disposable domain, suspicious patterns
/// (`normalised` is `email` normalised).
pub(crate) fn fake_email(email: &str, normalised: &str, config: &FraudConfig) -> CheckResult {
    let k = CheckKind::FakeEmail;
    let w = config.weights.fake_email;
    if let Some(why) = syntax_error(email) {
        return CheckResult::flag(k, w, format!("invalid address: {why}"));
    }
    let (local, domain) = normalised.rsplit_once('@').unwrap_or((normalised, ""));
    let extra = config
        .extra_disposable_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain));
    if extra || is_disposable_domain(domain) {
        return CheckResult::flag(k, w, format!("disposable domain {domain}"));
    }
    if let Some(p) = config
        .suspicious_local_parts
        .iter()
        .find(|p| !p.is_empty() && local.contains(p.as_str()))
    {
        return CheckResult::flag(
            k,
            w * 0.5,
            format!("suspicious local part (contains {p:?})"),
        );
    }
    let run = longest_digit_run(local);
    if config.suspicious_digit_run > 0 && run >= config.suspicious_digit_run {
        return CheckResult::flag(
            k,
            w * 0.5,
            format!("suspicious local part ({run} digits in a row)"),
        );
    }
    CheckResult::pass(k, "valid, non-disposable address")
}

/// Bot: honeypot, user agent, timing.
pub(crate) fn bot(user: &User, config: &FraudConfig) -> CheckResult {
    let k = CheckKind::Bot;
    let w = config.weights.bot;
    if user
        .honeypot
        .as_deref()
        .is_some_and(|h| !h.trim().is_empty())
    {
        return CheckResult::flag(k, w, "honeypot field filled in");
    }
    match user.user_agent.as_deref().map(str::trim) {
        None | Some("") => return CheckResult::flag(k, w * 0.7, "no user agent"),
        Some(ua) => {
            let ua = ua.to_ascii_lowercase();
            if let Some(m) = config
                .bot_user_agents
                .iter()
                .find(|m| ua.contains(m.as_str()))
            {
                return CheckResult::flag(k, w, format!("bot user agent (matches {m:?})"));
            }
        }
    }
    if let Some(verified_at) = user.verified_at {
        let took = verified_at - user.created_at;
        let min = chrono::Duration::from_std(config.min_verification_time).unwrap_or_default();
        if took >= chrono::Duration::zero() && took < min {
            return CheckResult::flag(
                k,
                w * 0.6,
                format!("email verified {} ms after signup", took.num_milliseconds()),
            );
        }
    }
    CheckResult::pass(k, "human user agent and timing")
}

/// A windowed count against its limit; the reason reads
/// "{count} {what} in window, limit {limit}".
pub(crate) fn over_limit(
    check: CheckKind,
    weight: f64,
    count: u64,
    limit: u64,
    what: &str,
) -> CheckResult {
    // Built by hand: `format!` costs several times more than the checks.
    let mut reason = String::with_capacity(what.len() + 40);
    push_u64(&mut reason, count);
    reason.push(' ');
    reason.push_str(what);
    reason.push_str(" in window, limit ");
    push_u64(&mut reason, limit);
    if count > limit {
        CheckResult::flag(check, weight, reason)
    } else {
        CheckResult::pass(check, reason)
    }
}

/// Appends `n` in decimal.
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in &digits[start..] {
        out.push(char::from(*d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_limit_reasons_read_as_formatted() {
        for (count, limit) in [(0, 0), (3, 10), (11, 10), (u64::MAX, 1_000_000_007)] {
            let r = over_limit(CheckKind::Velocity, 0.6, count, limit, "referrals");
            assert_eq!(
                r.reason,
                format!("{count} referrals in window, limit {limit}")
            );
            assert_eq!(r.flagged, count > limit);
        }
    }
}
