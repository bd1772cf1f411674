//! Fuzz targets for what receivers and checkouts parse from strangers:
//! webhook signature headers (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`), webhook secrets, `Retry-After` values and checkout
//! tokens. Nothing panics, and no edit of a valid signature or token makes
//! it verify.
//!
//! A fuzz target (see RELIABILITY.md): `PROPTEST_CASES` sets the cases per
//! property (1,000 by default); `scripts/fuzz.sh` runs it with millions.

#[path = "fuzz_support/mod.rs"]
mod fuzz_support;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use fuzz_support::{config, Rng};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use waitlist_core::waitroom::{CheckoutTokenSigner, TokenError};
use waitlist_core::webhooks::{SignatureError, WebhookSecret, WebhookVerifier};

const NOW: i64 = 1_700_000_000;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("valid")
}

fn secret() -> WebhookSecret {
    WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid")
}

fn signer() -> CheckoutTokenSigner {
    CheckoutTokenSigner::new(b"0123456789abcdef0123456789abcdef".to_vec()).expect("key")
}

/// Pieces signature headers are made of, so that generated headers often
/// look like real ones.
fn arb_signature_header() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        // A real signature, of another message or of this one.
        any::<u64>().prop_map(|n| secret().sign("msg", NOW, n.to_string().as_bytes())),
        Just(secret().sign("msg", NOW, b"{}")),
        // Any version, any base64 of any length.
        ("[a-z0-9]{0,3}", prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(v, tag)| format!("{v},{}", STANDARD.encode(tag))),
        // Garbage around commas.
        "[v1,=+/A-Za-z0-9 \t]{0,60}",
        any::<String>(),
    ];
    prop::collection::vec(entry, 0..6).prop_map(|entries| entries.join(" "))
}

fn arb_timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(NOW.to_string()),
        (-400i64..400).prop_map(|d| (NOW + d).to_string()),
        any::<i64>().prop_map(|t| t.to_string()),
        Just(format!(" {NOW} ")),
        Just(format!("+{NOW}")),
        Just(format!("{NOW}.5")),
        "[-+0-9 .eE]{0,24}",
        any::<String>(),
    ]
}

/// One character-level edit of a string.
#[derive(Debug, Clone)]
enum Edit {
    Set(Index, char),
    Insert(Index, char),
    Remove(Index),
    Truncate(Index),
    Swap(Index, Index),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        3 => select("AZaz09+/=-_.,: v1".chars().collect::<Vec<_>>()),
        1 => any::<char>(),
    ];
    prop_oneof![
        (any::<Index>(), ch.clone()).prop_map(|(i, c)| Edit::Set(i, c)),
        (any::<Index>(), ch).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<Index>().prop_map(Edit::Remove),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
    ]
}

