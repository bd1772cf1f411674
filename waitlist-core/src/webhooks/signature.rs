//! Standard Webhooks signatures: signing for senders, verification for
//! receivers.
//!
//! A delivery carries three headers:
//!
//! - `webhook-id`: the message id, the same on every retry (receivers
//!   deduplicate on it);
//! - `webhook-timestamp`: the attempt time in Unix seconds;
//! - `webhook-signature`: one or more space-separated `v1,<base64>`
//!   signatures, each the HMAC-SHA256 of `<id>.<timestamp>.<body>` under one
//!   secret. During a secret rotation the sender signs with the old and the
//!   new secret, so receivers holding either one accept the delivery.
//!
//! Secrets are written `whsec_<base64 of the key bytes>`.
//!
//! ```
//! use waitlist_core::webhooks::{WebhookSecret, WebhookVerifier};
//!
//! let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
//! let body = br#"{"type":"user.created"}"#;
//! let now = chrono::Utc::now().timestamp();
//! let signature = secret.sign("msg_1", now, body);
//!
//! let verifier = WebhookVerifier::new(secret);
//! verifier.verify("msg_1", &now.to_string(), &signature, body).unwrap();
//! assert!(verifier.verify("msg_2", &now.to_string(), &signature, body).is_err());
//! ```

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Header with the message id.
pub const HEADER_ID: &str = "webhook-id";
/// Header with the attempt time in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header with the space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// Default tolerance between a delivery's timestamp and the receiver's clock.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

const SECRET_PREFIX: &str = "whsec_";
/// Base64 of secrets: padded or not.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const VERSION: &str = "v1";

/// Why a secret could not be read or a signature not verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The secret is not `whsec_<base64>` (or plain base64) of at least one byte.
    #[error("invalid webhook secret: {0}")]
    InvalidSecret(String),
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not an integer number of seconds.
    #[error("invalid webhook-timestamp {0:?}")]
    InvalidTimestamp(String),
    /// The timestamp is older than the tolerance allows (a replay, or a
    /// clock far behind).
    #[error("webhook-timestamp too old")]
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance allows.
    #[error("webhook-timestamp too far in the future")]
    TimestampTooNew,
    /// No `v1` signature matches any of the secrets.
    #[error("no matching signature")]
    NoMatchingSignature,
}

/// A webhook signing secret (the key bytes; printed redacted).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_***)")
    }
}

impl WebhookSecret {
    /// Reads `whsec_<base64>`; a value without the prefix is read as base64.
    /// The `=` padding may be left out, as other Standard Webhooks
    /// implementations accept.
    ///
    /// # Errors
    /// [`SignatureError::InvalidSecret`] when it is not base64 or is empty.
    pub fn parse(secret: &str) -> Result<Self, SignatureError> {
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        let key = SECRET_BASE64
            .decode(encoded.trim())
            .map_err(|e| SignatureError::InvalidSecret(e.to_string()))?;
        Self::from_bytes(key)
    }

    /// A secret from raw key bytes.
    ///
    /// # Errors
    /// [`SignatureError::InvalidSecret`] when `key` is empty.
    pub fn from_bytes(key: impl Into<Vec<u8>>) -> Result<Self, SignatureError> {
        let key = key.into();
        if key.is_empty() {
            return Err(SignatureError::InvalidSecret("empty key".into()));
        }
        Ok(Self { key })
    }

    /// A fresh random 32-byte secret from the operating system's random
    /// source (through UUID v4, which draws on it; 244 random bits).
    pub fn generate() -> Self {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self { key }
    }

    /// The secret as `whsec_<base64>`, to hand to the receiver.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; the error branch cannot happen.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => HmacSha256::new(&Default::default()),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `v1,<base64>` signature of `body` sent as message `id` at
    /// `timestamp` (Unix seconds).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self
            .mac(id, &timestamp.to_string(), body)
            .finalize()
            .into_bytes();
        format!("{VERSION},{}", STANDARD.encode(tag))
    }

    /// Whether `signature` (base64 of the tag) is this secret's signature,
    /// compared in constant time.
    fn matches(&self, id: &str, timestamp: &str, body: &[u8], signature: &[u8]) -> bool {
        self.mac(id, timestamp, body)
            .verify_slice(signature)
            .is_ok()
    }
}

