//! The recording provider: it keeps what it accepted and answers the
//! failures queued for its next calls. One type serves every provider trait
//! (`Recorder<EmailMessage>` is an [`EmailProvider`](super::EmailProvider),
//! and so on), for tests and examples.

use std::sync::Mutex;

use super::ProviderError;
use crate::sync::lock;

/// Records accepted items instead of sending them; answers queued failures
/// first. Implements the provider trait of the item it records.
#[derive(Debug)]
pub struct Recorder<T> {
    accepted: Mutex<Vec<T>>,
    /// Queued failures, the next one last.
    failures: Mutex<Vec<ProviderError>>,
}

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Self {
            accepted: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
        }
    }
}

impl<T: Clone> Recorder<T> {
    /// A recorder that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next calls fail with `errors`, in order, after any failures
    /// queued before.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ProviderError>) {
        let mut queued = lock(&self.failures);
        let mut errors: Vec<ProviderError> = errors.into_iter().collect();
        errors.reverse();
        errors.append(&mut queued);
        *queued = errors;
    }

    /// Every item accepted so far.
    pub fn accepted(&self) -> Vec<T> {
        lock(&self.accepted).clone()
    }

    /// Every item accepted so far (the name the tests of senders read best).
    pub fn sent(&self) -> Vec<T> {
        self.accepted()
    }

    /// Accepts `item` unless a failure is queued; returns how many items
    /// were accepted so far.
    ///
    /// # Errors
    /// The next queued failure.
    pub fn record(&self, item: &T) -> Result<usize, ProviderError> {
        if let Some(err) = lock(&self.failures).pop() {
            return Err(err);
        }
        let mut accepted = lock(&self.accepted);
        accepted.push(item.clone());
        Ok(accepted.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_failures_come_first_in_order_then_items_are_recorded() {
        let r = Recorder::<u32>::default();
        r.fail_next([ProviderError::Transient("a".into())]);
        r.fail_next([
            ProviderError::Permanent("b".into()),
            ProviderError::Transient("c".into()),
        ]);
        assert_eq!(r.record(&1), Err(ProviderError::Transient("a".into())));
        assert_eq!(r.record(&1), Err(ProviderError::Permanent("b".into())));
        assert_eq!(r.record(&1), Err(ProviderError::Transient("c".into())));
        assert_eq!(r.record(&7), Ok(1));
        assert_eq!(r.accepted(), vec![7]);
    }
}
