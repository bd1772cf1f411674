//! Copies a transport makes of a message it already delivered (retries,
//! dead letters): they are not held to the publish size limit, only to what
//! the broker itself accepts.

use bytes::Bytes;

use crate::{headers, Headers, Message};

/// How a transport measures a message against its broker's limit (body,
/// key and headers as the broker counts them).
pub trait CopySize {
    /// Bytes the broker counts for `message`.
    fn size(&self, message: &Message) -> usize;
}

impl<F: Fn(&Message) -> usize> CopySize for F {
    fn size(&self, message: &Message) -> usize {
        self(message)
    }
}

/// `message` with `extra` headers added, made to fit `limit` bytes as
/// measured by `size`.
///
/// A message that reached a consumer must always be dead-lettered, even
/// when the failure headers push it over the broker's limit: the copy's
/// payload is then cut (at a character boundary when it is text) and
/// [`headers::TRUNCATED_FROM`] records the original payload size. A copy
/// that fits is returned unchanged. When even an empty payload does not
/// fit (headers alone too large), the copy with an empty payload is
/// returned and the broker's refusal is the caller's error.
pub fn fit_copy(message: &Message, extra: &Headers, limit: usize, size: impl CopySize) -> Message {
    let mut copy = message.clone();
    copy.headers
        .extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    if size.size(&copy) <= limit {
        return copy;
    }
    let original = message.payload.len();
    copy.headers
        .insert(headers::TRUNCATED_FROM.to_owned(), original.to_string());
    let text = std::str::from_utf8(&message.payload).ok();
    let mut keep = original;
    loop {
        copy.payload = cut(&message.payload, text, keep);
        let now = size.size(&copy);
        if now <= limit || copy.payload.is_empty() {
            return copy;
        }
        // Shrink in proportion to the excess (at least one byte), so that
        // encodings that grow the body (base64) converge without cutting
        // far more than needed.
        let kept = copy.payload.len();
        let excess = now - limit;
        let by = (excess as u128 * kept as u128 / now as u128) as usize;
        keep = kept.saturating_sub(by.max(1));
    }
}

fn cut(payload: &Bytes, text: Option<&str>, keep: usize) -> Bytes {
    let mut end = keep.min(payload.len());
    if let Some(text) = text {
        while end > 0 && !text.is_char_boundary(end) {
            end -= 1;
        }
    }
    payload.slice(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(m: &Message) -> usize {
        m.payload.len()
            + m.headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }

    #[test]
    fn a_copy_that_fits_is_unchanged() {
        let m = Message::new("t", "hello");
        let mut extra = Headers::new();
        extra.insert("a".into(), "b".into());
        let copy = fit_copy(&m, &extra, 1000, plain);
        assert_eq!(copy.payload, m.payload);
        assert_eq!(copy.headers.get("a").map(String::as_str), Some("b"));
        assert!(!copy.headers.contains_key(headers::TRUNCATED_FROM));
    }

    #[test]
    fn an_oversized_copy_is_cut_to_the_limit_and_says_its_original_size() {
        let m = Message::new("t", "é".repeat(1000));
        let mut extra = Headers::new();
        extra.insert(headers::DEAD_LETTER_REASON.into(), "too big".into());
        let copy = fit_copy(&m, &extra, 700, plain);
        assert!(plain(&copy) <= 700, "{}", plain(&copy));
        assert!(
            plain(&copy) > 600,
            "cut no more than needed: {}",
            plain(&copy)
        );
        assert!(
            std::str::from_utf8(&copy.payload).is_ok(),
            "cut at a character boundary"
        );
        assert_eq!(
            copy.headers
                .get(headers::TRUNCATED_FROM)
                .map(String::as_str),
            Some("2000")
        );
        assert_eq!(copy.id, m.id);
    }

    #[test]
    fn a_growing_encoding_converges() {
        // base64-like: 4 bytes counted for every 3 of payload.
        let b64 = |m: &Message| m.payload.len().div_ceil(3) * 4 + 10;
        let m = Message::new("t", vec![0xffu8; 10_000]);
        let copy = fit_copy(&m, &Headers::new(), 4_000, b64);
        assert!(b64(&copy) <= 4_000);
        assert!(b64(&copy) > 3_900);
    }

    #[test]
    fn headers_too_large_for_the_limit_leave_an_empty_payload() {
        let m = Message::new("t", "abc");
        let mut extra = Headers::new();
        extra.insert("h".into(), "x".repeat(100));
        let copy = fit_copy(&m, &extra, 10, plain);
        assert!(copy.payload.is_empty());
    }
}
