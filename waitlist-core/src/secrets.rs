//! Keeping credentials out of logs and `Debug` output.
//!
//! Every configuration type of the SDK that holds a secret (webhook secrets,
//! checkout-token keys, SMTP passwords, broker and database URLs with
//! credentials, Kafka SASL/TLS properties) prints it redacted; connection
//! errors and log lines name URLs through [`redact_url`].

/// `url` with the password of its user information replaced by `***`
/// (`amqp://user:***@host/vhost`), and the values of query parameters that
/// carry one (`password`, `pass`, `sslpassword`, anything naming a secret or
/// a token: `redis+unix:///tmp/r.sock?pass=***`, `postgres://h/db?password=***`).
/// A URL without a password comes back unchanged. An `@` in the path or
/// query is not taken for the end of user information; a password holding
/// an unescaped `@` is still hidden (the last `@` of the authority ends it).
///
/// ```
/// use waitlist_core::secrets::redact_url;
///
/// assert_eq!(redact_url("redis://:hunter2@cache:6379/0"), "redis://:***@cache:6379/0");
/// assert_eq!(redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
/// assert_eq!(redact_url("postgres://app@db/test?x=a@b"), "postgres://app@db/test?x=a@b");
/// assert_eq!(redact_url("postgres://db/test?user=app&password=pw"), "postgres://db/test?user=app&password=***");
/// ```
pub fn redact_url(url: &str) -> String {
    let (base, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (base, query) = match base.find('?') {
        Some(i) => (&base[..i], Some(&base[i + 1..])),
        None => (base, None),
    };
    let mut shown = redact_userinfo(base);
    if let Some(query) = query {
        shown.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if is_secret_name(name) => format!("{name}=***"),
                _ => param.to_owned(),
            })
            .collect();
        shown.push_str(&params.join("&"));
    }
    shown.push_str(fragment);
    shown
}

/// Whether a parameter called `name` carries a secret.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key"]
        .iter()
        .any(|part| name.contains(part))
}

/// `url` (no query) with the password of its user information hidden.
fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    match authority[..at].split_once(':') {
        Some((user, _password)) => format!(
            "{}{user}:***{}",
            &url[..authority_start],
            &url[authority_start + at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        for (url, shown) in [
            ("amqp://u:p4ss@h:1/v", "amqp://u:***@h:1/v"),
            ("amqps://u:p@ss@h/v", "amqps://u:***@h/v"),
            ("redis://:s3cret@h", "redis://:***@h"),
            (
                "postgres://u:pw@h/db?sslmode=require",
                "postgres://u:***@h/db?sslmode=require",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("amqp://h/v@x", "amqp://h/v@x"),
            ("amqp://u:pw@h?x=y@z", "amqp://u:***@h?x=y@z"),
            ("not a url", "not a url"),
            ("", ""),
            ("a://@", "a://@"),
            ("a://:@", "a://:***@"),
            (
                "redis+unix:///tmp/r.sock?db=1&pass=pw",
                "redis+unix:///tmp/r.sock?db=1&pass=***",
            ),
            (
                "postgres://h/db?password=pw&sslmode=disable",
                "postgres://h/db?password=***&sslmode=disable",
            ),
            (
                "postgres://h/db?sslpassword=pw",
                "postgres://h/db?sslpassword=***",
            ),
            ("x://u:pw@h/p#frag", "x://u:***@h/p#frag"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }
}
