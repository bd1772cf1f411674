//! Checkout tokens: HS256 JSON Web Tokens that admit one session to
//! checkout until they expire (15 minutes after admission by default).
//!
//! Any JWT library verifies them with the same key; [`CheckoutTokenSigner::verify`]
//! does it here: only `HS256` is accepted (no `none`), the signature is
//! compared in constant time and `exp` must be in the future.
//!
//! ```
//! use std::time::Duration;
//! use waitlist_core::waitroom::CheckoutTokenSigner;
//!
//! let signer = CheckoutTokenSigner::new(b"a key of at least 32 bytes, random!".to_vec()).unwrap();
//! let (token, expires_at) = signer.issue("session-1", "user-1", "concert-2024", chrono::Utc::now());
//! let claims = signer.verify(&token).unwrap();
//! assert_eq!(claims.sid, "session-1");
//! assert_eq!(claims.exp, expires_at.timestamp());
//! ```

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Default checkout window: 15 minutes from admission.
pub const DEFAULT_CHECKOUT_WINDOW: Duration = Duration::from_secs(15 * 60);

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The signing key is empty.
    #[error("the checkout token key is empty")]
    EmptyKey,
    /// Not three base64url parts of JSON.
    #[error("malformed checkout token: {0}")]
    Malformed(String),
    /// The header names another algorithm than HS256.
    #[error("unsupported token algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The signature does not match (forged or altered token).
    #[error("invalid checkout token signature")]
    BadSignature,
    /// The checkout window has closed.
    #[error("checkout token expired")]
    Expired,
}

/// What a checkout token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutClaims {
    /// The user (JWT subject).
    pub sub: String,
    /// The waiting-room session.
    pub sid: String,
    /// The ticketed event.
    pub eid: String,
    /// Issued at (admission), Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Issues and verifies checkout tokens with one HMAC key.
#[derive(Clone)]
pub struct CheckoutTokenSigner {
    key: Vec<u8>,
    window: Duration,
}

impl std::fmt::Debug for CheckoutTokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckoutTokenSigner")
            .field("key", &"***")
            .field("window", &self.window)
            .finish()
    }
}

impl CheckoutTokenSigner {
    /// A signer with `key` (use at least 32 random bytes) and the default
    /// 15-minute window.
    ///
    /// # Errors
    /// [`TokenError::EmptyKey`].
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, TokenError> {
        let key = key.into();
        if key.is_empty() {
            return Err(TokenError::EmptyKey);
        }
        Ok(Self {
            key,
            window: DEFAULT_CHECKOUT_WINDOW,
        })
    }

    /// Sets how long a token is valid after admission.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The checkout window.
    pub fn checkout_window(&self) -> Duration {
        self.window
    }

    fn mac(&self, signing_input: &str) -> HmacSha256 {
        // HMAC accepts keys of any length; the error branch cannot happen.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => HmacSha256::new(&Default::default()),
        };
        mac.update(signing_input.as_bytes());
        mac
    }

    /// A token for `session_id` admitted at `admitted_at`, and its expiry.
    pub fn issue(
        &self,
        session_id: &str,
        user_id: &str,
        event_id: &str,
        admitted_at: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let expires_at = admitted_at
            .checked_add_signed(window)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let claims = CheckoutClaims {
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            eid: event_id.to_owned(),
            iat: admitted_at.timestamp(),
            exp: expires_at.timestamp(),
        };
        // Serialising a struct of strings and integers cannot fail.
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = self.mac(&input).finalize().into_bytes();
        (
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)),
            expires_at,
        )
    }

    /// Verifies `token` now.
    ///
    /// # Errors
    /// A [`TokenError`] saying why the token is refused.
    pub fn verify(&self, token: &str) -> Result<CheckoutClaims, TokenError> {
        self.verify_at(token, Utc::now())
    }

    /// Verifies `token` as if the time were `now`.
    ///
    /// # Errors
    /// A [`TokenError`] saying why the token is refused.
    pub fn verify_at(&self, token: &str, now: DateTime<Utc>) -> Result<CheckoutClaims, TokenError> {
        let malformed = |what: &str| TokenError::Malformed(what.to_owned());
        let mut parts = token.trim().split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected three parts"));
        };
        let header = URL_SAFE_NO_PAD
            .decode(h)
            .map_err(|_| malformed("header is not base64url"))?;
        let header: Header =
            serde_json::from_slice(&header).map_err(|_| malformed("header is not JSON"))?;
        if header.alg != "HS256" {
            return Err(TokenError::UnsupportedAlgorithm(header.alg));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| malformed("signature is not base64url"))?;
        self.mac(&format!("{h}.{p}"))
            .verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| malformed("claims are not base64url"))?;
        let claims: CheckoutClaims =
            serde_json::from_slice(&payload).map_err(|_| malformed("claims are not valid"))?;
        if now.timestamp() >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> CheckoutTokenSigner {
        CheckoutTokenSigner::new(b"0123456789abcdef0123456789abcdef".to_vec()).expect("key")
    }

    #[test]
    fn token_expires_fifteen_minutes_after_admission() {
        let admitted = Utc::now();
        let (token, expires) = signer().issue("s", "u", "e", admitted);
        assert_eq!((expires - admitted).num_seconds(), 15 * 60);
        let just_before = expires - chrono::Duration::seconds(1);
        assert!(signer().verify_at(&token, just_before).is_ok());
        assert_eq!(
            signer().verify_at(&token, expires),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn forged_altered_and_alg_none_tokens_are_refused() {
        let (token, _) = signer().issue("s", "u", "e", Utc::now());
        let other = CheckoutTokenSigner::new(b"another key".to_vec()).expect("key");
        assert_eq!(other.verify(&token), Err(TokenError::BadSignature));

        let parts: Vec<&str> = token.split('.').collect();
        let claims = URL_SAFE_NO_PAD
            .encode(r#"{"sub":"u","sid":"someone-else","eid":"e","iat":0,"exp":99999999999}"#);
        let altered = format!("{}.{claims}.{}", parts[0], parts[2]);
        assert_eq!(signer().verify(&altered), Err(TokenError::BadSignature));

        let none = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert_eq!(
            signer().verify(&none),
            Err(TokenError::UnsupportedAlgorithm("none".into()))
        );
        assert!(matches!(
            signer().verify("not-a-token"),
            Err(TokenError::Malformed(_))
        ));
    }
}
