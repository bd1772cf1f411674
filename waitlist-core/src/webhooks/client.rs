//! One signed HTTP attempt to one endpoint.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::retry::parse_retry_after;
use super::signature::{signature_header, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use super::{SsrfError, UrlGuard, WebhookSecret};

/// The webhook HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the webhook HTTP client: {0}")]
pub struct ClientBuildError(String);

/// How an attempt ended, for the delivery decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx.
    Delivered,
    /// 410 Gone: the endpoint asks never to be called again.
    Gone,
    /// The URL is refused (SSRF guard, invalid URL): retrying cannot help.
    Refused(String),
    /// Any other failure (timeout, connection error, non-2xx): retry.
    Failed(String),
}

/// What one attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptReport {
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// HTTP status, when an answer came.
    pub status_code: Option<u16>,
    /// Time until the answer or the error.
    pub latency: Duration,
    /// The endpoint's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

/// Posts signed webhook deliveries: a timeout, no redirects, no proxy, and
/// the [`UrlGuard`] applied before the request and in DNS resolution.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    guard: UrlGuard,
}

impl WebhookClient {
    /// A client with a per-attempt `timeout`, `user_agent` and `guard`.
    ///
    /// # Errors
    /// [`ClientBuildError`] when the TLS backend cannot be initialised.
    pub fn new(
        timeout: Duration,
        user_agent: &str,
        guard: UrlGuard,
    ) -> Result<Self, ClientBuildError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(guard.resolver())
            .user_agent(user_agent)
            .build()
            .map_err(|e| ClientBuildError(e.to_string()))?;
        Ok(Self { http, guard })
    }

    /// POSTs `body` (JSON) to `url` as message `id`, signed with every secret.
    pub async fn send(
        &self,
        url: &str,
        id: &str,
        body: &[u8],
        secrets: &[WebhookSecret],
    ) -> AttemptReport {
        let started = Instant::now();
        let report = |outcome, status_code, retry_after| AttemptReport {
            outcome,
            status_code,
            latency: started.elapsed(),
            retry_after,
        };
        match self.guard.check_url(url).await {
            Ok(()) => {}
            Err(e @ SsrfError::Unresolved { .. }) => {
                return report(AttemptOutcome::Failed(e.to_string()), None, None)
            }
            Err(e) => return report(AttemptOutcome::Refused(e.to_string()), None, None),
        }
        let now = Utc::now();
        let timestamp = now.timestamp();
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(
                HEADER_SIGNATURE,
                signature_header(secrets, id, timestamp, body),
            )
            .body(body.to_vec());
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now));
                let outcome = if status.is_success() {
                    AttemptOutcome::Delivered
                } else if status == reqwest::StatusCode::GONE {
                    AttemptOutcome::Gone
                } else {
                    AttemptOutcome::Failed(format!("HTTP {status}"))
                };
                report(outcome, Some(status.as_u16()), retry_after)
            }
            Err(e) => {
                let outcome = match refused_by_guard(&e) {
                    Some(reason) => AttemptOutcome::Refused(reason),
                    None if e.is_timeout() => AttemptOutcome::Failed(format!("timed out: {e}")),
                    None => AttemptOutcome::Failed(error_chain(&e)),
                };
                report(outcome, None, None)
            }
        }
    }
}

/// The guard's refusal, when it is somewhere in the error's sources.
fn refused_by_guard(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(ssrf) = err.downcast_ref::<SsrfError>() {
            if matches!(ssrf, SsrfError::Forbidden { .. }) {
                return Some(ssrf.to_string());
            }
        }
        source = err.source();
    }
    None
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}
