//! Checkout tokens an attacker can make or change are refused: forged,
//! tampered, `alg: none` and other algorithms, signed with the wrong key,
//! expired, and malformed in every part.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use waitlist_core::waitroom::{CheckoutTokenSigner, TokenError};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn signer() -> CheckoutTokenSigner {
    CheckoutTokenSigner::new(KEY.to_vec()).expect("key")
}

fn admitted() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).expect("valid")
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// An HS256 signature of `input` under `key`, computed here (not by the SDK).
fn hs256(key: &[u8], input: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(input.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn claims(sid: &str, exp: i64) -> String {
    format!(r#"{{"sub":"u","sid":"{sid}","eid":"e","iat":1700000000,"exp":{exp}}}"#)
}

fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.').map(str::to_owned);
    match (it.next(), it.next(), it.next()) {
        (Some(h), Some(p), Some(s)) => (h, p, s),
        _ => panic!("three parts: {token}"),
    }
}

#[test]
fn a_genuine_token_verifies_and_tokens_made_independently_agree() {
    let (token, expires) = signer().issue("s-1", "u-1", "e-1", admitted());
    let now = admitted() + Duration::minutes(5);
    let c = signer().verify_at(&token, now).expect("valid");
    assert_eq!(
        (c.sid.as_str(), c.sub.as_str(), c.eid.as_str()),
        ("s-1", "u-1", "e-1")
    );
    assert_eq!(c.exp, expires.timestamp());
    // Any HS256 implementation with the key makes tokens the SDK accepts.
    let (h, p, s) = parts(&token);
    assert_eq!(hs256(KEY, &format!("{h}.{p}")), s);
    let own = format!(
        "{}.{}",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(&claims("s-2", now.timestamp() + 60))
    );
    let own = format!("{own}.{}", hs256(KEY, &own));
    assert_eq!(signer().verify_at(&own, now).expect("valid").sid, "s-2");
}

#[test]
fn forged_tokens_are_refused() {
    let now = admitted();
    let input = format!(
        "{}.{}",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(&claims("s", now.timestamp() + 600))
    );
    for sig in [
        URL_SAFE_NO_PAD.encode([0u8; 32]),
        URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2)),
        URL_SAFE_NO_PAD.encode([7u8; 16]),
        String::new(),
    ] {
        assert_eq!(
            signer().verify_at(&format!("{input}.{sig}"), now),
            Err(TokenError::BadSignature),
            "{sig}"
        );
    }
}

#[test]
fn tampered_tokens_are_refused() {
    let (token, _) = signer().issue("s-1", "u-1", "e-1", admitted());
    let (h, p, s) = parts(&token);
    let now = admitted();
    for (what, changed) in [
        (
            "another session",
            format!("{h}.{}.{s}", b64(&claims("s-2", now.timestamp() + 900))),
        ),
        (
            "a later expiry",
            format!("{h}.{}.{s}", b64(&claims("s-1", now.timestamp() + 86_400))),
        ),
        (
            "another header",
            format!(
                "{}.{p}.{s}",
                b64(r#"{"alg":"HS256","typ":"JWT","kid":"x"}"#)
            ),
        ),
        ("a flipped signature bit", {
            let mut sig = URL_SAFE_NO_PAD.decode(&s).expect("b64");
            sig[0] ^= 1;
            format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig))
        }),
        (
            "a truncated signature",
            format!("{h}.{p}.{}", &s[..s.len() - 2]),
        ),
        ("the signature twice", format!("{h}.{p}.{s}{s}")),
    ] {
        let verdict = signer().verify_at(&changed, now);
        assert!(
            matches!(
                verdict,
                Err(TokenError::BadSignature | TokenError::Malformed(_))
            ),
            "{what}: {verdict:?}"
        );
    }
    // Other encodings of the same bytes are not the token either.
    let padded_sig = URL_SAFE.encode(URL_SAFE_NO_PAD.decode(&s).expect("b64"));
    let standard_sig = STANDARD.encode(URL_SAFE_NO_PAD.decode(&s).expect("b64"));
    for changed in [
        format!("{h}.{p}.{padded_sig}"),
        format!("{h}.{p}.{standard_sig}"),
    ] {
        if changed != token {
            assert!(signer().verify_at(&changed, now).is_err(), "{changed}");
        }
    }
}