/// The `webhook-signature` header value: one signature per secret,
/// space-separated (several during a secret rotation).
pub fn signature_header(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Verifies deliveries for a receiver: signature under any of its secrets
/// (constant-time comparison) and a timestamp within the tolerance.
#[derive(Debug, Clone)]
pub struct WebhookVerifier {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
}

impl WebhookVerifier {
    /// A verifier with one secret and the default tolerance (5 minutes).
    pub fn new(secret: WebhookSecret) -> Self {
        Self {
            secrets: vec![secret],
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Also accepts signatures made with `secret` (during a rotation).
    pub fn with_secret(mut self, secret: WebhookSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// How far the timestamp may be from the receiver's clock, either way.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies a delivery against the current time.
    ///
    /// # Errors
    /// A [`SignatureError`] saying what does not match.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        self.verify_at(id, timestamp, signatures, body, Utc::now())
    }

    /// Verifies a delivery as if the time were `now`.
    ///
    /// # Errors
    /// A [`SignatureError`] saying what does not match.
    pub fn verify_at(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::InvalidTimestamp(timestamp.to_owned()))?;
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        let now = now.timestamp();
        if ts < now.saturating_sub(tolerance) {
            return Err(SignatureError::TimestampTooOld);
        }
        if ts > now.saturating_add(tolerance) {
            return Err(SignatureError::TimestampTooNew);
        }
        let timestamp = timestamp.trim();
        for candidate in signatures.split_whitespace() {
            let Some((VERSION, encoded)) = candidate.split_once(',') else {
                continue;
            };
            let Ok(tag) = STANDARD.decode(encoded) else {
                continue;
            };
            if self
                .secrets
                .iter()
                .any(|s| s.matches(id, timestamp, body, &tag))
            {
                return Ok(());
            }
        }
        Err(SignatureError::NoMatchingSignature)
    }

    /// Verifies a delivery from its HTTP headers (as `http::HeaderMap`,
    /// which axum and reqwest both use).
    ///
    /// # Errors
    /// [`SignatureError::MissingHeader`] or what [`verify`](Self::verify) reports.
    #[cfg(feature = "webhooks")]
    pub fn verify_headers(
        &self,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(SignatureError::MissingHeader(name))
        };
        self.verify(
            get(HEADER_ID)?,
            get(HEADER_TIMESTAMP)?,
            get(HEADER_SIGNATURE)?,
            body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> WebhookSecret {
        WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid")
    }

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // From the Standard Webhooks reference implementations.
        let body = br#"{"test": 2432232314}"#;
        let sig = secret().sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotated_secrets_each_verify() {
        let old = secret();
        let new = WebhookSecret::generate();
        let header = signature_header(&[old.clone(), new.clone()], "m", 100, b"{}");
        let now = DateTime::from_timestamp(100, 0).expect("valid");
        for s in [old, new] {
            let v = WebhookVerifier::new(s);
            assert_eq!(v.verify_at("m", "100", &header, b"{}", now), Ok(()));
        }
        let stranger = WebhookVerifier::new(WebhookSecret::generate());
        assert_eq!(
            stranger.verify_at("m", "100", &header, b"{}", now),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn tampered_body_and_stale_timestamp_are_rejected() {
        let s = secret();
        let sig = s.sign("m", 1_000, b"{}");
        let v = WebhookVerifier::new(s).tolerance(Duration::from_secs(60));
        let at = |t| DateTime::from_timestamp(t, 0).expect("valid");
        assert_eq!(
            v.verify_at("m", "1000", &sig, b"{ }", at(1_000)),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            v.verify_at("m", "1000", &sig, b"{}", at(1_061)),
            Err(SignatureError::TimestampTooOld)
        );
        assert_eq!(
            v.verify_at("m", "1000", &sig, b"{}", at(939)),
            Err(SignatureError::TimestampTooNew)
        );
        assert!(matches!(
            v.verify_at("m", "soon", &sig, b"{}", at(1_000)),
            Err(SignatureError::InvalidTimestamp(_))
        ));
    }

    #[test]
    fn secrets_round_trip_and_reject_garbage() {
        let s = WebhookSecret::generate();
        assert_eq!(WebhookSecret::parse(&s.to_whsec()), Ok(s.clone()));
        let unpadded = s.to_whsec().trim_end_matches('=').to_owned();
        assert_ne!(unpadded, s.to_whsec(), "32 bytes of base64 end in padding");
        assert_eq!(WebhookSecret::parse(&unpadded), Ok(s));
        assert!(WebhookSecret::parse("whsec_%%%").is_err());
        assert!(WebhookSecret::parse("whsec_").is_err());
        assert!(!format!("{:?}", secret()).contains("MfKQ"));
    }
}