fn edit(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len();
        match e {
            Edit::Set(i, c) if len > 0 => chars[i.index(len)] = *c,
            Edit::Insert(i, c) => chars.insert(i.index(len + 1), *c),
            Edit::Remove(i) if len > 0 => drop(chars.remove(i.index(len))),
            Edit::Truncate(i) => chars.truncate(i.index(len + 1)),
            Edit::Swap(a, b) if len > 0 => chars.swap(a.index(len), b.index(len)),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Arbitrary JSON text for token headers and claims, biased towards the
/// fields the verifier reads.
fn arb_token_json() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("\"HS256\"".to_owned()),
        Just("\"none\"".to_owned()),
        Just("\"hs256\"".to_owned()),
        Just("\"RS256\"".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("1e400".to_owned()),
        Just("-0".to_owned()),
    ];
    let key = select(vec![
        "alg", "typ", "kid", "sub", "sid", "eid", "iat", "exp", "crit",
    ]);
    prop_oneof![
        prop::collection::vec((key, value), 0..8).prop_map(|fields| {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", body.join(","))
        }),
        any::<String>(),
    ]
}

fn valid_token() -> String {
    signer().issue("session-1", "user-1", "concert", now()).0
}

/// Inputs one burst case verifies.
const BURST: usize = 100;

/// One random character edit, biased towards base64, JWT and header syntax.
fn random_edit(chars: &mut Vec<char>, rng: &mut Rng) {
    const ALPHABET: &[char] = &[
        'A', 'Z', 'a', 'z', '0', '9', '+', '/', '=', '-', '_', '.', ',', ' ', 'v', '1', '\0', 'é',
    ];
    let c = if rng.below(4) == 0 {
        char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('\u{fffd}')
    } else {
        ALPHABET[rng.below(ALPHABET.len())]
    };
    rng.edit(chars, c);
}

/// [`BURST`] edits of `original`, one random edit at a time, starting
/// again from `original` every 25.
fn edits<'a>(original: &'a str, rng: &'a mut Rng) -> impl Iterator<Item = String> + 'a {
    let mut chars: Vec<char> = Vec::new();
    (0..BURST).map(move |step| {
        if step % 25 == 0 {
            chars = original.chars().collect();
        }
        random_edit(&mut chars, rng);
        chars.iter().collect()
    })
}

/// The properties: `scripts/fuzz.sh` runs `fuzz::` with millions of cases.
mod fuzz {
    use super::*;

    proptest! {
        #![proptest_config(config(64))]

        /// [`BURST`] inputs per case: a valid `webhook-signature` header
        /// (two signatures, as in a rotation) edited step by step; it
        /// verifies exactly while one signature is intact.
        #[test]
        fn signature_bursts(seed in any::<u64>()) {
            let good = secret().sign("msg", NOW, b"{}");
            let header = format!("{} {good}", WebhookSecret::generate().sign("msg", NOW, b"{}"));
            let verifier = WebhookVerifier::new(secret());
            let mut rng = Rng::new(seed);
            for text in edits(&header, &mut rng) {
                let verdict = verifier.verify_at("msg", "1700000000", &text, b"{}", now());
                let intact = text.split_whitespace().any(|s| s == good);
                prop_assert_eq!(verdict.is_ok(), intact, "{:?}: {:?}", text, verdict);
            }
        }

        /// [`BURST`] inputs per case: a valid checkout token edited step by
        /// step; it verifies exactly while it is unchanged.
        #[test]
        fn token_bursts(seed in any::<u64>()) {
            let good = valid_token();
            let signer = signer();
            let mut rng = Rng::new(seed);
            for text in edits(&good, &mut rng) {
                let verdict = signer.verify_at(&text, now());
                prop_assert_eq!(verdict.is_ok(), text.trim() == good, "{:?}: {:?}", text, verdict);
            }
        }
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// Arbitrary ids, timestamps, signature headers and bodies: an error or
        /// success, never a panic; success only with a signature of this secret.
        #[test]
        fn signature_headers_never_panic(
            id in prop_oneof![Just("msg".to_owned()), any::<String>()],
            ts in arb_timestamp(),
            header in arb_signature_header(),
            body in prop_oneof![Just(b"{}".to_vec()), prop::collection::vec(any::<u8>(), 0..64)],
        ) {
            let verifier = WebhookVerifier::new(secret());
            if verifier.verify_at(&id, &ts, &header, &body, now()).is_ok() {
                let expected = secret().sign(&id, ts.trim().parse().expect("verified"), &body);
                prop_assert!(header.split_whitespace().any(|s| s == expected), "{header}");
            }
        }

        /// No edit of a valid `webhook-signature` verifies unless it leaves the
        /// signature itself in place.
        #[test]
        fn edited_signatures_are_rejected(edits in prop::collection::vec(arb_edit(), 1..6)) {
            let good = secret().sign("msg", NOW, b"{}");
            let header = edit(&good, &edits);
            let verdict = WebhookVerifier::new(secret()).verify_at("msg", &NOW.to_string(), &header, b"{}", now());
            let intact = header.split_whitespace().any(|s| s == good);
            prop_assert_eq!(verdict.is_ok(), intact, "{:?}: {:?}", header, verdict);
            if !intact {
                prop_assert_eq!(verdict, Err(SignatureError::NoMatchingSignature));
            }
        }

        /// Secrets in any form: parsed or refused, never a panic; what parses
        /// round-trips through `whsec_`.
        #[test]
        fn secrets_never_panic(text in prop_oneof![
            any::<String>(),
            "whsec_[A-Za-z0-9+/=]{0,60}",
            prop::collection::vec(any::<u8>(), 0..48).prop_map(|k| format!("whsec_{}", STANDARD.encode(k))),
        ]) {
            if let Ok(s) = WebhookSecret::parse(&text) {
                prop_assert_eq!(WebhookSecret::parse(&s.to_whsec()), Ok(s));
            }
        }

        /// Arbitrary text as a checkout token: refused with a reason, never a panic.
        #[test]
        fn arbitrary_tokens_are_refused(text in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_\\-.=+/ ]{0,120}",
        ]) {
            prop_assert!(signer().verify_at(&text, now()).is_err());
        }

        /// Tokens built from arbitrary header and claims JSON, signed with the
        /// right key or not: only HS256 headers with complete, unexpired claims
        /// pass, and only when signed with the key.
        #[test]
        fn crafted_tokens(header in arb_token_json(), claims in arb_token_json(), sign in any::<bool>(), sig in prop::collection::vec(any::<u8>(), 0..40)) {
            let h = URL_SAFE_NO_PAD.encode(&header);
            let c = URL_SAFE_NO_PAD.encode(&claims);
            let input = format!("{h}.{c}");
            let s = if sign {
                // The signature of the issuer's own key, computed independently.
                use hmac::Mac;
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"0123456789abcdef0123456789abcdef").expect("key");
                mac.update(input.as_bytes());
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            } else {
                URL_SAFE_NO_PAD.encode(&sig)
            };
            let verdict = signer().verify_at(&format!("{input}.{s}"), now());
            if let Ok(c) = &verdict {
                prop_assert!(sign);
                prop_assert!(c.exp > NOW);
                let alg: serde_json::Value = serde_json::from_str(&header).expect("verified header is JSON");
                prop_assert_eq!(alg.get("alg").and_then(|a| a.as_str()), Some("HS256"));
            }
            if !sign {
                prop_assert!(verdict.is_err());
            }
        }

        /// No edit of a valid token verifies unless it leaves the token as it
        /// was (surrounding whitespace is trimmed).
        #[test]
        fn edited_tokens_are_rejected(edits in prop::collection::vec(arb_edit(), 1..6)) {
            let good = valid_token();
            let token = edit(&good, &edits);
            let verdict = signer().verify_at(&token, now());
            prop_assert_eq!(verdict.is_ok(), token.trim() == good, "{}: {:?}", token, verdict);
            if let Err(e) = verdict {
                prop_assert!(matches!(e, TokenError::Malformed(_) | TokenError::BadSignature | TokenError::UnsupportedAlgorithm(_)), "{e:?}");
            }
        }
    }

    #[cfg(feature = "webhooks")]
    proptest! {
        #![proptest_config(config(1000))]

        /// `Retry-After` from an endpoint's answer: seconds or an HTTP date,
        /// anything else ignored, never a panic.
        #[test]
        fn retry_after_never_panics(value in prop_oneof![
            any::<String>(),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            "[A-Za-z]{3}, [0-9]{1,2} [A-Za-z]{3} [0-9]{1,6} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        ]) {
            let _ = waitlist_core::webhooks::parse_retry_after(&value, now());
        }
    }
}
