//! Email address normalisation and the fake-email signals.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

const SHIPPED: &str = include_str!("../../../data/disposable_domains.txt");

fn shipped() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        SHIPPED
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Whether `domain` (or a parent domain) is on the shipped disposable list.
pub fn is_disposable_domain(domain: &str) -> bool {
    let domain = domain.trim().trim_end_matches('.');
    // Lower-case only when needed: callers mostly pass a normalised domain.
    let domain: Cow<'_, str> = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(domain.to_ascii_lowercase())
    } else {
        Cow::Borrowed(domain)
    };
    let list = shipped();
    let mut rest = &*domain;
    loop {
        if list.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => return false,
        }
    }
}

/// The address reduced to the mailbox it delivers to: lower case, trimmed,
/// `+tag` removed, and for Gmail dots removed and `googlemail.com` folded.
/// Returns the input lower-cased when it has no `@`.
pub fn normalise(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email;
    };
    let tagless = local.split('+').next().unwrap_or(local);
    let gmail = matches!(domain, "gmail.com" | "googlemail.com");
    if !gmail && tagless.len() == local.len() {
        // Nothing to remove: the lower-cased address is the mailbox.
        return email;
    }
    let mut out = String::with_capacity(email.len());
    if gmail {
        out.extend(tagless.chars().filter(|c| *c != '.'));
        out.push_str("@gmail.com");
    } else {
        out.push_str(tagless);
        out.push('@');
        out.push_str(domain);
    }
    out
}

/// Why an address fails the syntax check, if it does.
///
/// A pragmatic check (not full RFC 5322): one `@`, a non-empty local part of
/// at most 64 characters without spaces or consecutive/edge dots, and a
/// domain of at least two labels of letters, digits and hyphens.
pub fn syntax_error(email: &str) -> Option<&'static str> {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return Some("no @");
    };
    if domain.contains('@') {
        return Some("more than one @");
    }
    if local.is_empty() || local.len() > 64 {
        return Some("empty or too long local part");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Some("misplaced dot in local part");
    }
    let forbidden = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '\\' | '"'
            )
    };
    if local.chars().any(forbidden) {
        return Some("forbidden character in local part");
    }
    if !domain.contains('.') {
        return Some("domain without a dot");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    };
    if !domain.split('.').all(label_ok) {
        return Some("invalid domain label");
    }
    if domain
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.len() < 2 || tld.bytes().all(|c| c.is_ascii_digit()))
    {
        return Some("invalid top-level domain");
    }
    None
}

/// The longest run of consecutive ASCII digits in `s`.
pub fn longest_digit_run(s: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in s.chars() {
        if c.is_ascii_digit() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_folds_case_tags_and_gmail_dots() {
        assert_eq!(
            normalise(" Ann.Lee+promo@GoogleMail.com "),
            "annlee@gmail.com"
        );
        assert_eq!(normalise("bob+x@example.com"), "bob@example.com");
        assert_eq!(normalise("b.o.b@example.com"), "b.o.b@example.com");
    }

    #[test]
    fn syntax_check_rejects_malformed_addresses() {
        for bad in [
            "plain",
            "a@b",
            "a@@b.com",
            ".a@b.com",
            "a b@c.com",
            "a@-b.com",
            "a@b.c",
            "a@b.123",
        ] {
            assert!(syntax_error(bad).is_some(), "{bad} should be invalid");
        }
        assert_eq!(syntax_error("ann.lee+x@mail.example.co.uk"), None);
    }

    #[test]
    fn disposable_domains_come_from_the_shipped_list_including_subdomains() {
        assert!(is_disposable_domain("mailinator.com"));
        assert!(is_disposable_domain("Foo.Mailinator.com"));
        assert!(!is_disposable_domain("example.com"));
        assert!(!is_disposable_domain("com"));
    }
}