#[test]
fn alg_none_and_other_algorithms_are_refused() {
    let now = admitted();
    let body = b64(&claims("s", now.timestamp() + 600));
    let (token, _) = signer().issue("s", "u", "e", now);
    let (_, _, real_sig) = parts(&token);
    for (header, expected_alg) in [
        (r#"{"alg":"none"}"#, "none"),
        (r#"{"alg":"None","typ":"JWT"}"#, "None"),
        (r#"{"alg":"NONE"}"#, "NONE"),
        (r#"{"alg":"hs256"}"#, "hs256"),
        (r#"{"alg":"HS512"}"#, "HS512"),
        (r#"{"alg":"RS256"}"#, "RS256"),
        (r#"{"alg":""}"#, ""),
    ] {
        let h = b64(header);
        // Unsigned, signed with the key under the other name, or carrying a
        // genuine signature of another token: all refused by name.
        for sig in [
            String::new(),
            hs256(KEY, &format!("{h}.{body}")),
            real_sig.clone(),
        ] {
            assert_eq!(
                signer().verify_at(&format!("{h}.{body}.{sig}"), now),
                Err(TokenError::UnsupportedAlgorithm(expected_alg.to_owned())),
                "{header}"
            );
        }
    }
    // Headers without an algorithm, or not JSON objects.
    for header in [
        r#"{}"#,
        r#"{"typ":"JWT"}"#,
        r#"{"alg":null}"#,
        r#"{"alg":256}"#,
        "[]",
        "not json",
    ] {
        let h = b64(header);
        let token = format!("{h}.{body}.{}", hs256(KEY, &format!("{h}.{body}")));
        assert!(
            matches!(
                signer().verify_at(&token, now),
                Err(TokenError::Malformed(_))
            ),
            "{header}"
        );
    }
}

#[test]
fn tokens_signed_with_another_key_are_refused() {
    let now = admitted();
    let (token, _) = signer().issue("s", "u", "e", now);
    for key in [
        &b"another key of thirty-two bytes!"[..],
        b"0123456789abcdef0123456789abcdeF",
        b"0123456789abcdef",
        b"x",
    ] {
        let other = CheckoutTokenSigner::new(key.to_vec()).expect("key");
        assert_eq!(other.verify_at(&token, now), Err(TokenError::BadSignature));
        let (theirs, _) = other.issue("s", "u", "e", now);
        assert_eq!(
            signer().verify_at(&theirs, now),
            Err(TokenError::BadSignature)
        );
    }
    assert_eq!(
        CheckoutTokenSigner::new(Vec::new()).err(),
        Some(TokenError::EmptyKey)
    );
}

#[test]
fn expired_tokens_are_refused() {
    let (token, expires) = signer().issue("s", "u", "e", admitted());
    assert!(signer()
        .verify_at(&token, expires - Duration::seconds(1))
        .is_ok());
    for at in [
        expires,
        expires + Duration::seconds(1),
        expires + Duration::days(365),
    ] {
        assert_eq!(
            signer().verify_at(&token, at),
            Err(TokenError::Expired),
            "{at}"
        );
    }
    // A correctly signed token whose claims say it already expired, or
    // whose expiry is not a number.
    let now = admitted();
    let h = b64(r#"{"alg":"HS256","typ":"JWT"}"#);
    for (claims, expired) in [
        (claims("s", now.timestamp()), true),
        (claims("s", i64::MIN), true),
        (
            r#"{"sub":"u","sid":"s","eid":"e","iat":0,"exp":"tomorrow"}"#.to_owned(),
            false,
        ),
        (
            r#"{"sub":"u","sid":"s","eid":"e","iat":0}"#.to_owned(),
            false,
        ),
        (
            r#"{"sub":"u","sid":"s","eid":"e","iat":0,"exp":1e30}"#.to_owned(),
            false,
        ),
    ] {
        let input = format!("{h}.{}", b64(&claims));
        let token = format!("{input}.{}", hs256(KEY, &input));
        let verdict = signer().verify_at(&token, now);
        if expired {
            assert_eq!(verdict, Err(TokenError::Expired), "{claims}");
        } else {
            assert!(
                matches!(verdict, Err(TokenError::Malformed(_))),
                "{claims}: {verdict:?}"
            );
        }
    }
}

#[test]
fn malformed_tokens_are_refused() {
    let (token, _) = signer().issue("s", "u", "e", admitted());
    let (h, p, s) = parts(&token);
    for bad in [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}!.{p}.{s}"),
        format!("{h}.{p}.{s}!"),
        format!("{h}.{p}%.{s}"),
        format!("{h} .{p}.{s}"),
        "eyJhbGciOiJIUzI1NiJ9".into(),
        "a".repeat(100_000),
    ] {
        assert!(
            matches!(
                signer().verify_at(&bad, admitted()),
                Err(TokenError::Malformed(_) | TokenError::BadSignature)
            ),
            "{bad:.80}"
        );
    }
}
