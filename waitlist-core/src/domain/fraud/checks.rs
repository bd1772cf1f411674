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
/// (`normalised` is `email` normalised, `local_parts` the config's
/// suspicious local parts).
pub(crate) fn fake_email(
    email: &str,
    normalised: &str,
    config: &FraudConfig,
    local_parts: &Fragments,
) -> CheckResult {
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
    if let Some(p) = local_parts.first_in(local) {
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

/// Bot: honeypot, user agent, timing (`bots` is the config's bot user
/// agents).
pub(crate) fn bot(user: &User, config: &FraudConfig, bots: &Fragments) -> CheckResult {
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
            if let Some(m) = bots.first_in(&ua) {
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

/// A list of fragments, to find the first (in list order) that a text
/// contains in one pass over the text rather than one search per fragment.
#[derive(Debug, Clone)]
pub(crate) struct Fragments {
    fragments: Vec<String>,
    /// The first empty fragment (contained in every text), if any is kept.
    empty: Option<usize>,
    /// For each byte, 1 + its slot in `starting`, or 0 when no fragment
    /// starts with it.
    slot: [u8; 256],
    /// The indexes of the fragments starting with each byte, in list order.
    starting: Vec<Vec<usize>>,
}

impl Fragments {
    /// `fragments`; empty ones are kept (they match every text) when
    /// `keep_empty`, ignored otherwise.
    pub(crate) fn new(fragments: &[String], keep_empty: bool) -> Self {
        let mut slot = [0u8; 256];
        let mut starting: Vec<Vec<usize>> = Vec::new();
        let mut empty = None;
        for (i, f) in fragments.iter().enumerate() {
            let Some(&b) = f.as_bytes().first() else {
                if keep_empty && empty.is_none() {
                    empty = Some(i);
                }
                continue;
            };
            if slot[usize::from(b)] == 0 {
                starting.push(Vec::new());
                // At most 256 distinct first bytes, so the slot fits.
                slot[usize::from(b)] = u8::try_from(starting.len()).unwrap_or(u8::MAX);
            }
            if let Some(list) = starting.get_mut(usize::from(slot[usize::from(b)]) - 1) {
                list.push(i);
            }
        }
        Self {
            fragments: fragments.to_vec(),
            empty,
            slot,
            starting,
        }
    }

    /// The first fragment in list order that `text` contains, if any (as
    /// `fragments.iter().find(|f| text.contains(f))`).
    pub(crate) fn first_in(&self, text: &str) -> Option<&str> {
        let bytes = text.as_bytes();
        let mut best = self.empty.unwrap_or(usize::MAX);
        for (at, &b) in bytes.iter().enumerate() {
            let s = self.slot[usize::from(b)];
            if s == 0 {
                continue;
            }
            for &i in self.starting.get(usize::from(s) - 1).into_iter().flatten() {
                if i >= best {
                    break;
                }
                if bytes[at..].starts_with(self.fragments[i].as_bytes()) {
                    best = i;
                    break;
                }
            }
        }
        self.fragments.get(best).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_find_the_first_contained_in_list_order() {
        let list: Vec<String> = ["bot", "crawler", "", "b", "ot/", "é"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for keep_empty in [false, true] {
            let f = Fragments::new(&list, keep_empty);
            for text in [
                "",
                "xbot/1",
                "a crawler bot",
                "b",
                "zot/",
                "ot/b",
                "café",
                "nothing",
            ] {
                let expected = list
                    .iter()
                    .find(|p| (keep_empty || !p.is_empty()) && text.contains(p.as_str()))
                    .map(String::as_str);
                assert_eq!(
                    f.first_in(text),
                    expected,
                    "{text:?} keep_empty {keep_empty}"
                );
            }
        }
    }

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
