//! Turning an outcome into a settle call, with failure headers.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use crate::transport::SettleError;
use crate::{headers, Delivery, Headers, Message};

/// How a delivery is to be settled.
#[derive(Debug, Clone)]
pub(crate) enum Settlement {
    Ack,
    Nack { delay: Duration, error: String },
    DeadLetter { reason: String },
}

/// Pause before a delivery whose settle failed is let go (and so
/// redelivered): doubles with each failure in a row, from 100 ms up to 10 s,
/// so a settle that keeps failing never turns into a redelivery loop.
pub(crate) fn settle_failure_pause(failures_in_a_row: u32) -> Duration {
    let base = Duration::from_millis(100);
    let exp = failures_in_a_row.saturating_sub(1).min(16);
    base.saturating_mul(1u32 << exp)
        .min(Duration::from_secs(10))
}

/// Failure headers for a delivery that failed with `error`.
pub(crate) fn failure_headers(message: &Message, error: &str) -> Headers {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let first = message
        .headers
        .get(headers::FIRST_FAILURE_AT)
        .cloned()
        .unwrap_or_else(|| now.clone());
    let mut h = Headers::new();
    h.insert(headers::ERROR.to_owned(), truncate(error, 1024));
    h.insert(headers::FIRST_FAILURE_AT.to_owned(), first);
    h.insert(headers::LAST_FAILURE_AT.to_owned(), now);
    h
}

/// Dead-letter headers: failure headers plus reason, attempts and origin.
pub(crate) fn dead_letter_headers(
    message: &Message,
    attempt: u32,
    reason: &str,
    group: &str,
) -> Headers {
    let mut h = failure_headers(message, reason);
    h.insert(
        headers::DEAD_LETTER_REASON.to_owned(),
        truncate(reason, 1024),
    );
    h.insert(
        headers::DEAD_LETTER_ATTEMPTS.to_owned(),
        attempt.to_string(),
    );
    h.insert(headers::ORIGIN_TOPIC.to_owned(), message.topic.clone());
    h.insert(headers::ORIGIN_GROUP.to_owned(), group.to_owned());
    h
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Settles `delivery`, retrying a failed
/// settle call a few times when its error is transient.
///
/// # Errors
/// The last settle error, with the delivery handed back unsettled.
pub(crate) async fn settle(
    mut delivery: Delivery,
    settlement: &Settlement,
    group: &str,
) -> Result<(), SettleError> {
    let message = std::sync::Arc::clone(&delivery.message);
    let mut pause = Duration::from_millis(50);
    let mut tries = 0;
    loop {
        let result = match settlement {
            Settlement::Ack => delivery.ack().await,
            Settlement::Nack { delay, error } => {
                let h = failure_headers(&message, error);
                delivery.nack(Some(*delay), h).await
            }
            Settlement::DeadLetter { reason } => {
                let h = dead_letter_headers(&message, delivery.attempt, reason, group);
                delivery.dead_letter(h).await
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(SettleError {
                error,
                delivery: back,
            }) => {
                tries += 1;
                if tries >= 4 || !error.is_transient() {
                    return Err(SettleError {
                        error,
                        delivery: back,
                    });
                }
                tracing::warn!(%error, tries, "settling failed; retrying");
                delivery = back;
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
}
